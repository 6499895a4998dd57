"""Departments' webhooks for the command centre: who registered which URL, and the delivery log
with each notification's status, attempts and last error. Departments manage their webhooks
through the API (docs/webhooks.md)."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import func, select

from domain.model import Role
from store import webhooks
from store.models import WebhookDeliveryRecord
from store.webhooks import DeliveryStatus
from web.render import HOME, render
from web.session import SignedIn, sessions_of

router = APIRouter(include_in_schema=False)

# The newest deliveries shown; the API pages through all of them.
LOG_ROWS = 100


@router.get("/webhooks")
def webhooks_page(
    request: Request,
    me: SignedIn,
    delivery_status: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
) -> Response:
    if me.role is not Role.COORDINATOR:
        return RedirectResponse(HOME[me.role], status.HTTP_303_SEE_OTHER)
    with sessions_of(request)() as session:
        registered = webhooks.list_webhooks(session, None)
        log = webhooks.search_deliveries(
            session, webhooks.DeliveryFilters(status=delivery_status), limit=LOG_ROWS, offset=0
        )
        counts = dict(
            session.execute(
                select(WebhookDeliveryRecord.status, func.count()).group_by(
                    WebhookDeliveryRecord.status
                )
            ).all()
        )
    return render(
        request,
        "webhooks.html",
        {
            "registered": registered,
            "log": log,
            "counts": counts,
            "statuses": list(DeliveryStatus),
            "selected": delivery_status,
        },
        principal=me,
    )
