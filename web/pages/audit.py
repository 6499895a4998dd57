"""The auditor's review queue (事后倒查): cases awaiting their post-hoc review with what triggered
it and the working time left until the findings are due, the earliest deadline first, filterable
by trigger; and the recorded reviews, searchable. The findings form and the whole history are on
the case page."""

from datetime import UTC, date, datetime, time
from typing import Annotated
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from pydantic import BeforeValidator

from domain.calendar import parse_working_hours
from domain.model import ReviewOutcome, ReviewTrigger, Role
from gridloop.settings import Settings
from store import reviews
from store.reviews import ReviewFilters, ReviewSort, ReviewState
from web.names import names_of
from web.render import HOME, render
from web.session import SignedIn, sessions_of

router = APIRouter(include_in_schema=False)

# The open queue is one page: more open reviews than this is a backlog to read in the API.
OPEN_LIMIT = 200
RECORDED_PAGE = 15
# A deadline within this many working days is shown in the warning colour.
SOON_WORKING_DAYS = 2


def _blank_is_none(value: object) -> object:
    """A search form sends its empty fields as empty strings: they mean "any" (a choice of
    outcome or trigger would refuse an empty string)."""
    return None if value == "" else value


Blank = BeforeValidator(_blank_is_none)


@router.get("/audit")
def review_queue(
    request: Request,
    me: SignedIn,
    trigger: Annotated[ReviewTrigger | None, Blank, Query()] = None,
    text: Annotated[str, Query(max_length=100)] = "",
    outcome: Annotated[ReviewOutcome | None, Blank, Query()] = None,
    department: Annotated[str, Query(max_length=64)] = "",
    review_trigger: Annotated[ReviewTrigger | None, Blank, Query()] = None,
    month: Annotated[str, Query(pattern=r"^(\d{4}-(0[1-9]|1[0-2]))?$")] = "",
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    if me.role is not Role.AUDITOR:
        return RedirectResponse(HOME[me.role], status.HTTP_303_SEE_OTHER)
    settings: Settings = request.app.state.settings
    now = datetime.now(UTC)
    recorded_from, recorded_to = _month(month, ZoneInfo(settings.timezone))
    search = ReviewFilters(
        state=ReviewState.DONE,
        text=text or None,
        outcome=outcome,
        department=department or None,
        trigger=review_trigger,
        recorded_from=recorded_from,
        recorded_to=recorded_to,
    )
    searching = search != ReviewFilters(state=ReviewState.DONE)
    with sessions_of(request)() as session:
        waiting = reviews.search_reviews(
            session,
            ReviewFilters(state=ReviewState.OPEN, trigger=trigger),
            now=now,
            sort=ReviewSort.DEADLINE,
            limit=OPEN_LIMIT,
        )
        counts = reviews.open_trigger_counts(session)
        total = reviews.count_reviews(session, ReviewFilters(state=ReviewState.OPEN), now=now)
        overdue = reviews.count_reviews(
            session, ReviewFilters(state=ReviewState.OPEN, overdue=True), now=now
        )
        recorded = reviews.search_reviews(
            session,
            search,
            now=now,
            sort=ReviewSort.RECORDED,
            limit=RECORDED_PAGE,
            offset=offset,
        )
    asked = {
        "trigger": trigger,
        "text": text,
        "outcome": outcome,
        "department": department,
        "review_trigger": review_trigger,
        "month": month,
    }
    return render(
        request,
        "audit.html",
        {
            "waiting": waiting,
            "trigger": trigger.value if trigger else None,
            "triggers": [t.value for t in ReviewTrigger],
            "outcomes": [o.value for o in ReviewOutcome],
            "counts": counts,
            "total": total,
            "overdue": overdue,
            "recorded": recorded,
            "searching": searching,
            "search": asked,
            "search_query": urlencode({k: v for k, v in asked.items() if v}),
            "names": names_of(request),
            "now": now,
            "soon_minutes": SOON_WORKING_DAYS * _working_day_minutes(settings),
        },
        principal=me,
    )


def _month(month: str, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """The month `YYYY-MM` as [first day, first day of the next) in the calendar's zone; an
    empty one is no bound."""
    if not month:
        return None, None
    year, number = (int(part) for part in month.split("-"))
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return (
        datetime.combine(first, time(0), tzinfo=zone),
        datetime.combine(following, time(0), tzinfo=zone),
    )


def _working_day_minutes(settings: Settings) -> int:
    """The length of one working day, in the minutes the countdowns count."""
    return sum(
        (p.end.hour * 60 + p.end.minute) - (p.start.hour * 60 + p.start.minute)
        for p in parse_working_hours(settings.working_hours)
    )
