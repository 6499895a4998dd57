"""Which actions a user may take on a case right now, and the choices each form offers.

Availability is asked of the case's own rules (domain.rules.validate on the case as of now), with
sample values for the fields a form will ask for; so the page never offers what the workflow
would refuse, and a form that is offered can still be refused (409) if the case moved meanwhile.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from domain import rules
from domain.errors import CaseRuleViolation
from domain.messages import (
    AddProgressNote,
    Command,
    CompleteWork,
    ConveneConsultation,
    DecideExtension,
    Dispatch,
    Escalate,
    RateFeedback,
    ReassignWork,
    RecordConsultationDecision,
    RecordFollowUp,
    RecordReviewFindings,
    RequestExtension,
    ResolveOnSite,
    ReturnWork,
    SubmitFinalReply,
    SuspendCase,
    VerifyOnSite,
    WithdrawWork,
)
from domain.model import FollowUpOutcome, Rating, ReviewOutcome, Role
from domain.state import CaseState
from gridloop.access import Principal
from gridloop.cases import ACTION_COMMANDS
from web.i18n import N_

SAMPLE_TEXT = "…"
SAMPLE_URL = "https://evidence.example/sample.jpg"


@dataclass(frozen=True)
class Action:
    """One form on the case page."""

    name: str  # the path segment, as in the API: /cases/{no}/do/<name>
    command: type[Command]
    title: str
    tone: str = ""
    departments: tuple[str, ...] = ()
    """Departments the form lets the user pick (where the action names one)."""
    defaults: dict[str, Any] = field(default_factory=dict)


TITLES: dict[str, str] = {
    "sign": N_("Sign for the work"),
    "complete": N_("Report the work done"),
    "final-reply": N_("Write the final reply"),
    "extension": N_("Ask for more time"),
    "return": N_("Return the work"),
    "dispatch": N_("Dispatch"),
    "consultation": N_("Convene a consultation"),
    "consultation/decision": N_("Record the decision"),
    "extension/decision": N_("Decide on an extension"),
    "urge": N_("Urge a department"),
    "reassign": N_("Reassign work"),
    "withdraw": N_("Withdraw a co-handler's work"),
    "escalate": N_("Escalate a tier"),
    "suspend": N_("Suspend the case"),
    "resume": N_("Resume the case"),
    "resolve-on-site": N_("Resolve on the spot"),
    "verification": N_("Verify on site"),
    "follow-up": N_("Record the follow-up re-check"),
    "feedback": N_("Record the reporter's rating (callback)"),
    "notes": N_("Add a progress note"),
    "review": N_("Record the review findings"),
}
ACTIONS: dict[str, tuple[type[Command], str]] = {
    name: (ACTION_COMMANDS[name], title) for name, title in TITLES.items()
}


def available(
    principal: Principal,
    case: CaseState,
    now: datetime,
    departments: tuple[str, ...],
    routing: tuple[str, tuple[str, ...]] | None,
) -> list[Action]:
    """The actions `principal` may take on `case` at `now`. `departments` are every department
    code (for dispatch and consultation forms); `routing` is the category's lead and co-handlers."""
    if principal.role is Role.GRID_WORKER and case.report.grid not in principal.grids:
        return []
    current = case.as_of(now)
    open_work = tuple(a.department for a in current.round_assignments() if a.active)
    offered: list[Action] = []
    for name, (command, title) in ACTIONS.items():
        if principal.role not in rules.RULES[command].roles:
            continue
        choices = _choices(name, current, open_work, departments)
        if choices is None:
            if _allowed(current, command, principal, now, {}):
                offered.append(Action(name, command, title, defaults=_defaults(name, routing)))
            continue
        fitting = tuple(
            d for d in choices if _allowed(current, command, principal, now, _sample(name, d))
        )
        if fitting:
            offered.append(
                Action(name, command, title, departments=fitting, defaults=_defaults(name, routing))
            )
    return offered


def _choices(
    name: str, case: CaseState, open_work: tuple[str, ...], departments: tuple[str, ...]
) -> tuple[str, ...] | None:
    """The departments an action's form picks from; None for actions that name none."""
    if name in ("extension/decision", "urge", "withdraw", "reassign"):
        return open_work
    if name == "notes":
        return open_work
    if name in ("dispatch", "consultation/decision"):
        return (
            departments
            if case.status.value in ("awaiting_triage", "awaiting_rerouting", "consulting")
            else ()
        )
    return None


def _sample(name: str, department: str) -> dict[str, Any]:
    if name in ("dispatch", "consultation/decision"):
        return {"lead_department": department}
    if name == "reassign":
        return {"department": department, "to_department": f"{department}-other"}
    return {"department": department}


SAMPLES: dict[type[Command], dict[str, Any]] = {
    ResolveOnSite: {"result": SAMPLE_TEXT, "evidence_urls": (SAMPLE_URL,)},
    Dispatch: {},
    ConveneConsultation: {"participants": ("-",)},
    RecordConsultationDecision: {"participants": ("-",), "minutes": SAMPLE_TEXT},
    Escalate: {"reason": SAMPLE_TEXT},
    CompleteWork: {"result": SAMPLE_TEXT},
    ReturnWork: {"reason": SAMPLE_TEXT},
    ReassignWork: {"reason": SAMPLE_TEXT},
    WithdrawWork: {"reason": SAMPLE_TEXT},
    AddProgressNote: {"note": SAMPLE_TEXT},
    RequestExtension: {"extra_days": 1, "reason": SAMPLE_TEXT},
    DecideExtension: {"approve": True},
    SuspendCase: {"reason": SAMPLE_TEXT},
    SubmitFinalReply: {"reply": SAMPLE_TEXT},
    VerifyOnSite: {"passed": True},
    RateFeedback: {"rating": Rating.SATISFIED},
    RecordFollowUp: {"outcome": FollowUpOutcome.STILL_RESOLVED},
    RecordReviewFindings: {"root_cause": SAMPLE_TEXT, "outcome": ReviewOutcome.NONE},
}


def _allowed(
    case: CaseState,
    command: type[Command],
    principal: Principal,
    now: datetime,
    fields: dict[str, Any],
) -> bool:
    try:
        probe = command(
            request_id=uuid.uuid4().hex,
            actor=principal.actor(),
            **(SAMPLES.get(command, {}) | fields),
        )
        rules.validate(case, probe, now)
    except (CaseRuleViolation, ValidationError):
        return False
    return True


def _defaults(name: str, routing: tuple[str, tuple[str, ...]] | None) -> dict[str, Any]:
    """The category's routing rule, offered as the first choice of a dispatch."""
    if name in ("dispatch", "consultation/decision") and routing is not None:
        lead, co_handlers = routing
        return {"lead_department": lead, "co_departments": co_handlers}
    return {}
