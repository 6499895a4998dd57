"""A department's work queue (待办): its open assignments in tabs (awaiting sign-for, handling,
due soon, overdue) with the actions each allows, and the joint cases awaiting its final reply.

Every form posts to the case page's action route (`/cases/{no}/do/{action}`) with `next` back to
the tab it came from; the case's workflow decides, so a stale row is refused there, not here."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from domain.calendar import CalendarError, WorkingCalendar
from domain.model import Role
from store import queries
from web.i18n import N_
from web.render import HOME, render
from web.session import SignedIn, sessions_of

router = APIRouter(include_in_schema=False)

# Work is due soon when its running deadline falls within this much working time.
DUE_SOON_HOURS = 8
# A countdown under this many working minutes is shown in the warning colour.
SOON_MINUTES = DUE_SOON_HOURS * 60

Tab = Literal["sign", "handling", "soon", "overdue"]
TABS: tuple[tuple[Tab, str, str], ...] = (
    ("sign", N_("Awaiting sign-for"), "待签收"),
    ("handling", N_("Handling"), "办理中"),
    ("soon", N_("Due soon"), "即将超期"),
    ("overdue", N_("Overdue"), "已超期"),
)


@dataclass(frozen=True)
class Row:
    item: queries.QueueItem
    overdue: bool
    soon: bool
    extension_pending: bool

    @property
    def work(self) -> queries.OpenWork:
        return self.item.work


@router.get("/queue")
def work_queue(
    request: Request,
    me: SignedIn,
    tab: Annotated[Tab | None, Query()] = None,
) -> Response:
    if me.role is not Role.DEPARTMENT or me.department is None:
        return RedirectResponse(HOME[me.role], status.HTTP_303_SEE_OTHER)
    now = datetime.now(UTC)
    soon_before = _soon_before(request.app.state.calendar, now)
    with sessions_of(request)() as session:
        items = queries.department_queue(session, me.department)
        pending = queries.pending_extensions(
            session, me.department, [i.work.case_no for i in items]
        )
        replies = queries.cases_waiting(
            session,
            ("awaiting_final_reply",),
            ("awaiting_final_reply",),
            lead_department=me.department,
        )
    rows = [_row(item, now, soon_before, item.work.case_no in pending) for item in items]
    tabs = {
        "sign": [r for r in rows if r.work.state == "awaiting_sign"],
        "handling": [r for r in rows if r.work.state == "handling"],
        "soon": [r for r in rows if r.soon],
        "overdue": [r for r in rows if r.overdue],
    }
    chosen: Tab = tab or ("sign" if tabs["sign"] or not tabs["handling"] else "handling")
    return render(
        request,
        "queue.html",
        {
            "tabs": TABS,
            "tab": chosen,
            "counts": {key: len(value) for key, value in tabs.items()},
            "rows": tabs[chosen],
            "replies": replies,
            "now": now,
            "soon_minutes": SOON_MINUTES,
            "due_soon_hours": DUE_SOON_HOURS,
            "here": f"/queue?tab={chosen}",
        },
        principal=me,
    )


def _soon_before(calendar: WorkingCalendar, now: datetime) -> datetime:
    """The end of the next DUE_SOON_HOURS working hours (calendar hours without a table)."""
    try:
        return calendar.add_working_hours(now, DUE_SOON_HOURS)
    except CalendarError:
        return now + timedelta(hours=DUE_SOON_HOURS)


def _row(item: queries.QueueItem, now: datetime, soon_before: datetime, pending: bool) -> Row:
    work = item.work
    overdue = work.overdue or work.deadline <= now
    return Row(
        item=item,
        overdue=overdue,
        soon=not overdue and not item.case.suspended and work.deadline <= soon_before,
        extension_pending=pending,
    )
