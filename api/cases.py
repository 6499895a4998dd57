"""Reporting cases and reading them: the list and timeline from the read model, one case in full
from its workflow."""

from typing import Annotated

from fastapi import APIRouter, Body, Header, Path, Query, Response, status
from pydantic import AwareDatetime

from api.auth import CurrentPrincipal
from api.deps import ServiceDep, SessionDep
from api.errors import ApiError, error_responses
from api.views import CaseDetail, CaseEventView, CaseListItem, CasePage
from domain.model import Role, Stage, Status, Urgency
from gridloop import intake
from gridloop.access import visibility
from store import queries

router = APIRouter(prefix="/v1/cases", tags=["cases"])

CaseNo = Annotated[str, Path(pattern=r"^[A-Za-z0-9-]{1,40}$", examples=["GL-7Q3K9XM2FD"])]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=100,
        description="Repeat a request with the same key to have it take effect once.",
    ),
]

NEW_CASE_EXAMPLE = {
    "category": "occupy_road_business",
    "urgency": "normal",
    "grid": "luoxing_xinzhou_g01",
    "address": "罗星街道解放东路 88 号",
    "description": "沿街店铺占道经营，货物堆放至人行道，影响行人通行",
    "evidence_urls": ["https://evidence.example/photo-1.jpg"],
    "reporter_name": "张先生",
    "reporter_phone": "13800000000",
}


@router.post(
    "",
    summary="Report a case (报事)",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": intake.ReportedCase, "description": "Reported before with this key"},
        **error_responses(401, 403, 409, 422, 503),
    },
)
async def report_case(
    principal: CurrentPrincipal,
    service: ServiceDep,
    response: Response,
    new_case: Annotated[intake.NewCase, Body(examples=[NEW_CASE_EXAMPLE])],
    idempotency_key: IdempotencyKey = None,
) -> intake.ReportedCase:
    """Grid workers report in their own grids, coordinators anywhere (e.g. a 12345 call). The
    answer carries the case number and the reporter's lookup code for the public progress page."""
    if principal.role not in (Role.GRID_WORKER, Role.COORDINATOR):
        raise ApiError(status.HTTP_403_FORBIDDEN, "forbidden")
    reported = await service.report(principal, new_case, idempotency_key)
    if not reported.created:
        response.status_code = status.HTTP_200_OK
    return reported


@router.get(
    "",
    summary="List cases, newest first, with filters",
    responses=error_responses(401, 422),
)
def list_cases(
    principal: CurrentPrincipal,
    session: SessionDep,
    stage: Stage | None = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    town: Annotated[str | None, Query(max_length=64)] = None,
    grid: Annotated[str | None, Query(max_length=64)] = None,
    department: Annotated[
        str | None, Query(max_length=64, description="cases this department has work on")
    ] = None,
    urgency: Urgency | None = None,
    overdue: bool | None = None,
    text: Annotated[
        str | None,
        Query(max_length=100, description="in the case number, description or address"),
    ] = None,
    reported_from: Annotated[AwareDatetime | None, Query(description="inclusive")] = None,
    reported_to: Annotated[AwareDatetime | None, Query(description="exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None, Query(max_length=400, description="`next_cursor` of the previous page")
    ] = None,
) -> CasePage:
    """Coordinators and auditors see every case, a department the cases it has work on, a grid
    worker the cases in its grids."""
    filters = queries.CaseFilters(
        stage=stage,
        status=status_,
        category=category,
        town=town,
        grid=grid,
        department=department,
        urgency=urgency,
        overdue=overdue,
        text=text or None,
        reported_from=reported_from,
        reported_to=reported_to,
    )
    try:
        page = queries.list_cases(
            session, visibility(principal), filters, limit=limit, cursor=cursor
        )
    except queries.BadCursor as bad:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "validation_error") from bad
    return CasePage(items=[CaseListItem.of(c) for c in page.cases], next_cursor=page.next_cursor)


@router.get(
    "/{case_no}",
    summary="One case in full: stage, assignments with their clocks, flags, history of rounds",
    responses=error_responses(401, 404, 503),
)
async def get_case(case_no: CaseNo, principal: CurrentPrincipal, service: ServiceDep) -> CaseDetail:
    """Read from the case's workflow, so it is current to the last action. Reporter contact
    details are shown to coordinators only."""
    snapshot = await service.snapshot(principal, case_no)
    return CaseDetail.of(
        snapshot.case, snapshot.flags, with_reporter=principal.role is Role.COORDINATOR
    )


@router.get(
    "/{case_no}/events",
    summary="The case's business timeline",
    responses=error_responses(401, 404),
)
def case_events(
    case_no: CaseNo, principal: CurrentPrincipal, session: SessionDep
) -> list[CaseEventView]:
    """Every business event in order (`sequence` from 1), as projected to the read model."""
    if queries.visible_case(session, visibility(principal), case_no) is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, "case_not_found", {"case_no": case_no})
    return [CaseEventView.of(e) for e in queries.case_events(session, case_no)]
