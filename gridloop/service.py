"""What a signed-in person can do with cases: report, read, act. Shared by the HTTP API and the
web console, so both enforce the same rules and give the same answers.

Every refusal is a `Refused` with a kind (how bad, in HTTP terms) and a machine-readable type
with its parameters; the caller turns it into a status code or a message on the page.
"""

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain import rules
from domain.errors import Refusal
from domain.messages import ActionAccepted, Command, Urge
from domain.model import Role
from gridloop import cases, intake, metrics
from gridloop.access import Principal, may_see
from gridloop.admission import IntakeLimiter, Saturated
from gridloop.logging import get_logger
from gridloop.settings import Settings
from store import queries
from store.models import CaseRecord, DepartmentRecord
from workflows.case import CaseSnapshot


class RefusalKind(StrEnum):
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    CONFLICT = "conflict"
    INVALID = "invalid"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class Refused(Exception):
    def __init__(
        self,
        kind: RefusalKind,
        refusal_type: str,
        params: Mapping[str, str] | None = None,
        details: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.kind, self.type = kind, refusal_type
        self.params, self.details = dict(params or {}), details
        super().__init__(refusal_type)


def refusal_kind(refusal_type: str) -> RefusalKind:
    """How a workflow refusal reads to a caller: the case forbids it now (conflict), the role may
    never (forbidden), the server lacks calendar data (unavailable)."""
    if refusal_type == Refusal.NOT_PERMITTED.value:
        return RefusalKind.FORBIDDEN
    if refusal_type == Refusal.CALENDAR_DATA_MISSING.value:
        return RefusalKind.UNAVAILABLE
    return RefusalKind.CONFLICT


# Command fields naming departments that get work (or findings) from it.
_NEW_DEPARTMENT_FIELDS = (
    "lead_department",
    "co_departments",
    "to_department",
    "responsible_departments",
)

# How long `projected` waits for the read model: it follows the workflow within moments.
PROJECTION_POLLS, PROJECTION_POLL_SECONDS = 30, 0.1

log = get_logger(__name__)

# Temporal answers a client could get while the server or its history is busy or restarting.
_TRANSIENT = (
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.ABORTED,
)


class CaseService:
    """One per process: the Temporal client, the read model and the settings."""

    def __init__(self, client: Client, sessions: sessionmaker[Session], settings: Settings):
        self.client = client
        self.sessions = sessions
        self.settings = settings
        self.intake = IntakeLimiter(settings.intake_concurrency)

    async def report(
        self, principal: Principal, new_case: intake.NewCase, idempotency_key: str | None
    ) -> intake.ReportedCase:
        with _counted("report"):
            if principal.role not in (Role.GRID_WORKER, Role.COORDINATOR, Role.REPORTER):
                raise Refused(RefusalKind.FORBIDDEN, "forbidden")
            _require_grid(principal, new_case.grid)
            try:
                with self.intake.admit():
                    return await intake.report_case(
                        self.client,
                        self.sessions,
                        new_case=new_case,
                        reported_by=principal.actor(),
                        reported_at=datetime.now(UTC),
                        task_queue=self.settings.task_queue,
                        case_prefix=self.settings.case_prefix,
                        idempotency_key=idempotency_key,
                    )
            except Saturated as saturated:
                raise Refused(RefusalKind.UNAVAILABLE, "intake_busy") from saturated
            except intake.UnknownReference as unknown:
                raise Refused(
                    RefusalKind.INVALID, f"unknown_{unknown.kind}", {"code": unknown.code}
                ) from unknown
            except intake.IdempotencyConflict as conflict:
                raise Refused(RefusalKind.CONFLICT, "idempotency_key_reused") from conflict
            except RPCError as failed:
                raise Refused(RefusalKind.UNAVAILABLE, "temporal_unavailable") from failed

    async def snapshot(self, principal: Principal, case_no: str) -> CaseSnapshot:
        """The case as its workflow holds it; not found unless the caller may see it."""
        handle = cases.case_handle(self.client, case_no)
        async with _temporal_errors(handle, case_no):
            snapshot = await cases.read_case(handle)
        if not may_see(principal, snapshot.case):
            raise Refused(RefusalKind.NOT_FOUND, "case_not_found", {"case_no": case_no})
        return snapshot

    async def act(
        self,
        principal: Principal,
        case_no: str,
        command_type: type[Command],
        fields: Mapping[str, Any],
        idempotency_key: str | None = None,
    ) -> ActionAccepted:
        """Send one action as its Update: the actor comes from the principal, never the fields."""
        with _counted(cases.ACTION_NAMES[command_type]):
            command = await self._command(principal, case_no, command_type, fields, idempotency_key)
            handle = cases.case_handle(self.client, case_no)
            async with _temporal_errors(handle, case_no):
                return await cases.act(handle, command)

    async def urge(
        self,
        principal: Principal,
        case_no: str,
        fields: Mapping[str, Any],
        idempotency_key: str | None = None,
    ) -> Urge:
        """催办 is a Signal: accepted for delivery once the department has open work."""
        with _counted(cases.ACTION_NAMES[Urge]):
            command = await self._command(principal, case_no, Urge, fields, idempotency_key)
            assert isinstance(command, Urge)
            with self.sessions() as session:
                assigned = queries.open_assignment(session, case_no, command.department)
            if assigned is None:
                raise Refused(
                    RefusalKind.CONFLICT,
                    Refusal.NOT_ASSIGNED.value,
                    {"department": command.department},
                )
            handle = cases.case_handle(self.client, case_no)
            async with _temporal_errors(handle, case_no):
                await cases.urge(handle, command)
            return command

    async def projected(self, case_no: str, sequence: int) -> bool:
        """Wait a moment until the read model holds the case through event `sequence`, so that a
        page read from it next shows the change; False if it did not within the wait."""
        for _ in range(PROJECTION_POLLS):
            with self.sessions() as session:
                row = session.get(CaseRecord, case_no)
                if row is not None and row.last_event_sequence >= sequence:
                    return True
            await asyncio.sleep(PROJECTION_POLL_SECONDS)
        return False

    async def _command(
        self,
        principal: Principal,
        case_no: str,
        command_type: type[Command],
        fields: Mapping[str, Any],
        idempotency_key: str | None,
    ) -> Command:
        """What the workflow cannot know: the role, and a grid worker's own grids. (The workflow
        checks the role again, and that a department has work on the case.)"""
        if principal.role not in rules.RULES[command_type].roles:
            raise Refused(
                RefusalKind.FORBIDDEN,
                Refusal.NOT_PERMITTED.value,
                {"role": principal.role.value, "action": command_type.__name__},
            )
        if principal.role is Role.GRID_WORKER:
            _require_grid(principal, await self._case_grid(case_no))
        try:
            command = command_type(
                request_id=request_id(principal, idempotency_key),
                actor=principal.actor(),
                **fields,
            )
        except ValidationError as invalid:
            details = [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]}
                for e in invalid.errors()
            ]
            raise Refused(RefusalKind.INVALID, "validation_error", details=details) from invalid
        self._require_departments(command)
        return command

    def _require_departments(self, command: Command) -> None:
        """Departments the command would give work or blame to must exist: the workflow takes
        any code it is given, and an assignment to no one would never be signed for."""
        named: set[str] = set()
        for name in _NEW_DEPARTMENT_FIELDS:
            value = getattr(command, name, None)
            if isinstance(value, str):
                named.add(value)
            elif isinstance(value, tuple | list):
                named.update(v for v in value if isinstance(v, str))
        if not named:
            return
        with self.sessions() as session:
            known = set(
                session.scalars(
                    select(DepartmentRecord.code).where(DepartmentRecord.code.in_(named))
                )
            )
        unknown = sorted(named - known)
        if unknown:
            raise Refused(RefusalKind.INVALID, "unknown_department", {"code": unknown[0]})

    async def _case_grid(self, case_no: str) -> str:
        with self.sessions() as session:
            row = queries.visible_case(session, queries.Visibility(everything=True), case_no)
        if row is not None:
            return row.grid
        # Not projected yet (reported a moment ago): the workflow knows.
        handle = cases.case_handle(self.client, case_no)
        async with _temporal_errors(handle, case_no):
            return (await cases.read_case(handle)).case.report.grid


