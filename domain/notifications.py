"""What a department hears about its work on a case, and how a webhook carries it.

`notifications` maps the case's business events to the departments they concern: work assigned
or taken back, urges (催办, manual and automatic), escalations (督办 and a raised tier) and the
decisions on a department's extension requests. A notification carries a small summary of the
case and never the reporter's contact details.

The wire format is here too, pure, so that the delivery activity and the documentation agree:
the JSON body and its HMAC-SHA256 signature (docs/webhooks.md).
"""

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Iterable, Sequence
from enum import StrEnum
from urllib.parse import urlsplit

from pydantic import AwareDatetime, Field

from domain.messages import CaseEvent, EventValue
from domain.model import Frozen
from domain.state import Assignment, CaseState


class NotificationEvent(StrEnum):
    ASSIGNED = "assigned"
    """Work assigned to the department: a dispatch, a consultation's decision, a new handling
    round, a re-routing or a reassignment (改派) to it."""
    WITHDRAWN = "withdrawn"
    """Its open work taken back by the command centre (撤回, or 改派 to another department)."""
    URGED = "urged"
    """催办: by a coordinator, or automatically when a deadline passed."""
    ESCALATED = "escalated"
    """督办: a breach supervised at a higher tier, or the case raised a tier while the
    department has open work on it."""
    EXTENSION_APPROVED = "extension_approved"
    EXTENSION_REJECTED = "extension_rejected"


class CaseBrief(Frozen):
    """What a department's system needs to file a notification; details are in the API."""

    category: str
    urgency: str
    grid: str
    town: str
    tier: str
    description: str


class Notification(Frozen):
    """One event of one case, addressed to one department."""

    department: str
    event: NotificationEvent
    case_no: str
    sequence: int = Field(ge=1, description="the business event's sequence in the case")
    occurred_at: AwareDatetime
    case: CaseBrief
    data: dict[str, EventValue] = Field(default_factory=dict)

    @property
    def notification_id(self) -> str:
        """Stable across retries and redeliveries: receivers deduplicate on it."""
        return f"{self.case_no}-{self.sequence}-{self.department}"


def notifications(case: CaseState, after: int) -> list[Notification]:
    """Notifications for the case's events after sequence `after`, in event order. Whom an
    event concerns follows from the events before it, so the answer for an event never changes;
    the deadlines of an assignment are those it has when the notification is made (at once, in
    the workflow)."""
    found: list[Notification] = []
    story = _Story()
    for event in case.events:
        story.follow(event)
        if event.sequence <= after:
            continue
        brief = CaseBrief(
            category=case.report.category,
            urgency=case.report.urgency.value,
            grid=case.report.grid,
            town=case.report.town,
            tier=story.tier,
            description=case.report.description,
        )
        found += [
            Notification(
                department=department,
                event=kind,
                case_no=case.case_no,
                sequence=event.sequence,
                occurred_at=event.at,
                case=brief,
                data=data,
            )
            for department, kind, data in _addressed(case, event, story)
        ]
    return found


class _Story:
    """The case as its events tell it so far: its tier and the departments with open work."""

    def __init__(self) -> None:
        self.tier = "grid"
        self.working: list[str] = []

    def follow(self, event: CaseEvent) -> None:
        data = event.data
        if event.type == "escalated":
            self.tier = str(data.get("to_tier", self.tier))
        elif event.type in ("round_started", "rerouted"):
            departments = data.get("departments")
            named = (
                [d for d in departments if isinstance(d, str)]
                if isinstance(departments, list)
                else []
            )
            kept = self.working if event.type == "rerouted" else []
            self.working = kept + [d for d in named if d not in kept]
        elif event.type in ("completed", "returned", "withdrawn", "reassigned"):
            self.working = [d for d in self.working if d != data.get("department")]
            if event.type == "reassigned" and isinstance(data.get("to_department"), str):
                self.working.append(str(data["to_department"]))


Addressed = list[tuple[str, NotificationEvent, dict[str, EventValue]]]


def _addressed(case: CaseState, event: CaseEvent, story: _Story) -> Addressed:
    """Whom one event concerns, and what they are told. Never raises: it runs in the case's
    workflow, where an exception would stop the case."""
    if event.type in ("round_started", "rerouted"):
        return _assignments_made(case, event)
    if event.type == "reassigned":
        return _reassigned(case, event)
    if event.type == "escalated":
        told = _pick(event.data, "from_tier", "to_tier", "reason")
        return [(d, NotificationEvent.ESCALATED, told) for d in story.working]
    department = event.data.get("department")
    addressed = _TO_THE_DEPARTMENT.get(event.type)
    if addressed is None or not isinstance(department, str):
        return []
    kind, keys, extra = addressed
    return [(department, kind, _pick(event.data, *keys) | extra)]


# Events about one department's work, named in the event's `department`: what it is told.
_TO_THE_DEPARTMENT: dict[str, tuple[NotificationEvent, tuple[str, ...], dict[str, EventValue]]] = {
    "withdrawn": (NotificationEvent.WITHDRAWN, ("assignment_id", "reason"), {}),
    "urged": (NotificationEvent.URGED, ("assignment_id", "clock", "automatic", "message"), {}),
    "supervised": (
        NotificationEvent.ESCALATED,
        ("assignment_id", "clock", "tier"),
        {"breach": True},
    ),
    "extension_approved": (
        NotificationEvent.EXTENSION_APPROVED,
        ("assignment_id", "extra_days", "comment", "previous_due_at", "due_at"),
        {},
    ),
    "extension_rejected": (
        NotificationEvent.EXTENSION_REJECTED,
        ("assignment_id", "extra_days", "comment"),
        {},
    ),
}


