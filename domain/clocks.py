"""SLA clocks: a deadline with its warning and escalation instants, planned by the calendar.

A clock is pure data so that the workflow's single timer loop can always ask for the next
instant, and so that the clocks survive continue-as-new with the rest of the case.

The rules never read the calendar. They ask a `Planner` for each deadline; the workflow first
runs an action against a `NeedsRecorder` (a dry run whose result is discarded) to learn what
calendar work it needs, has the `plan_clocks` activity compute it, and then applies the action
for real with `PlannedAnswers`. So an action's calendar needs cannot drift from what it does.
"""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import AwareDatetime, Field, model_validator

from domain.model import Frozen


class ClockKind(StrEnum):
    CONSULTATION = "consultation"
    SIGN_FOR = "sign_for"
    HANDLING = "handling"
    FINAL_REPLY = "final_reply"
    VERIFICATION = "verification"
    FEEDBACK = "feedback"


class ClockPhase(StrEnum):
    RUNNING = "running"
    WARNED = "warned"
    OVERDUE = "overdue"


class ClockSpec(Frozen):
    """What the calendar activity must turn into instants."""

    start: AwareDatetime
    working_days: int | None = Field(default=None, ge=1)
    working_hours: float | None = Field(default=None, gt=0)
    extend_from: AwareDatetime | None = None
    warning_ratio: float = Field(gt=0, lt=1)
    escalation_grace_hours: float = Field(gt=0)
    escalation_steps: int = Field(ge=0, le=2)

    @model_validator(mode="after")
    def _one_length(self) -> "ClockSpec":
        if (self.working_days is None) == (self.working_hours is None):
            raise ValueError("a clock runs for working days or for working hours, not both")
        if self.extend_from is not None and self.working_days is None:
            raise ValueError("an extension adds working days")
        return self


class ClockPlan(Frozen):
    """Instants computed from a ClockSpec on the working-day calendar."""

    due_at: AwareDatetime
    warn_at: AwareDatetime
    escalate_at: tuple[AwareDatetime, ...]


class ShiftRequest(Frozen):
    """Move instants forward by the working time a suspension lasted."""

    paused_from: AwareDatetime
    paused_until: AwareDatetime
    instants: tuple[AwareDatetime, ...]


class ShiftResult(Frozen):
    paused_working_time: timedelta
    instants: tuple[AwareDatetime, ...]


class SlaClock(Frozen):
    kind: ClockKind
    started_at: AwareDatetime
    due_at: AwareDatetime
    warn_at: AwareDatetime
    escalate_at: tuple[AwareDatetime, ...] = ()
    phase: ClockPhase = ClockPhase.RUNNING
    escalations_fired: int = 0
    stopped_at: AwareDatetime | None = None
    overdue_at: AwareDatetime | None = None

    @classmethod
    def planned(cls, kind: ClockKind, start: datetime, plan: ClockPlan) -> "SlaClock":
        return cls(
            kind=kind,
            started_at=start,
            due_at=plan.due_at,
            warn_at=plan.warn_at,
            escalate_at=plan.escalate_at,
        )

    @property
    def running(self) -> bool:
        return self.stopped_at is None

    @property
    def breached(self) -> bool:
        return self.overdue_at is not None

    def next_instant(self) -> datetime | None:
        """The next moment at which this clock has something to say."""
        if not self.running:
            return None
        if self.phase is ClockPhase.RUNNING:
            return self.warn_at if self.warn_at < self.due_at else self.due_at
        if self.phase is ClockPhase.WARNED:
            return self.due_at
        if self.escalations_fired < len(self.escalate_at):
            return self.escalate_at[self.escalations_fired]
        return None

    def pending_instants(self) -> tuple[datetime, ...]:
        return (self.warn_at, self.due_at, *self.escalate_at)

    def with_instants(self, instants: tuple[datetime, ...]) -> "SlaClock":
        warn_at, due_at, *escalate_at = instants
        return self.model_copy(
            update={"warn_at": warn_at, "due_at": due_at, "escalate_at": tuple(escalate_at)}
        )

    def stopped(self, at: datetime) -> "SlaClock":
        return self.model_copy(update={"stopped_at": at})


class PlanningNeeds(Frozen):
    """Calendar work an action needs before it can be applied, in the order it asks."""

    clocks: tuple[ClockSpec, ...] = ()
    shift: ShiftRequest | None = None

    @property
    def empty(self) -> bool:
        return not self.clocks and self.shift is None


class Planning(Frozen):
    """The calendar's answers to a `PlanningNeeds`, in the same order."""

    clocks: tuple[ClockPlan, ...] = ()
    shift: ShiftResult | None = None


NO_PLANNING = Planning()


class Planner(Protocol):
    def clock(self, spec: ClockSpec) -> ClockPlan: ...

    def shift(self, request: ShiftRequest) -> ShiftResult: ...


class NeedsRecorder:
    """Notes what an action asks of the calendar and answers with stand-ins.

    Only for a dry run on a copy that is thrown away: the stand-in instants are not deadlines.
    """

    def __init__(self) -> None:
        self._clocks: list[ClockSpec] = []
        self._shift: ShiftRequest | None = None

    def clock(self, spec: ClockSpec) -> ClockPlan:
        self._clocks.append(spec)
        due = spec.extend_from or spec.start
        return ClockPlan(due_at=due, warn_at=due, escalate_at=(due,) * spec.escalation_steps)

    def shift(self, request: ShiftRequest) -> ShiftResult:
        self._shift = request
        return ShiftResult(paused_working_time=timedelta(0), instants=request.instants)

    def needs(self) -> PlanningNeeds:
        return PlanningNeeds(clocks=tuple(self._clocks), shift=self._shift)


class PlannedAnswers:
    """Hands out a `Planning` in the order the dry run asked for it."""

    def __init__(self, planning: Planning) -> None:
        self._clocks = list(planning.clocks)
        self._shift = planning.shift

    def clock(self, spec: ClockSpec) -> ClockPlan:
        if not self._clocks:
            raise LookupError("the action asks for more deadlines than were planned")
        return self._clocks.pop(0)

    def shift(self, request: ShiftRequest) -> ShiftResult:
        if self._shift is None:
            raise LookupError("the action asks for a shift that was not planned")
        return self._shift

    def check_all_used(self) -> None:
        if self._clocks:
            raise LookupError("the action asked for fewer deadlines than were planned")
