"""The grid worker's page (网格员), phone-first: cases in its grids awaiting on-site verification
(核查) and follow-up re-checks (复查) that are due, each with its form; the re-checks coming up;
its recent reports; and the way to report a new case."""

from dataclasses import dataclass
from datetime import UTC, datetime

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response

from domain.model import Role
from store import queries
from web.render import HOME, render
from web.session import SignedIn, sessions_of

router = APIRouter(include_in_schema=False)

UPCOMING_ROWS = 8
RECENT_REPORTS = 10
# A countdown under this many working minutes is shown in the warning colour.
SOON_MINUTES = 240


@dataclass(frozen=True)
class Upcoming:
    task: queries.CaseTask
    due_at: datetime
    index: int
    """Which re-check of the case this is (1 for the first)."""
    total: int


@router.get("/grid")
def grid_worker_home(request: Request, me: SignedIn) -> Response:
    if me.role is not Role.GRID_WORKER:
        return RedirectResponse(HOME[me.role], status.HTTP_303_SEE_OTHER)
    now = datetime.now(UTC)
    with sessions_of(request)() as session:
        verification = queries.cases_waiting(
            session, ("awaiting_verification",), ("awaiting_verification",), grids=me.grids
        )
        follow_ups = queries.cases_waiting(
            session, ("follow_up_due",), ("follow_up_due",), grids=me.grids
        )
        scheduled = queries.cases_waiting(
            session, ("follow_up_scheduled",), ("follow_up_scheduled",), grids=me.grids
        )
        replies = queries.latest_replies(
            session, [t.case.case_no for t in (*verification, *follow_ups)]
        )
        reports = queries.reported_by(session, me.user_id, limit=RECENT_REPORTS)
    upcoming = sorted(
        (u for u in (_upcoming(t, now) for t in scheduled) if u is not None),
        key=lambda u: u.due_at,
    )
    return render(
        request,
        "grid.html",
        {
            "verification": verification,
            "follow_ups": follow_ups,
            "upcoming": upcoming[:UPCOMING_ROWS],
            "upcoming_total": len(upcoming),
            "replies": replies,
            "reports": reports,
            "now": now,
            "soon_minutes": SOON_MINUTES,
        },
        principal=me,
    )


def _upcoming(task: queries.CaseTask, now: datetime) -> Upcoming | None:
    """The next re-check of a case whose follow-ups are scheduled (none is due now)."""
    planned = task.data.get("due_at")
    if not isinstance(planned, list):
        return None
    moments = sorted(_moment(value) for value in planned if isinstance(value, str))
    coming = [m for m in moments if m > now]
    if not coming:
        return None
    return Upcoming(task, coming[0], len(moments) - len(coming) + 1, len(moments))


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