def request_id(principal: Principal, idempotency_key: str | None) -> str:
    """The same key from the same caller is the same request, which takes effect once."""
    if idempotency_key is None:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{principal.user_id}\n{idempotency_key}".encode()).hexdigest()[:40]


@contextlib.contextmanager
def _counted(action: str) -> Iterator[None]:
    """Count the action in /metrics by its outcome: accepted, the refusal's type, or `error`
    when it failed otherwise (or the caller went away)."""
    outcome = metrics.FAILED
    try:
        yield
        outcome = metrics.ACCEPTED
    except Refused as refused:
        outcome = refused.type
        raise
    finally:
        metrics.count_action(action, outcome)


def _require_grid(principal: Principal, grid: str) -> None:
    """Grid workers act only in their own grids."""
    if principal.role is Role.GRID_WORKER and grid not in principal.grids:
        raise Refused(RefusalKind.FORBIDDEN, "grid_not_yours", {"grid": grid})


@contextlib.asynccontextmanager
async def _temporal_errors(handle: WorkflowHandle[Any, Any], case_no: str) -> AsyncIterator[None]:
    """What the Temporal client raises about one case, as refusals."""
    try:
        yield
    except WorkflowUpdateFailedError as failed:
        cause = failed.cause
        if isinstance(cause, ApplicationError) and cause.type and cause.type != "internal_error":
            raise Refused(refusal_kind(cause.type), cause.type, _refusal_params(cause)) from failed
        raise Refused(RefusalKind.INTERNAL, "internal_error") from failed
    except WorkflowQueryFailedError as failed:
        # The worker's code cannot answer for this case (a failing workflow task, or code that
        # no longer matches it): an operator's matter, and the caller can only wait.
        log.error("case query failed", case_no=case_no, reason=str(failed))
        raise Refused(RefusalKind.UNAVAILABLE, "case_unreadable", {"case_no": case_no}) from failed
    except RPCError as failed:
        if failed.status is RPCStatusCode.NOT_FOUND:
            raise await _archived_or_missing(handle, case_no) from failed
        if failed.status in _TRANSIENT:
            raise Refused(RefusalKind.UNAVAILABLE, "temporal_unavailable") from failed
        raise


async def _archived_or_missing(handle: WorkflowHandle[Any, Any], case_no: str) -> Refused:
    """An Update to a finished workflow fails like one to a missing workflow: ask which."""
    try:
        await handle.describe()
    except RPCError:
        return Refused(RefusalKind.NOT_FOUND, "case_not_found", {"case_no": case_no})
    return Refused(RefusalKind.CONFLICT, "case_archived", {"case_no": case_no})


def _refusal_params(cause: ApplicationError) -> dict[str, str]:
    details = cause.details[0] if cause.details else None
    if isinstance(details, dict) and isinstance(details.get("params"), dict):
        return {str(k): str(v) for k, v in details["params"].items()}
    return {}
