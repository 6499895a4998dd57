"""Departments' webhooks and their delivery log.

Registering and revoking a webhook is configuration, written by the API on a department's or a
coordinator's request (as `gridloop api-token` writes tokens). The delivery log is written only
by the delivery activities (activities/webhooks.py); the API and the console read it.
"""

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from domain.notifications import Notification
from store.models import WebhookAttemptRecord, WebhookDeliveryRecord, WebhookRecord

# A department's systems rarely need more; each one is called on every notification.
MAX_ACTIVE_PER_DEPARTMENT = 5
SECRET_PREFIX = "whsec_"
# Kept short: an error text is for people reading the log, never a receiver's whole answer.
MAX_ERROR_LENGTH = 300


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    """Attempts go on."""
    DELIVERED = "delivered"
    """A 2xx answer."""
    FAILED = "failed"
    """Refused for good (a 4xx other than 408 and 429, a blocked address, a revoked webhook),
    or every attempt failed."""


# ---- configuration ----------------------------------------------------------------------------


def register(
    session: Session, department: str, url: str, created_by: str, now: datetime
) -> WebhookRecord:
    """A new webhook with a fresh secret, shown to its registrant once."""
    record = WebhookRecord(
        id=f"wh_{secrets.token_hex(12)}",
        department=department,
        url=url,
        secret=f"{SECRET_PREFIX}{secrets.token_urlsafe(32)}",
        created_by=created_by,
        created_at=now,
        revoked_at=None,
    )
    session.add(record)
    return record


def active_count(session: Session, department: str) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(WebhookRecord)
        .where(WebhookRecord.department == department, WebhookRecord.revoked_at.is_(None))
    )
    return int(count or 0)


def list_webhooks(session: Session, department: str | None) -> Sequence[WebhookRecord]:
    """A department's webhooks (None: every department's), active ones first, newest first."""
    query = select(WebhookRecord)
    if department is not None:
        query = query.where(WebhookRecord.department == department)
    query = query.order_by(
        WebhookRecord.revoked_at.is_not(None),
        WebhookRecord.created_at.desc(),
        WebhookRecord.id,
    )
    return session.scalars(query).all()


def revoke(session: Session, record: WebhookRecord, now: datetime) -> None:
    """No further deliveries to it, including retries of notifications already under way."""
    if record.revoked_at is None:
        record.revoked_at = now


def active_webhook_ids(session: Session, department: str) -> list[str]:
    return list(
        session.scalars(
            select(WebhookRecord.id)
            .where(WebhookRecord.department == department, WebhookRecord.revoked_at.is_(None))
            .order_by(WebhookRecord.created_at, WebhookRecord.id)
        )
    )


def departments_with_webhooks(session: Session, departments: Iterable[str]) -> set[str]:
    """Those of `departments` with at least one active webhook."""
    return set(
        session.scalars(
            select(WebhookRecord.department)
            .where(
                WebhookRecord.department.in_(set(departments)),
                WebhookRecord.revoked_at.is_(None),
            )
            .distinct()
        )
    )


# ---- the delivery log: written by the delivery activities --------------------------------------


@dataclass(frozen=True)
class Target:
    """A webhook a delivery attempt still has to call."""

    delivery_id: int
    webhook_id: str
    url: str
    secret: str
    attempts: int


@dataclass(frozen=True)
class Targets:
    pending: list[Target] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def open_deliveries(
    session: Session, notification: Notification, webhook_ids: Sequence[str], now: datetime
) -> Targets:
    """The delivery row of each webhook (created on the first attempt), sorted into those
    still to call, those delivered, and those failed. A webhook revoked meanwhile fails."""
    rows = {
        row.webhook_id: row
        for row in session.scalars(
            select(WebhookDeliveryRecord).where(
                WebhookDeliveryRecord.notification_id == notification.notification_id
            )
        )
    }
    webhooks = {
        record.id: record
        for record in session.scalars(
            select(WebhookRecord).where(WebhookRecord.id.in_(list(webhook_ids)))
        )
    }
    targets = Targets()
    for webhook_id in webhook_ids:
        webhook = webhooks.get(webhook_id)
        row = rows.get(webhook_id)
        if row is None:
            row = _new_delivery(notification, webhook_id, now)
            session.add(row)
            session.flush()
        if row.status == DeliveryStatus.PENDING and (webhook is None or webhook.revoked_at):
            row.status, row.last_error = DeliveryStatus.FAILED, "webhook revoked"
        if row.status == DeliveryStatus.DELIVERED:
            targets.delivered.append(webhook_id)
        elif row.status == DeliveryStatus.FAILED:
            targets.failed.append(webhook_id)
        elif webhook is not None:
            targets.pending.append(
                Target(row.id, webhook_id, webhook.url, webhook.secret, row.attempts)
            )
    return targets


