"""Vocabulary of a case: stages, roles, the report, the SLA policy snapshot."""

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator


class Stage(StrEnum):
    """The six-stage loop (报事—会商—处置—反馈—长效跟踪—事后倒查), then the archive."""

    REPORT = "report"
    CONSULT = "consult"
    HANDLE = "handle"
    FEEDBACK = "feedback"
    FOLLOW_UP = "follow_up"
    REVIEW = "review"
    ARCHIVED = "archived"


class Status(StrEnum):
    """What the case waits for inside its stage."""

    AWAITING_TRIAGE = "awaiting_triage"
    CONSULTING = "consulting"
    AWAITING_REROUTING = "awaiting_rerouting"
    HANDLING = "handling"
    AWAITING_FINAL_REPLY = "awaiting_final_reply"
    AWAITING_VERIFICATION = "awaiting_verification"
    AWAITING_FEEDBACK = "awaiting_feedback"
    FOLLOW_UP_SCHEDULED = "follow_up_scheduled"
    FOLLOW_UP_DUE = "follow_up_due"
    AWAITING_REVIEW = "awaiting_review"
    ARCHIVED = "archived"


class Role(StrEnum):
    REPORTER = "reporter"
    GRID_WORKER = "grid_worker"
    COORDINATOR = "coordinator"
    DEPARTMENT = "department"
    AUDITOR = "auditor"
    SYSTEM = "system"


class Urgency(StrEnum):
    NORMAL = "normal"  # 一般
    MAJOR = "major"  # 较大
    SERIOUS = "serious"  # 重大
    CRITICAL = "critical"  # 紧急


class Source(StrEnum):
    GRID_PATROL = "grid_patrol"
    RESIDENT = "resident"
    HOTLINE_12345 = "hotline_12345"
    SENSOR = "sensor"
    PUBLIC_OPINION = "public_opinion"


class Tier(StrEnum):
    """小事不出村、大事不出镇: a case is escalated one tier at a time."""

    GRID = "grid"
    TOWN = "town"
    COUNTY = "county"

    def next(self) -> "Tier | None":
        order = list(Tier)
        position = order.index(self)
        return order[position + 1] if position + 1 < len(order) else None


class AssignmentRole(StrEnum):
    LEAD = "lead"  # 主办
    CO_HANDLER = "co_handler"  # 协办


class AssignmentState(StrEnum):
    AWAITING_SIGN = "awaiting_sign"
    HANDLING = "handling"
    COMPLETED = "completed"
    RETURNED = "returned"
    WITHDRAWN = "withdrawn"  # 撤回 or 改派 by a coordinator


class RoundReason(StrEnum):
    """Why a handling round started; the counts behind 重办率 and recurrence rate."""

    DISPATCH = "dispatch"
    CONSULTATION = "consultation"
    VERIFICATION_FAILED = "verification_failed"
    REHANDLING = "rehandling"
    RECURRENCE = "recurrence"


class Rating(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意


class FeedbackChannel(StrEnum):
    DIRECT = "direct"
    CALLBACK = "callback"  # 回访
    SMS = "sms"


class FollowUpOutcome(StrEnum):
    STILL_RESOLVED = "still_resolved"
    RECURRED = "recurred"


class ReviewTrigger(StrEnum):
    BREACH = "breach"
    REPEATED_RETURNS = "repeated_returns"
    DISSATISFACTION = "dissatisfaction"
    REHANDLING_CAP = "rehandling_cap"
    RECURRENCE = "recurrence"
    SAMPLING = "sampling"


class ReviewOutcome(StrEnum):
    NONE = "none"
    NOTICE = "notice"  # 通报
    INTERVIEW = "interview"  # 约谈
    SCORE_DEDUCTION = "score_deduction"


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Actor(Frozen):
    """Who sends a message. Authentication happens at the API; the workflow checks the role."""

    user_id: str = Field(min_length=1, max_length=64)
    role: Role
    department: str | None = Field(default=None, max_length=64)

    @model_validator(mode="after")
    def _department_role_needs_department(self) -> "Actor":
        if self.role is Role.DEPARTMENT and not self.department:
            raise ValueError("a department actor must name its department")
        return self


SYSTEM = Actor(user_id="system", role=Role.SYSTEM)


class Location(Frozen):
    address: str = Field(min_length=1, max_length=300)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class ReporterContact(Frozen):
    """Personal data: kept in workflow state only, never in events, logs or search attributes."""

    name: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)


class Report(Frozen):
    category: str = Field(min_length=1, max_length=64)
    urgency: Urgency
    location: Location
    grid: str = Field(min_length=1, max_length=64)
    town: str = Field(min_length=1, max_length=64)
    source: Source
    description: str = Field(min_length=1, max_length=4000)
    evidence_urls: tuple[str, ...] = Field(default=(), max_length=20)
    reporter: ReporterContact = ReporterContact()
    reported_by: Actor
    reported_at: AwareDatetime


class SlaPolicy(Frozen):
    """The rules of one category and urgency, snapshotted into the case when it is reported.

    Working-time lengths are turned into instants by the calendar activity, so that a replay
    never consults calendar data.
    """

    sign_for_hours: float = Field(gt=0, le=24 * 30)
    handling_days: int = Field(ge=1, le=365)
    consultation_days: int = Field(ge=1, le=60)
    feedback_days: int = Field(ge=1, le=60)
    final_reply_hours: float = Field(default=8, gt=0, le=24 * 30)
    verification_days: int = Field(default=2, ge=1, le=60)
    warning_ratio: float = Field(default=0.8, gt=0, lt=1)
    escalation_grace_hours: float = Field(default=8, gt=0, le=24 * 30)
    follow_up_after: tuple[timedelta, ...] = ()
    max_rehandling_rounds: int = Field(default=2, ge=0, le=10)
    repeated_return_threshold: int = Field(default=2, ge=1, le=10)
    review_sampling_rate: float = Field(default=0.05, ge=0, le=1)

    @model_validator(mode="after")
    def _follow_ups_ascend(self) -> "SlaPolicy":
        offsets = list(self.follow_up_after)
        if any(offset <= timedelta(0) for offset in offsets) or offsets != sorted(set(offsets)):
            raise ValueError("follow_up_after must be positive and strictly increasing")
        return self


def ensure_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: every moment in gridloop carries its timezone")
    return moment
