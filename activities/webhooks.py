"""Deliver notifications to departments' webhooks: signed JSON over HTTP, every attempt in the
delivery log. The NotificationDelivery workflow retries a failed attempt with backoff; a webhook
that answered 2xx is not called again for the same notification."""

import asyncio
import socket
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from ipaddress import ip_address
from urllib.parse import urlsplit

import httpx
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.notifications import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    DeliveryOutcome,
    DeliveryPlan,
    DeliveryRequest,
    Network,
    Notification,
    blocked_address,
    signature,
    webhook_body,
)
from gridloop.settings import Settings
from store import webhooks
from store.webhooks import AttemptResult, DeliveryStatus, Target

# Backoff doubles from the initial interval up to this.
MAX_RETRY_INTERVAL_SECONDS = 3600.0
# A receiver refusing the request itself will refuse it again; these two ask to be retried.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 429})
USER_AGENT = "gridloop-webhooks/1"
RETRYABLE_FAILURE = "webhook_delivery_failed"


class WebhookActivities:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._blocked: Sequence[Network] = tuple(settings.webhook_blocked_networks)

    @activity.defn(name="plan_delivery")
    def plan_delivery(self, notification: Notification) -> DeliveryPlan:
        """The department's webhooks now, and the retry settings, recorded in the delivery's
        history so that its retries follow one plan."""
        with self._sessions() as session:
            ids = webhooks.active_webhook_ids(session, notification.department)
        settings = self._settings
        return DeliveryPlan(
            webhook_ids=tuple(ids),
            retry_initial_seconds=settings.webhook_retry_initial_seconds,
            retry_maximum_seconds=MAX_RETRY_INTERVAL_SECONDS,
            max_attempts=settings.webhook_max_attempts,
            timeout_seconds=settings.webhook_timeout_seconds,
        )

    @activity.defn(name="deliver_notification")
    async def deliver_notification(self, request: DeliveryRequest) -> DeliveryOutcome:
        """Call every webhook not yet done with, side by side; raise (to be retried) while any
        of them failed in a way a retry may cure."""
        notification = request.notification
        targets = await asyncio.to_thread(self._open, request)
        body = webhook_body(notification)
        async with httpx.AsyncClient(
            timeout=request.timeout_seconds, follow_redirects=False
        ) as client:
            results = await asyncio.gather(
                *(
                    self._call(client, target, notification, body, request.timeout_seconds)
                    for target in targets.pending
                )
            )
        await asyncio.to_thread(self._record, results)
        outcome = {t.webhook_id: r for t, r in zip(targets.pending, results, strict=True)}
        retrying = {w: r for w, r in outcome.items() if r.status is DeliveryStatus.PENDING}
        for webhook_id, result in retrying.items():
            activity.logger.warning(
                "webhook delivery failed, will retry",
                extra={
                    "notification_id": notification.notification_id,
                    "webhook_id": webhook_id,
                    "error": result.error,
                },
            )
        if retrying:
            first = next(iter(retrying.values()))
            raise ApplicationError(
                f"{len(retrying)} webhook(s) failed: {first.error}", type=RETRYABLE_FAILURE
            )
        return DeliveryOutcome(
            notification_id=notification.notification_id,
            delivered=(*targets.delivered, *_with(outcome, DeliveryStatus.DELIVERED)),
            failed=(*targets.failed, *_with(outcome, DeliveryStatus.FAILED)),
        )

    @activity.defn(name="record_delivery_failure")
    def record_delivery_failure(self, request: DeliveryRequest) -> DeliveryOutcome:
        """After the last attempt: what is still pending has failed."""
        notification_id = request.notification.notification_id
        with self._sessions.begin() as session:
            webhooks.fail_pending(session, notification_id, request.webhook_ids)
            statuses = webhooks.delivery_statuses(session, notification_id)
        return DeliveryOutcome(
            notification_id=notification_id,
            delivered=tuple(w for w, s in statuses.items() if s is DeliveryStatus.DELIVERED),
            failed=tuple(w for w, s in statuses.items() if s is DeliveryStatus.FAILED),
        )

    def _open(self, request: DeliveryRequest) -> webhooks.Targets:
        with self._sessions.begin() as session:
            return webhooks.open_deliveries(
                session, request.notification, request.webhook_ids, datetime.now(UTC)
            )

    def _record(self, results: Sequence[AttemptResult]) -> None:
        with self._sessions.begin() as session:
            webhooks.record_attempts(session, results)

    async def _call(
        self,
        client: httpx.AsyncClient,
        target: Target,
        notification: Notification,
        body: bytes,
        timeout_seconds: float,
    ) -> AttemptResult:
        started_at, started = datetime.now(UTC), time.monotonic()

        def result(status: DeliveryStatus, code: int | None, error: str | None) -> AttemptResult:
            elapsed = int((time.monotonic() - started) * 1000)
            return AttemptResult(target.delivery_id, started_at, elapsed, code, error, status)

        refused = await self._address_refused(target.url)
        if refused is not None:
            return result(*refused)
        timestamp = int(started_at.timestamp())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: notification.event.value,
            DELIVERY_HEADER: notification.notification_id,
            SIGNATURE_HEADER: signature(target.secret, timestamp, body),
        }
        try:
            # The whole request, connecting and reading included, not each phase alone.
            async with asyncio.timeout(timeout_seconds):
                response = await client.post(target.url, content=body, headers=headers)
        except (TimeoutError, httpx.TimeoutException):
            return result(DeliveryStatus.PENDING, None, f"no answer within {timeout_seconds:g} s")
        except httpx.HTTPError as failed:
            return result(DeliveryStatus.PENDING, None, f"{type(failed).__name__}: {failed}")
        code = response.status_code
        if 200 <= code < 300:
            return result(DeliveryStatus.DELIVERED, code, None)
        if 400 <= code < 500 and code not in RETRYABLE_CLIENT_ERRORS:
            return result(DeliveryStatus.FAILED, code, f"HTTP {code}: refused by the receiver")
        return result(DeliveryStatus.PENDING, code, f"HTTP {code}")

    async def _address_refused(self, url: str) -> tuple[DeliveryStatus, None, str] | None:
        """Where the host resolves to now: a blocked address fails the delivery for good (the
        registration checked only an address written in the URL)."""
        if not self._blocked:
            return None
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            found = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as unresolved:
            return DeliveryStatus.PENDING, None, f"cannot resolve {host}: {unresolved}"
        for *_, address in found:
            resolved = ip_address(str(address[0]).split("%")[0])
            if blocked_address(resolved, self._blocked):
                return DeliveryStatus.FAILED, None, f"address {resolved} is not allowed"
        return None


def _with(outcome: dict[str, AttemptResult], status: DeliveryStatus) -> list[str]:
    return [webhook_id for webhook_id, result in outcome.items() if result.status is status]
