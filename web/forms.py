"""A posted form as the fields of a case action: lists from repeated fields or text lines,
booleans from checkboxes, empty fields left to their defaults. The message's own validation
then decides (gridloop.service reports what is wrong)."""

import types
import typing
from typing import Any

from starlette.datastructures import FormData

from domain.messages import Command, DepartmentDeadline, RecordConsultationDecision

TRUE = ("true", "on", "1", "yes")
DEADLINE_PREFIX = "deadline:"


def command_fields(command: type[Command], form: FormData) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, info in command.model_fields.items():
        if name in ("request_id", "actor"):
            continue
        annotation = info.annotation
        if _is_tuple(annotation):
            values = [v for v in form.getlist(name) if isinstance(v, str)]
            lines = [line.strip() for value in values for line in value.splitlines()]
            if any(lines):
                fields[name] = tuple(line for line in lines if line)
        elif annotation is bool:
            fields[name] = str(form.get(name, "")).lower() in TRUE
        else:
            value = form.get(name)
            if isinstance(value, str) and value.strip():
                fields[name] = value.strip()
    if command is RecordConsultationDecision:
        fields["deadlines"] = tuple(_deadlines(form))
    return fields


def _deadlines(form: FormData) -> list[DepartmentDeadline]:
    """Per-department handling days of a consultation decision: fields `deadline:<code>`."""
    deadlines = []
    for key, value in form.multi_items():
        if key.startswith(DEADLINE_PREFIX) and isinstance(value, str) and value.strip():
            department = key.removeprefix(DEADLINE_PREFIX)
            deadlines.append(DepartmentDeadline(department=department, handling_days=int(value)))
    return deadlines


def _is_tuple(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_tuple(arg) for arg in typing.get_args(annotation))
    return origin is tuple