def _new_delivery(
    notification: Notification, webhook_id: str, now: datetime
) -> WebhookDeliveryRecord:
    return WebhookDeliveryRecord(
        notification_id=notification.notification_id,
        webhook_id=webhook_id,
        department=notification.department,
        case_no=notification.case_no,
        event=notification.event.value,
        sequence=notification.sequence,
        status=DeliveryStatus.PENDING.value,
        attempts=0,
        last_status_code=None,
        last_error=None,
        created_at=now,
        last_attempt_at=None,
        delivered_at=None,
    )


@dataclass(frozen=True)
class AttemptResult:
    """What one request to one webhook gave."""

    delivery_id: int
    at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    status: DeliveryStatus
    """The delivery's status after this attempt."""


def record_attempts(session: Session, results: Sequence[AttemptResult]) -> None:
    for result in results:
        row = session.get_one(WebhookDeliveryRecord, result.delivery_id)
        if row.status != DeliveryStatus.PENDING:
            continue
        row.attempts += 1
        row.status = result.status.value
        row.last_status_code = result.status_code
        row.last_error = None if result.error is None else result.error[:MAX_ERROR_LENGTH]
        row.last_attempt_at = result.at
        if result.status is DeliveryStatus.DELIVERED:
            row.delivered_at = result.at
        session.add(
            WebhookAttemptRecord(
                delivery_id=row.id,
                attempt=row.attempts,
                at=result.at,
                status_code=result.status_code,
                error=row.last_error,
                duration_ms=result.duration_ms,
            )
        )


def fail_pending(session: Session, notification_id: str, webhook_ids: Sequence[str]) -> None:
    """After the last attempt: every delivery of the notification still pending has failed."""
    rows = session.scalars(
        select(WebhookDeliveryRecord).where(
            WebhookDeliveryRecord.notification_id == notification_id,
            WebhookDeliveryRecord.webhook_id.in_(list(webhook_ids)),
            WebhookDeliveryRecord.status == DeliveryStatus.PENDING.value,
        )
    )
    for row in rows:
        row.status = DeliveryStatus.FAILED.value


def delivery_statuses(session: Session, notification_id: str) -> dict[str, DeliveryStatus]:
    return {
        webhook_id: DeliveryStatus(status)
        for webhook_id, status in session.execute(
            select(WebhookDeliveryRecord.webhook_id, WebhookDeliveryRecord.status).where(
                WebhookDeliveryRecord.notification_id == notification_id
            )
        )
    }


# ---- reading the log ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryFilters:
    department: str | None = None
    status: DeliveryStatus | None = None
    case_no: str | None = None
    webhook_id: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.department is not None:
            conditions.append(WebhookDeliveryRecord.department == self.department)
        if self.status is not None:
            conditions.append(WebhookDeliveryRecord.status == self.status.value)
        if self.case_no is not None:
            conditions.append(WebhookDeliveryRecord.case_no == self.case_no)
        if self.webhook_id is not None:
            conditions.append(WebhookDeliveryRecord.webhook_id == self.webhook_id)
        return conditions


@dataclass(frozen=True)
class DeliveryEntry:
    delivery: WebhookDeliveryRecord
    url: str
    attempts: list[WebhookAttemptRecord]


@dataclass(frozen=True)
class DeliveryPage:
    entries: list[DeliveryEntry]
    total: int
    next_offset: int | None


def search_deliveries(
    session: Session, filters: DeliveryFilters, *, limit: int, offset: int
) -> DeliveryPage:
    """Newest first, each with its webhook's URL and its attempts."""
    conditions = filters.conditions()
    total = session.scalar(
        select(func.count()).select_from(WebhookDeliveryRecord).where(*conditions)
    )
    rows = session.execute(
        select(WebhookDeliveryRecord, WebhookRecord.url)
        .join(WebhookRecord, WebhookRecord.id == WebhookDeliveryRecord.webhook_id)
        .where(*conditions)
        .order_by(WebhookDeliveryRecord.created_at.desc(), WebhookDeliveryRecord.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    attempts: dict[int, list[WebhookAttemptRecord]] = {}
    if rows:
        for attempt in session.scalars(
            select(WebhookAttemptRecord)
            .where(WebhookAttemptRecord.delivery_id.in_([row.id for row, _ in rows]))
            .order_by(WebhookAttemptRecord.delivery_id, WebhookAttemptRecord.attempt)
        ):
            attempts.setdefault(attempt.delivery_id, []).append(attempt)
    count = int(total or 0)
    return DeliveryPage(
        entries=[DeliveryEntry(row, url, attempts.get(row.id, [])) for row, url in rows],
        total=count,
        next_offset=offset + limit if offset + limit < count else None,
    )
