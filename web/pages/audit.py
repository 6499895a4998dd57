"""The auditor's review queue (事后倒查): cases awaiting their post-hoc review with what triggered
it and how long it has waited, filterable by trigger, and the reviews recorded lately. The
findings form and the whole history are on the case page."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse, Response

from domain.model import ReviewTrigger, Role
from store import queries
from web.render import HOME, render
from web.session import SignedIn, sessions_of

router = APIRouter(include_in_schema=False)

RECENT_REVIEWS = 15


@router.get("/audit")
def review_queue(
    request: Request,
    me: SignedIn,
    trigger: Annotated[ReviewTrigger | None, Query()] = None,
) -> Response:
    if me.role is not Role.AUDITOR:
        return RedirectResponse(HOME[me.role], status.HTTP_303_SEE_OTHER)
    with sessions_of(request)() as session:
        waiting = queries.open_reviews(session, trigger=trigger.value if trigger else None)
        counts = queries.open_review_triggers(session)
        total = len(queries.open_reviews(session)) if trigger else len(waiting)
        recorded = queries.recorded_reviews(session, limit=RECENT_REVIEWS)
    return render(
        request,
        "audit.html",
        {
            "waiting": waiting,
            "trigger": trigger.value if trigger else None,
            "triggers": [t.value for t in ReviewTrigger],
            "counts": counts,
            "total": total,
            "recorded": recorded,
            "now": datetime.now(UTC),
        },
        principal=me,
    )
