"""Reporting a case (报事): check it against the reference data, number it, start its workflow.

Exactly once without a database write: with an idempotency key the case number is derived from
(reporter, key), so a retry addresses the same workflow id, which Temporal never reuses; the
request's fingerprint in the workflow's memo tells a retry from a different report under the
same key.
"""

import hashlib
import re
import secrets
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from domain.messages import CaseInput
from domain.model import Actor, Location, Report, ReporterContact, Role, Source, Urgency
from gridloop import cases
from store.models import GridRecord
from store.reference import policy_snapshot

# Crockford's base32: no I, L, O or U, so a code read out over the phone is not misheard.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CASE_NUMBER_LENGTH = 10
LOOKUP_CODE_LENGTH = 8
FINGERPRINT_MEMO = "intake_fingerprint"
LOOKUP_CODE_MEMO = "lookup_code"
# C0 controls but tab and newlines, DEL, and lone surrogates (valid JSON escapes, but no UTF-8
# and no database can store them): refused, not stored, so every reader gets clean text.
_FORBIDDEN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def plain_text(value: Any) -> Any:
    """A field validator: strings (and sequences of them) without control characters."""
    texts = value if isinstance(value, tuple | list) else (value,)
    for text in texts:
        if isinstance(text, str) and _FORBIDDEN_TEXT.search(text):
            raise PydanticCustomError(
                "control_characters", "Text must not contain control characters"
            )
    return value


class NewCase(BaseModel):
    """A report as a reporter or grid worker gives it; the rest comes from reference data."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: str = Field(min_length=1, max_length=64, description="category code")
    urgency: Urgency = Urgency.NORMAL
    grid: str = Field(min_length=1, max_length=64, description="grid code")
    address: str = Field(min_length=1, max_length=300)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    description: str = Field(min_length=1, max_length=4000)
    evidence_urls: tuple[str, ...] = Field(default=(), max_length=20)
    source: Source | None = Field(
        default=None, description="defaults to grid_patrol for grid workers, else resident"
    )
    reporter_name: str | None = Field(default=None, max_length=64)
    reporter_phone: str | None = Field(default=None, max_length=32, pattern=r"^[0-9+\- ]*$")

    _plain_text = field_validator("*")(plain_text)


class ReportedCase(BaseModel):
    case_no: str
    lookup_code: str
    created: bool = Field(description="false when an earlier request with this key made it")


class UnknownReference(ValueError):
    def __init__(self, kind: str, code: str) -> None:
        self.kind, self.code = kind, code
        super().__init__(f"unknown {kind} {code!r}")


class IdempotencyConflict(ValueError):
    """The key was used before for a different report."""


def normalise_code(text: str) -> str:
    """A case number or lookup code as typed: case, dashes and look-alike letters forgiven."""
    cleaned = text.strip().upper().replace("-", "").replace(" ", "")
    return cleaned.translate(str.maketrans("OIL", "011"))


async def report_case(
    client: Client,
    sessions: sessionmaker[Session],
    *,
    new_case: NewCase,
    reported_by: Actor,
    reported_at: datetime,
    task_queue: str,
    case_prefix: str,
    idempotency_key: str | None = None,
) -> ReportedCase:
    """Start the case's workflow, or find the one an earlier request with the same key started.

    Raises UnknownReference for a category or grid that does not exist, IdempotencyConflict for
    a key reused with a different report.
    """
    # A short read: no database connection is held while Temporal starts the workflow.
    with sessions() as session:
        grid = session.get(GridRecord, new_case.grid)
        if grid is None:
            raise UnknownReference("grid", new_case.grid)
        policy = policy_snapshot(session, new_case.category, new_case.urgency)
        if policy is None:
            raise UnknownReference("category", new_case.category)

    this_report = fingerprint(new_case)
    if idempotency_key is None:
        case_no = f"{case_prefix}-{_random_code(CASE_NUMBER_LENGTH)}"
    else:
        case_no = f"{case_prefix}-{_derived_code(reported_by.user_id, idempotency_key)}"
    case = CaseInput(
        case_no=case_no,
        report=_report(new_case, grid, reported_by, reported_at),
        policy=policy,
        lookup_code=_random_code(LOOKUP_CODE_LENGTH),
    )
    try:
        await cases.start_case(
            client,
            case,
            task_queue,
            memo={FINGERPRINT_MEMO: this_report, LOOKUP_CODE_MEMO: case.lookup_code},
        )
    except WorkflowAlreadyStartedError:
        return await _earlier_report(client, case_no, this_report)
    assert case.lookup_code is not None
    return ReportedCase(case_no=case_no, lookup_code=case.lookup_code, created=True)


async def _earlier_report(client: Client, case_no: str, fingerprint: str) -> ReportedCase:
    handle = cases.case_handle(client, case_no)
    memo = await (await handle.describe()).memo()
    if memo.get(FINGERPRINT_MEMO) != fingerprint:
        raise IdempotencyConflict(case_no)
    # From the memo when it is there: a retry then needs no query, which waits for a worker
    # and so times out exactly when retries are most likely, under load.
    code = memo.get(LOOKUP_CODE_MEMO)
    if isinstance(code, str):
        return ReportedCase(case_no=case_no, lookup_code=code, created=False)
    state = (await cases.read_case(handle)).case
    assert state.lookup_code is not None, "every case reported through intake has a code"
    return ReportedCase(case_no=case_no, lookup_code=state.lookup_code, created=False)


def _report(new_case: NewCase, grid: GridRecord, actor: Actor, at: datetime) -> Report:
    default_source = Source.GRID_PATROL if actor.role is Role.GRID_WORKER else Source.RESIDENT
    return Report(
        category=new_case.category,
        urgency=new_case.urgency,
        location=Location(
            address=new_case.address,
            latitude=new_case.latitude,
            longitude=new_case.longitude,
        ),
        grid=grid.code,
        town=grid.town_code,
        source=new_case.source or default_source,
        description=new_case.description,
        evidence_urls=new_case.evidence_urls,
        reporter=ReporterContact(name=new_case.reporter_name, phone=new_case.reporter_phone),
        reported_by=actor,
        reported_at=at,
    )


def fingerprint(new_case: NewCase) -> str:
    """What identifies a report: the same report sent twice has the same fingerprint."""
    return hashlib.sha256(new_case.model_dump_json().encode()).hexdigest()


def _random_code(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def _derived_code(user_id: str, idempotency_key: str) -> str:
    digest = hashlib.sha256(f"{user_id}\n{idempotency_key}".encode()).digest()
    number = int.from_bytes(digest[:8], "big")
    return "".join(ALPHABET[(number >> (5 * i)) & 31] for i in range(CASE_NUMBER_LENGTH))
