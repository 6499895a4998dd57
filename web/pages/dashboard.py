"""The command centre's dashboard: the loop at a glance, today's intake, work at risk or overdue
with working-time countdowns, and this month's KPIs."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from domain.model import Role
from gridloop.settings import Settings
from store import queries
from store.stats import Grouping, kpis
from web.pages.stats import period
from web.render import HOME, render
from web.session import SignedIn, sessions_of

router = APIRouter(include_in_schema=False)

# Work whose deadline is this close is listed as at risk (calendar time: the countdown then
# shows the working time left).
AT_RISK_WITHIN = timedelta(days=2)
AT_RISK_ROWS = 12
# Who sees every department's work.
OVERSEERS = (Role.COORDINATOR, Role.AUDITOR)
# A countdown under this many working minutes is shown in the warning colour.
SOON_MINUTES = 240


@router.get("/dashboard")
def dashboard(request: Request, me: SignedIn) -> Response:
    if me.role not in OVERSEERS:
        return RedirectResponse(HOME[me.role], status.HTTP_303_SEE_OTHER)
    settings: Settings = request.app.state.settings
    zone = ZoneInfo(settings.timezone)
    today = datetime.now(zone).date()
    with sessions_of(request)() as session:
        stages = queries.stage_counts(session)
        intake_today = queries.count_reported(session, *day_period(today, zone))
        intake_yesterday = queries.count_reported(
            session, *day_period(today - timedelta(days=1), zone)
        )
        (month,) = kpis(session, *period(today.replace(day=1), zone), Grouping.NONE)
        work = _work(session, request)
    return render(
        request,
        "dashboard.html",
        {
            "stage_counts": stages,
            "open_cases": sum(n for s, n in stages.items() if s != "archived"),
            "intake_today": intake_today,
            "intake_yesterday": intake_yesterday,
            "month": month,
            "work": work,
            "soon_minutes": SOON_MINUTES,
        },
        principal=me,
    )


@router.get("/dashboard/work")
def dashboard_work(request: Request, me: SignedIn) -> Response:
    """The at-risk table alone, which the dashboard reloads every 30 seconds."""
    if me.role not in OVERSEERS:
        return RedirectResponse(HOME[me.role], status.HTTP_303_SEE_OTHER)
    with sessions_of(request)() as session:
        work = _work(session, request)
    context = {"work": work, "soon_minutes": SOON_MINUTES}
    return render(request, "partials/work_table.html", context, principal=me)


def _work(session: Session, request: Request) -> dict[str, object]:
    now = datetime.now(UTC)
    rows = queries.open_work(session, due_before=now + AT_RISK_WITHIN, limit=AT_RISK_ROWS)
    return {"rows": rows, "now": now}


def day_period(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local day, half-open."""
    start = datetime.combine(day, time(0), tzinfo=zone)
    return start, start + timedelta(days=1)