def _assignments_made(case: CaseState, event: CaseEvent) -> Addressed:
    departments, number = event.data.get("departments"), event.data.get("round")
    if not isinstance(departments, list) or not isinstance(number, int):
        return []
    reason = str(event.data.get("reason", "rerouted"))
    return [
        (department, NotificationEvent.ASSIGNED, _assigned(assignment, reason))
        for department in departments
        if (assignment := _round_assignment(case, number, department)) is not None
    ]


def _reassigned(case: CaseState, event: CaseEvent) -> Addressed:
    department, to_department = event.data.get("department"), event.data.get("to_department")
    if not isinstance(department, str) or not isinstance(to_department, str):
        return []
    told = _pick(event.data, "assignment_id", "reason") | {"reassigned_to": to_department}
    addressed: Addressed = [(department, NotificationEvent.WITHDRAWN, told)]
    new = _assignment(case, event.data.get("new_assignment_id"))
    if new is not None:
        addressed.append((to_department, NotificationEvent.ASSIGNED, _assigned(new, "reassigned")))
    return addressed


def _assigned(assignment: Assignment, reason: str) -> dict[str, EventValue]:
    return {
        "assignment_id": assignment.assignment_id,
        "round": assignment.round,
        "role": assignment.role.value,
        "reason": reason,
        "sign_due_at": assignment.sign_clock.due_at.isoformat(),
        "due_at": assignment.handling_clock.due_at.isoformat(),
    }


def _round_assignment(case: CaseState, number: int, department: str) -> Assignment | None:
    matching = [a for a in case.assignments if a.round == number and a.department == department]
    return matching[-1] if matching else None


def _assignment(case: CaseState, assignment_id: EventValue) -> Assignment | None:
    return next((a for a in case.assignments if a.assignment_id == assignment_id), None)


def _pick(data: dict[str, EventValue], *keys: str) -> dict[str, EventValue]:
    return {key: data[key] for key in keys if key in data}


# ---- delivery: the messages between the delivery workflow and its activities -----------------


class DeliveryPlan(Frozen):
    """Where and how to deliver one notification, read once when its delivery starts."""

    webhook_ids: tuple[str, ...]
    """The department's webhooks registered (and not revoked) at that moment."""
    retry_initial_seconds: float = Field(gt=0)
    retry_maximum_seconds: float = Field(gt=0)
    max_attempts: int = Field(ge=1)
    timeout_seconds: float = Field(gt=0)


class DeliveryRequest(Frozen):
    notification: Notification
    webhook_ids: tuple[str, ...] = Field(min_length=1)
    timeout_seconds: float = Field(gt=0)


class DeliveryOutcome(Frozen):
    notification_id: str
    delivered: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


# ---- the wire format -------------------------------------------------------------------------


SIGNATURE_HEADER = "X-Gridloop-Signature"
EVENT_HEADER = "X-Gridloop-Event"
DELIVERY_HEADER = "X-Gridloop-Delivery"


def webhook_body(notification: Notification) -> bytes:
    """The JSON body: the same bytes on every attempt, so a retry carries the same signature
    input apart from its timestamp."""
    document = {"id": notification.notification_id, **notification.model_dump(mode="json")}
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text.encode("utf-8")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Gridloop-Signature` value: `t=<unix seconds>,v1=<hex HMAC-SHA256>` over
    `<timestamp>.<body>` with the webhook's secret."""
    signed = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# ---- which URLs a webhook may have -----------------------------------------------------------


MAX_URL_LENGTH = 2000
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def url_problem(url: str, blocked: Sequence[Network]) -> str | None:
    """Why `url` cannot be a webhook, or None. Only absolute http(s) URLs without credentials
    or fragment; a host written as an IP address must lie outside the blocked networks (a host
    name is checked on every delivery, where it resolves)."""
    if len(url) > MAX_URL_LENGTH:
        return f"at most {MAX_URL_LENGTH} characters"
    if any(c.isspace() or not c.isprintable() for c in url):
        return "no spaces or control characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as malformed:
        return f"not a valid URL ({malformed})"
    if parts.scheme not in ("http", "https"):
        return "only http and https URLs"
    if parts.username is not None or parts.password is not None:
        return "no credentials in the URL; verify the signature instead"
    if parts.fragment:
        return "no fragment"
    host = parts.hostname
    if not host:
        return "a host is required"
    if port == 0:
        return "port 0 is not allowed"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if blocked_address(address, blocked):
        return f"address {address} is not allowed (GRIDLOOP_WEBHOOK_BLOCKED_NETWORKS)"
    return None


def blocked_address(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, blocked: Iterable[Network]
) -> bool:
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    candidates = [address] if mapped is None else [address, mapped]
    return any(
        a in network for a in candidates for network in blocked if a.version == network.version
    )
