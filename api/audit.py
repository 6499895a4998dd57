"""Audit of the read model itself: is every case's history as the workflow wrote it?

Each case's events form a hash chain (store/ledger.py, docs/audit.md "Tamper evidence"); these
routes check it. Only those who audit the county's work may read it: auditors and the command
centre.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict

from api.auth import CurrentPrincipal
from api.cases import CaseNo
from api.deps import SessionDep
from api.errors import ApiError, error_responses
from domain.model import Role
from gridloop.access import Principal
from store import queries
from store.ledger import BreakReason, LedgerBreak, verify_ledger
from store.models import CaseEventRecord, CaseRecord

router = APIRouter(prefix="/v1", tags=["audit"])

AUDITORS = (Role.AUDITOR, Role.COORDINATOR)


def _require_auditor(principal: Principal) -> None:
    # Checked before the case is looked up, so that others cannot even learn that it exists.
    if principal.role not in AUDITORS:
        raise ApiError(status.HTTP_403_FORBIDDEN, "forbidden")


# ---- tamper evidence: the event hash chains -------------------------------------------------


class LedgerBreakView(BaseModel):
    """The first link of a case's chain that does not hold."""

    model_config = ConfigDict(frozen=True)

    case_no: str
    sequence: int
    """The first event that cannot be trusted; for a gap or truncation, the first missing."""
    reason: BreakReason
    detail: str

    @classmethod
    def of(cls, broken: LedgerBreak) -> "LedgerBreakView":
        return cls(
            case_no=broken.case_no,
            sequence=broken.sequence,
            reason=broken.reason,
            detail=broken.detail,
        )


class LedgerCheck(BaseModel):
    intact: bool
    cases_checked: int
    events_checked: int
    broken_cases: int
    """How many cases have a broken chain, whether or not all are listed in `breaks`."""
    breaks: list[LedgerBreakView]
    """The first `limit` broken cases, by case number."""


class LedgerEventView(BaseModel):
    sequence: int
    type: str
    at: datetime
    prev_hash: str | None
    hash: str | None
    """sha256 of `prev_hash` and the event's canonical encoding; null for an unsealed row."""

    @classmethod
    def of(cls, row: CaseEventRecord) -> "LedgerEventView":
        return cls(
            sequence=row.sequence, type=row.type, at=row.at, prev_hash=row.prev_hash, hash=row.hash
        )


class CaseLedger(BaseModel):
    case_no: str
    intact: bool
    first_break: LedgerBreakView | None
    events: list[LedgerEventView]
    """Every stored event of the case in sequence order, with its links."""


@router.get(
    "/audit/ledger",
    summary="Check every case's event hash chain in the read model",
    responses=error_responses(401, 403, 422),
)
def check_ledger(
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=10_000, description="most breaks listed")] = 1000,
) -> LedgerCheck:
    """Reads the whole `case_events` table (streamed): on a large read model this takes a
    while. `gridloop verify-ledger` does the same from the command line."""
    _require_auditor(principal)
    report = verify_ledger(session)
    return LedgerCheck(
        intact=report.intact,
        cases_checked=report.cases_checked,
        events_checked=report.events_checked,
        broken_cases=len(report.breaks),
        breaks=[LedgerBreakView.of(b) for b in report.breaks[:limit]],
    )


@router.get(
    "/cases/{case_no}/ledger",
    summary="One case's event hash chain and its first broken link, if any",
    responses=error_responses(401, 403, 404),
)
def case_ledger(case_no: CaseNo, principal: CurrentPrincipal, session: SessionDep) -> CaseLedger:
    _require_auditor(principal)
    if session.get(CaseRecord, case_no) is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, "case_not_found", {"case_no": case_no})
    report = verify_ledger(session, case_no)
    first_break = LedgerBreakView.of(report.breaks[0]) if report.breaks else None
    return CaseLedger(
        case_no=case_no,
        intact=report.intact,
        first_break=first_break,
        events=[LedgerEventView.of(e) for e in queries.case_events(session, case_no)],
    )
