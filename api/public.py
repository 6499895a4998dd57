"""For residents, without an account: report an issue, follow it by its lookup code (进度查询),
rate the reply. Nothing personal is shown: no contact details, no description, no staff names."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path, Response, status
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.cases import NEW_CASE_EXAMPLE, IdempotencyKey
from api.deps import ServiceDep, SessionDep, SessionsDep
from api.errors import ApiError, error_responses
from domain.messages import ActionAccepted, RateFeedback
from domain.model import FeedbackChannel, Rating, Role, Stage, Status
from gridloop import intake
from gridloop.access import Principal
from store import queries
from store.models import CaseRecord, CategoryRecord, DepartmentRecord, GridRecord, TownRecord

router = APIRouter(prefix="/v1/public", tags=["public"])

LookupCode = Annotated[str, Path(min_length=8, max_length=12, examples=["K7M2-QX9D"])]
RESIDENT = Principal(user_id="public", role=Role.REPORTER)

# The milestones a reporter sees; the rest of the timeline is the departments' business.
MILESTONES = (
    "reported",
    "resolved_on_site",
    "dispatched",
    "consultation_convened",
    "consultation_decided",
    "signed",
    "final_reply",
    "verified",
    "verification_failed",
    "awaiting_feedback",
    "feedback_rated",
    "feedback_not_given",
    "closed",
    "recurred",
    "archived",
)


class Milestone(BaseModel):
    type: str
    at: datetime
    department: str | None = None
    department_name: str | None = None


class PublicCase(BaseModel):
    case_no: str
    stage: Stage
    status: Status
    category: str
    category_name: str
    town_name: str
    grid_name: str
    reported_at: datetime
    closed_at: datetime | None
    reply: str | None
    rating: Rating | None
    awaiting_feedback: bool
    milestones: list[Milestone]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "case_no": "GL-7Q3K9XM2FD",
                    "stage": "feedback",
                    "status": "awaiting_feedback",
                    "category": "occupy_road_business",
                    "category_name": "占道经营",
                    "town_name": "罗星街道",
                    "grid_name": "新洲社区第1网格",
                    "reported_at": "2026-11-23T09:12:00+08:00",
                    "closed_at": None,
                    "reply": "经综合执法、市场监管联合处置，占道货物已清理。",
                    "rating": None,
                    "awaiting_feedback": True,
                    "milestones": [
                        {"type": "reported", "at": "2026-11-23T09:12:00+08:00"},
                        {
                            "type": "signed",
                            "at": "2026-11-23T09:40:00+08:00",
                            "department": "comprehensive_enforcement",
                            "department_name": "综合行政执法局",
                        },
                    ],
                }
            ]
        }
    }


class PublicRating(BaseModel):
    rating: Rating
    comment: str = ""

    model_config = {
        "extra": "forbid",
        "json_schema_extra": {"examples": [{"rating": "satisfied", "comment": "处理及时"}]},
    }


@router.post(
    "/cases",
    summary="Report an issue as a resident",
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": intake.ReportedCase, "description": "Reported before with this key"},
        **error_responses(409, 422, 503),
    },
)
async def report_as_resident(
    service: ServiceDep,
    response: Response,
    new_case: Annotated[intake.NewCase, Body(examples=[NEW_CASE_EXAMPLE])],
    idempotency_key: IdempotencyKey = None,
) -> intake.ReportedCase:
    """Keep the `lookup_code` of the answer: it is the only way to follow the case."""
    resident_case = new_case.model_copy(update={"source": None})
    reported = await service.report(RESIDENT, resident_case, idempotency_key)
    if not reported.created:
        response.status_code = status.HTTP_200_OK
    return reported


@router.get(
    "/cases/{lookup_code}",
    summary="Follow a case by its lookup code (进度查询)",
    responses=error_responses(404, 422),
)
def follow_case(lookup_code: LookupCode, session: SessionDep) -> PublicCase:
    row = _case(session, lookup_code)
    names = _Names(session)
    reply_visible = row.stage in (Stage.FEEDBACK, Stage.FOLLOW_UP, Stage.REVIEW, Stage.ARCHIVED)
    return PublicCase(
        case_no=row.case_no,
        stage=Stage(row.stage),
        status=Status(row.status),
        category=row.category,
        category_name=names.category(row.category),
        town_name=names.town(row.town),
        grid_name=names.grid(row.grid),
        reported_at=row.reported_at,
        closed_at=row.closed_at,
        reply=_reply(session, row) if reply_visible else None,
        rating=Rating(row.rating) if row.rating else None,
        awaiting_feedback=row.status == Status.AWAITING_FEEDBACK,
        milestones=[
            Milestone(
                type=event.type,
                at=event.at,
                department=_department_of(event.data),
                department_name=names.department(_department_of(event.data)),
            )
            for event in queries.case_events(session, row.case_no)
            if event.type in MILESTONES
        ],
    )


@router.post(
    "/cases/{lookup_code}/feedback",
    summary="Rate the reply (满意 / 基本满意 / 不满意)",
    responses=error_responses(404, 409, 422, 503),
)
async def rate(
    lookup_code: LookupCode,
    sessions: SessionsDep,
    service: ServiceDep,
    rating: Annotated[PublicRating, Body()],
    idempotency_key: IdempotencyKey = None,
) -> ActionAccepted:
    """Accepted while the case awaits feedback; 不满意 sends it back for re-handling."""
    with sessions() as session:
        row = _case(session, lookup_code)
    reporter = Principal(user_id=f"public:{row.lookup_code}", role=Role.REPORTER)
    fields = {"rating": rating.rating, "channel": FeedbackChannel.DIRECT, "comment": rating.comment}
    return await service.act(reporter, row.case_no, RateFeedback, fields, idempotency_key)


def _case(session: Session, lookup_code: str) -> CaseRecord:
    row = queries.case_by_lookup_code(session, intake.normalise_code(lookup_code))
    if row is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, "lookup_code_not_found")
    return row


def _reply(session: Session, row: CaseRecord) -> str | None:
    for event in reversed(queries.case_events(session, row.case_no)):
        if event.type in ("final_reply", "completed", "resolved_on_site"):
            text = event.data.get("reply") or event.data.get("result")
            return str(text) if text else None
    return None


def _department_of(data: dict[str, object]) -> str | None:
    department = data.get("department")
    return department if isinstance(department, str) else None


class _Names:
    """Display names of reference codes, looked up once per request."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def category(self, code: str) -> str:
        record = self._session.get(CategoryRecord, code)
        return record.name if record else code

    def town(self, code: str) -> str:
        record = self._session.get(TownRecord, code)
        return record.name if record else code

    def grid(self, code: str) -> str:
        record = self._session.get(GridRecord, code)
        return record.name if record else code

    def department(self, code: str | None) -> str | None:
        if code is None:
            return None
        record = self._session.get(DepartmentRecord, code)
        return record.name if record else code
