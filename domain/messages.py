"""One typed message per action on a case, and the answers the workflow gives.

Every message carries a request id (the same id twice has one effect) and its actor.
"""

from pydantic import AwareDatetime, Field, model_validator

from domain.model import (
    Actor,
    FeedbackChannel,
    FollowUpOutcome,
    Frozen,
    Rating,
    Report,
    ReviewOutcome,
    ReviewTrigger,
    SlaPolicy,
    Stage,
    Status,
)

Text = str
EvidenceUrls = tuple[str, ...]
EventValue = str | int | float | bool | None | list[str]


class Command(Frozen):
    request_id: str = Field(min_length=1, max_length=100)
    actor: Actor


class ResolveOnSite(Command):
    """就地解决: a grid worker settled a small matter on the spot."""

    result: Text = Field(min_length=1, max_length=4000)
    evidence_urls: EvidenceUrls = Field(min_length=1, max_length=20)


class Dispatch(Command):
    """派单 to a lead department and optional co-handlers; also re-routes after a return."""

    lead_department: str = Field(min_length=1, max_length=64)
    co_departments: tuple[str, ...] = Field(default=(), max_length=10)
    note: Text = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _distinct_departments(self) -> "Dispatch":
        _require_distinct(self.lead_department, self.co_departments)
        return self


class ConveneConsultation(Command):
    """召开会商: the decision is due within the policy's consultation deadline."""

    participants: tuple[str, ...] = Field(min_length=1, max_length=30)
    agenda: Text = Field(default="", max_length=2000)


class DepartmentDeadline(Frozen):
    department: str = Field(min_length=1, max_length=64)
    handling_days: int = Field(ge=1, le=365)


class RecordConsultationDecision(Command):
    lead_department: str = Field(min_length=1, max_length=64)
    co_departments: tuple[str, ...] = Field(default=(), max_length=10)
    deadlines: tuple[DepartmentDeadline, ...] = Field(default=(), max_length=11)
    participants: tuple[str, ...] = Field(min_length=1, max_length=30)
    minutes: Text = Field(min_length=1, max_length=8000)

    @model_validator(mode="after")
    def _deadlines_name_assigned_departments(self) -> "RecordConsultationDecision":
        _require_distinct(self.lead_department, self.co_departments)
        assigned = {self.lead_department, *self.co_departments}
        named = [deadline.department for deadline in self.deadlines]
        if len(named) != len(set(named)) or not set(named) <= assigned:
            raise ValueError("deadlines must name each assigned department at most once")
        return self


class Escalate(Command):
    """Raise the case one tier: grid → town → county."""

    reason: Text = Field(min_length=1, max_length=2000)


class SignForWork(Command):
    """签收."""


class CompleteWork(Command):
    result: Text = Field(min_length=1, max_length=4000)
    evidence_urls: EvidenceUrls = Field(default=(), max_length=20)


class ReturnWork(Command):
    """退单: the work was mis-dispatched; back to consult for re-routing."""

    reason: Text = Field(min_length=1, max_length=2000)


class ReassignWork(Command):
    """改派: a coordinator moves a department's open work to another department."""

    department: str = Field(min_length=1, max_length=64)
    to_department: str = Field(min_length=1, max_length=64)
    reason: Text = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _to_another_department(self) -> "ReassignWork":
        if self.department == self.to_department:
            raise ValueError("work is reassigned to another department")
        return self


class WithdrawWork(Command):
    """撤回: a coordinator takes back a co-handler's open work that is no longer needed."""

    department: str = Field(min_length=1, max_length=64)
    reason: Text = Field(min_length=1, max_length=2000)


class AddProgressNote(Command):
    department: str | None = Field(
        default=None, max_length=64, description="whose assignment; defaults to the actor's"
    )
    # Kept short: notes live in the case's workflow state, which must stay small.
    note: Text = Field(min_length=1, max_length=1000)


class RequestExtension(Command):
    """延期 request: extra working days on the department's handling deadline."""

    extra_days: int = Field(ge=1, le=60)
    reason: Text = Field(min_length=1, max_length=2000)


class DecideExtension(Command):
    department: str = Field(min_length=1, max_length=64)
    approve: bool
    comment: Text = Field(default="", max_length=2000)


class SuspendCase(Command):
    """挂账, approved by a coordinator: every SLA clock pauses."""

    reason: Text = Field(min_length=1, max_length=2000)


class ResumeCase(Command):
    comment: Text = Field(default="", max_length=2000)


class Urge(Command):
    """催办: a fire-and-forget nudge to a department (a Signal)."""

    department: str = Field(min_length=1, max_length=64)
    message: Text = Field(default="", max_length=2000)


class SubmitFinalReply(Command):
    """The lead department's reply once every co-handler has finished."""

    reply: Text = Field(min_length=1, max_length=8000)


class VerifyOnSite(Command):
    """核查 by the grid worker; a failure sends the case back to handling."""

    passed: bool
    notes: Text = Field(default="", max_length=4000)
    evidence_urls: EvidenceUrls = Field(default=(), max_length=20)


class RateFeedback(Command):
    rating: Rating
    channel: FeedbackChannel = FeedbackChannel.DIRECT
    comment: Text = Field(default="", max_length=2000)


class RecordFollowUp(Command):
    outcome: FollowUpOutcome
    notes: Text = Field(default="", max_length=4000)
    evidence_urls: EvidenceUrls = Field(default=(), max_length=20)


class RecordReviewFindings(Command):
    root_cause: Text = Field(min_length=1, max_length=4000)
    responsible_departments: tuple[str, ...] = Field(default=(), max_length=20)
    responsible_people: tuple[str, ...] = Field(default=(), max_length=20)
    outcome: ReviewOutcome
    score_deduction: float = Field(default=0, ge=0, le=100)
    notes: Text = Field(default="", max_length=4000)

    @model_validator(mode="after")
    def _deduction_matches_outcome(self) -> "RecordReviewFindings":
        deducts = self.outcome is ReviewOutcome.SCORE_DEDUCTION
        if deducts != (self.score_deduction > 0):
            raise ValueError("score_deduction is given exactly when the outcome is a deduction")
        return self


def _require_distinct(lead: str, co_handlers: tuple[str, ...]) -> None:
    if lead in co_handlers or len(set(co_handlers)) != len(co_handlers):
        raise ValueError("the lead and co-handling departments must be distinct")


# ---- workflow input and answers -------------------------------------------------------------


LOOKUP_CODE_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{8}$"


class CaseInput(Frozen):
    case_no: str = Field(pattern=r"^[A-Za-z0-9-]{1,40}$")
    report: Report
    policy: SlaPolicy
    lookup_code: str | None = Field(
        default=None,
        pattern=LOOKUP_CODE_PATTERN,
        description="the reporter's code for the public progress page (Crockford base32)",
    )


class ActionAccepted(Frozen):
    """The answer to every Update: what the case looks like right after the action."""

    request_id: str
    case_no: str
    stage: Stage
    status: Status
    event_sequence: tuple[int, ...]


class CaseEvent(Frozen):
    """One entry of the business timeline; sequence numbers are dense and start at 1."""

    sequence: int
    type: str
    at: AwareDatetime
    actor: Actor
    data: dict[str, EventValue] = Field(default_factory=dict)


class CaseSummary(Frozen):
    """What a finished (archived) case workflow returns."""

    case_no: str
    closed_at: AwareDatetime | None
    rounds: int
    rehandling_rounds: int
    recurrences: int
    returns: int
    breaches: int
    rating: Rating | None
    review_triggers: tuple[ReviewTrigger, ...]
