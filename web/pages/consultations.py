"""The command centre's consultations (会商): cases being consulted, with the consultation's
deadline and participants, and the cases awaiting triage or re-routing that may need one. The
convene and decision forms are on each case's page."""

from datetime import UTC, datetime

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from domain.model import Role
from store import queries
from store.models import CategoryRecord
from web.render import HOME, render
from web.session import SignedIn, sessions_of

router = APIRouter(include_in_schema=False)

# Cases awaiting triage or re-routing listed here; the case list has them all.
WAITING_ROWS = 60
# A countdown under this many working minutes is shown in the warning colour.
SOON_MINUTES = 480
URGENCY_ORDER = {"critical": 0, "serious": 1, "major": 2, "normal": 3}


@router.get("/consultations")
def consultations(request: Request, me: SignedIn) -> Response:
    if me.role is not Role.COORDINATOR:
        return RedirectResponse(HOME[me.role], status.HTTP_303_SEE_OTHER)
    with sessions_of(request)() as session:
        consulting = queries.cases_waiting(
            session, ("consulting",), ("consultation_convened",), limit=500
        )
        rerouting = queries.cases_waiting(
            session, ("awaiting_rerouting",), ("returned",), limit=WAITING_ROWS
        )
        triage = queries.cases_waiting(
            session,
            ("awaiting_triage",),
            ("reported", "reopened_for_triage"),
            limit=500,
        )
        joint = {
            code
            for code, co_departments in session.execute(
                select(CategoryRecord.code, CategoryRecord.co_departments)
            )
            if co_departments
        }
    # Candidates for a consultation first: the most urgent, then the multi-department ones.
    triage.sort(
        key=lambda t: (
            URGENCY_ORDER.get(t.case.urgency, 9),
            t.case.category not in joint,
            t.case.reported_at,
        )
    )
    return render(
        request,
        "consultations.html",
        {
            "consulting": consulting,
            "rerouting": rerouting,
            "triage": triage[:WAITING_ROWS],
            "triage_total": len(triage),
            "joint": joint,
            "now": datetime.now(UTC),
            "soon_minutes": SOON_MINUTES,
        },
        principal=me,
    )
