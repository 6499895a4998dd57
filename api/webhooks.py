"""Departments' webhooks: register a URL for notifications of the department's work, list and
revoke them, and read the delivery log (docs/webhooks.md).

A department (a user or a `gl_…` API token) manages its own webhooks and reads its own log;
coordinators manage any department's and read the whole log. Registering and revoking are
configuration, written here as admin commands write users and tokens; deliveries are written
only by the delivery activities.
"""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth import CurrentPrincipal
from api.deps import SessionDep, SettingsDep
from api.errors import ApiError, error_responses
from domain.model import Role
from domain.notifications import MAX_URL_LENGTH, NotificationEvent, url_problem
from gridloop.access import Principal
from store import webhooks
from store.models import DepartmentRecord, WebhookRecord
from store.webhooks import DeliveryStatus

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

WebhookId = Annotated[str, Path(min_length=1, max_length=40)]
Code = Annotated[str | None, Query(min_length=1, max_length=64)]


class WebhookRegistration(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"url": "https://jianguan.example.gov.cn/gridloop"}]},
    )

    url: str = Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="an absolute http(s) URL without credentials; notifications are POSTed to it",
    )
    department: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="whose webhook: coordinators name the department; a department registers "
        "its own and may leave this out",
    )


class Webhook(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    department: str
    url: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


class RegisteredWebhook(Webhook):
    secret: str
    """Signs every delivery (HMAC-SHA256, docs/webhooks.md). Shown this once: keep it."""


class DeliveryAttempt(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class Delivery(BaseModel):
    """One notification to one webhook."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    notification_id: str
    """Also the `X-Gridloop-Delivery` header: the same on every attempt."""
    webhook_id: str
    url: str
    department: str
    case_no: str
    event: NotificationEvent
    sequence: int
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    log: list[DeliveryAttempt]
    """Every request made, oldest first."""


class DeliveryPage(BaseModel):
    items: list[Delivery]
    total: int
    """Deliveries matching the filters, on all pages."""
    next_offset: int | None
    """Pass as `offset` for the next page; null on the last."""


@router.post(
    "",
    summary="Register a webhook for a department's notifications",
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(401, 403, 409, 422),
)
def register_webhook(
    registration: WebhookRegistration,
    principal: CurrentPrincipal,
    session: SessionDep,
    settings: SettingsDep,
) -> RegisteredWebhook:
    """Assignments, urges, escalations and decisions on the department's extension requests
    are POSTed to `url` as signed JSON from now on. The answer holds the signing secret, shown
    only here. A URL that is not http(s), carries credentials, or names a blocked address
    (`GRIDLOOP_WEBHOOK_BLOCKED_NETWORKS`) is refused with 422; a sixth active webhook of one
    department with 409 `webhook_limit_reached`."""
    department = _department_registering(principal, registration.department)
    problem = url_problem(registration.url, settings.webhook_blocked_networks)
    if problem is not None:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "validation_error",
            details=[{"loc": ["body", "url"], "msg": problem, "type": "invalid_webhook_url"}],
        )
    if session.get(DepartmentRecord, department) is None:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "unknown_department", {"code": department}
        )
    limit = webhooks.MAX_ACTIVE_PER_DEPARTMENT
    if webhooks.active_count(session, department) >= limit:
        raise ApiError(
            status.HTTP_409_CONFLICT,
            "webhook_limit_reached",
            {"department": department, "limit": str(limit)},
        )
    record = webhooks.register(
        session, department, registration.url, principal.user_id, datetime.now(UTC)
    )
    session.commit()
    return RegisteredWebhook(**Webhook.model_validate(record).model_dump(), secret=record.secret)


@router.get(
    "",
    summary="List webhooks: a department's own, or every department's for coordinators",
    responses=error_responses(401, 403, 422),
)
def list_webhooks(
    principal: CurrentPrincipal, session: SessionDep, department: Code = None
) -> list[Webhook]:
    """Active ones first, then revoked ones; the secrets are never shown again."""
    scope = _scope(principal, department)
    return [Webhook.model_validate(record) for record in webhooks.list_webhooks(session, scope)]


@router.delete(
    "/{webhook_id}",
    summary="Revoke a webhook: nothing more is sent to it, retries included",
    responses=error_responses(401, 403, 404, 422),
)
def revoke_webhook(
    webhook_id: WebhookId, principal: CurrentPrincipal, session: SessionDep
) -> Webhook:
    """The webhook as revoked. Revoking twice is the same as once; another department's
    webhook is not found."""
    record = session.get(WebhookRecord, webhook_id)
    if record is None or _scope(principal, None) not in (None, record.department):
        raise ApiError(status.HTTP_404_NOT_FOUND, "not_found")
    webhooks.revoke(session, record, datetime.now(UTC))
    session.commit()
    return Webhook.model_validate(record)


@router.get(
    "/deliveries",
    summary="The delivery log: every notification to every webhook, with each attempt",
    responses=error_responses(401, 403, 422),
)
def delivery_log(
    principal: CurrentPrincipal,
    session: SessionDep,
    department: Code = None,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    case_no: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    webhook_id: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> DeliveryPage:
    """Newest first. Coordinators read every department's deliveries; a department its own
    (naming another department is 403)."""
    filters = webhooks.DeliveryFilters(
        department=_scope(principal, department),
        status=delivery_status,
        case_no=case_no,
        webhook_id=webhook_id,
    )
    page = webhooks.search_deliveries(session, filters, limit=limit, offset=offset)
    return DeliveryPage(
        items=[
            Delivery.model_validate(
                {
                    **{c: getattr(entry.delivery, c) for c in DELIVERY_COLUMNS},
                    "url": entry.url,
                    "log": [DeliveryAttempt.model_validate(a) for a in entry.attempts],
                }
            )
            for entry in page.entries
        ],
        total=page.total,
        next_offset=page.next_offset,
    )


DELIVERY_COLUMNS = tuple(name for name in Delivery.model_fields if name not in ("url", "log"))


def _department_registering(principal: Principal, named: str | None) -> str:
    """A department registers for itself; a coordinator names the department."""
    department = _scope(principal, named)
    if department is None:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "validation_error",
            details=[
                {
                    "loc": ["body", "department"],
                    "msg": "a coordinator names the department",
                    "type": "missing",
                }
            ],
        )
    return department


def _scope(principal: Principal, named: str | None) -> str | None:
    """Whose webhooks and deliveries the caller reads: a department only its own, coordinators
    the one named or (None) everyone's."""
    if principal.role is Role.COORDINATOR:
        return named
    if principal.role is Role.DEPARTMENT and principal.department is not None:
        if named not in (None, principal.department):
            raise ApiError(status.HTTP_403_FORBIDDEN, "forbidden")
        return principal.department
    raise ApiError(status.HTTP_403_FORBIDDEN, "forbidden")
