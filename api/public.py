"""For residents, without an account: report an issue, follow it by its lookup code (进度查询),
rate the reply. Nothing personal is shown: no contact details, no description, no staff names."""

from typing import Annotated

from fastapi import APIRouter, Body, Path, Request, Response, status
from pydantic import BaseModel

from api.cases import NEW_CASE_EXAMPLE, IdempotencyKey
from api.deps import ServiceDep, SessionDep
from api.errors import ApiError, error_responses, language
from domain.messages import ActionAccepted
from domain.model import Rating
from gridloop import intake
from gridloop.progress import RESIDENT, CaseProgress, progress, rate

router = APIRouter(prefix="/v1/public", tags=["public"])

LookupCode = Annotated[str, Path(min_length=8, max_length=12, examples=["K7M2-QX9D"])]


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
def follow_case(lookup_code: LookupCode, session: SessionDep, request: Request) -> CaseProgress:
    """Stage, category and place, milestones, and the reply once there is one: nobody's
    contact details, no description, no staff names. Names in the `Accept-Language`."""
    found = progress(session, lookup_code, language(request))
    if found is None:
        raise ApiError(status.HTTP_404_NOT_FOUND, "lookup_code_not_found")
    return found


@router.post(
    "/cases/{lookup_code}/feedback",
    summary="Rate the reply (满意 / 基本满意 / 不满意)",
    responses=error_responses(404, 409, 422, 503),
)
async def rate_reply(
    lookup_code: LookupCode,
    service: ServiceDep,
    rating: Annotated[PublicRating, Body()],
    idempotency_key: IdempotencyKey = None,
) -> ActionAccepted:
    """Accepted while the case awaits feedback; 不满意 sends it back for re-handling."""
    return await rate(service, lookup_code, rating.rating, rating.comment, idempotency_key)
