"""Post-hoc reviews (事后倒查) across cases: the auditors' open work with its deadlines, and the
findings recorded, searchable. Recording findings is the case action `POST /cases/{no}/review`."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict

from api.auth import CurrentPrincipal
from api.deps import SessionDep
from api.errors import ApiError, error_responses
from domain.model import ReviewOutcome, ReviewTrigger, Role
from store import reviews
from store.reviews import ReviewSort, ReviewState

router = APIRouter(prefix="/v1/reviews", tags=["reviews"])

# Who reads every review: the auditors who record them and the command centre they report to.
READERS = (Role.AUDITOR, Role.COORDINATOR)
Code = Annotated[str | None, Query(max_length=64)]
Moment = AwareDatetime | None


class ReviewItem(BaseModel):
    """One review with its case."""

    model_config = ConfigDict(frozen=True, from_attributes=True)

    case_no: str
    category: str
    town: str
    grid: str
    description: str
    lead_department: str | None
    triggers: list[ReviewTrigger]
    opened_at: datetime
    due_at: datetime | None
    """When the findings are due (`GRIDLOOP_REVIEW_WORKING_DAYS` working days after opening);
    null where the working calendar has no data for it."""
    overdue: bool
    """Open and past `due_at` now."""
    recorded_at: datetime | None
    outcome: ReviewOutcome | None
    root_cause: str | None
    responsible_departments: list[str]
    responsible_people: list[str]
    score_deduction: float
    notes: str


class ReviewPage(BaseModel):
    items: list[ReviewItem]
    total: int
    """Reviews matching the filters, on all pages."""
    next_offset: int | None
    """Pass as `offset` for the next page; null on the last."""


@router.get(
    "",
    summary="Search post-hoc reviews (事后倒查): open work with deadlines, recorded findings",
    responses=error_responses(401, 403, 422),
)
def search_reviews(
    principal: CurrentPrincipal,
    session: SessionDep,
    state: ReviewState | None = None,
    overdue: Annotated[
        bool | None, Query(description="true: open and past the deadline; false: all others")
    ] = None,
    trigger: ReviewTrigger | None = None,
    outcome: ReviewOutcome | None = None,
    department: Annotated[
        str | None, Query(max_length=64, description="a responsible department in the findings")
    ] = None,
    text: Annotated[
        str | None,
        Query(
            max_length=100,
            description="in the case number, the case description, the root cause or the notes",
        ),
    ] = None,
    opened_from: Annotated[Moment, Query(description="aware ISO time, inclusive")] = None,
    opened_to: Annotated[Moment, Query(description="exclusive")] = None,
    recorded_from: Annotated[Moment, Query(description="aware ISO time, inclusive")] = None,
    recorded_to: Annotated[Moment, Query(description="exclusive")] = None,
    town: Code = None,
    category: Code = None,
    sort: Annotated[
        ReviewSort | None,
        Query(description="default: `deadline` for `state=open`, else `recorded`"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> ReviewPage:
    """For auditors and coordinators; everyone else gets 403. An unknown value of any filter (a
    department, town or category code that names nothing, a time without its zone, an empty
    time range) answers 422 with the filter named in `error.details`. No reporter contact details
    are returned."""
    if principal.role not in READERS:
        raise ApiError(status.HTTP_403_FORBIDDEN, "forbidden")
    problems = [
        _problem(name, f"no {name} {code!r}", "unknown_code")
        for name, code in reviews.unknown_codes(
            session, department=department, town=town, category=category
        ).items()
    ]
    ranges = (("opened", opened_from, opened_to), ("recorded", recorded_from, recorded_to))
    for name, first, after in ranges:
        if first is not None and after is not None and after <= first:
            problems.append(
                _problem(f"{name}_to", f"must be later than {name}_from", "empty_range")
            )
    if problems:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "validation_error", details=problems)
    filters = reviews.ReviewFilters(
        state=state,
        overdue=overdue,
        trigger=trigger,
        outcome=outcome,
        department=department,
        text=text or None,
        opened_from=opened_from,
        opened_to=opened_to,
        recorded_from=recorded_from,
        recorded_to=recorded_to,
        town=town,
        category=category,
    )
    order = sort or (ReviewSort.DEADLINE if state is ReviewState.OPEN else ReviewSort.RECORDED)
    page = reviews.search_reviews(
        session, filters, now=datetime.now(UTC), sort=order, limit=limit, offset=offset
    )
    return ReviewPage(
        items=[ReviewItem.model_validate(entry) for entry in page.entries],
        total=page.total,
        next_offset=page.next_offset,
    )


def _problem(name: str, message: str, kind: str) -> dict[str, object]:
    """One entry of `error.details`, shaped like FastAPI's own validation errors."""
    return {"loc": ["query", name], "msg": message, "type": kind}
