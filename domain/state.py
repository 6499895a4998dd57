"""The state of one case, and the timers that move it without anyone's action.

Pure and deterministic: every method takes the current moment from its caller, and every deadline
comes from a `Planner` (see `domain.clocks`). Which actions are legal lives in `domain.rules`; the
workflow wraps both in Temporal messages.
"""

from datetime import datetime, timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict

from domain.clocks import ClockKind, ClockPhase, ClockSpec, Planner, SlaClock
from domain.errors import CaseRuleViolation, Refusal
from domain.messages import (
    ActionAccepted,
    CaseEvent,
    CaseInput,
    Command,
    EventValue,
    RecordReviewFindings,
)
from domain.model import (
    SYSTEM,
    Actor,
    AssignmentRole,
    AssignmentState,
    FollowUpOutcome,
    Frozen,
    Rating,
    Report,
    ReviewTrigger,
    RoundReason,
    SlaPolicy,
    Stage,
    Status,
    Tier,
)


class State(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExtensionRequest(State):
    requested_at: AwareDatetime
    extra_days: int
    reason: str
    decided_at: AwareDatetime | None = None
    approved: bool | None = None


class Assignment(State):
    assignment_id: str
    round: int
    department: str
    role: AssignmentRole
    state: AssignmentState = AssignmentState.AWAITING_SIGN
    assigned_at: AwareDatetime
    sign_clock: SlaClock
    handling_clock: SlaClock
    signed_at: AwareDatetime | None = None
    completed_at: AwareDatetime | None = None
    returned_at: AwareDatetime | None = None
    withdrawn_at: AwareDatetime | None = None
    result: str | None = None
    evidence_urls: tuple[str, ...] = ()
    return_reason: str | None = None
    withdraw_reason: str | None = None
    extensions: list[ExtensionRequest] = []
    supervision_tier: Tier | None = None
    urge_count: int = 0

    @property
    def active(self) -> bool:
        return self.state in (AssignmentState.AWAITING_SIGN, AssignmentState.HANDLING)

    @property
    def pending_extension(self) -> ExtensionRequest | None:
        last = self.extensions[-1] if self.extensions else None
        return last if last is not None and last.decided_at is None else None

    @property
    def breached(self) -> bool:
        return self.sign_clock.breached or self.handling_clock.breached


class HandlingRound(State):
    number: int
    reason: RoundReason
    started_at: AwareDatetime
    lead_department: str
    reply_clock: SlaClock | None = None
    final_reply: str | None = None
    replied_at: AwareDatetime | None = None
    verification_clock: SlaClock | None = None


class Consultation(State):
    convened_at: AwareDatetime
    participants: tuple[str, ...]
    agenda: str
    clock: SlaClock
    decided_at: AwareDatetime | None = None
    minutes: str | None = None


class FollowUpCheck(State):
    due_at: AwareDatetime
    announced: bool = False
    recorded_at: AwareDatetime | None = None
    outcome: FollowUpOutcome | None = None


class Review(State):
    triggers: tuple[ReviewTrigger, ...]
    opened_at: AwareDatetime
    findings: RecordReviewFindings | None = None
    recorded_at: AwareDatetime | None = None


class Suspension(State):
    suspended_at: AwareDatetime
    reason: str
    resumed_at: AwareDatetime | None = None
    paused_working_time: timedelta | None = None


ClockOwner = Consultation | Assignment | HandlingRound | None


class Flags(Frozen):
    suspended: bool
    overdue: bool
    closed: bool
    breached: bool


TRIAGE_STATUSES = (Status.AWAITING_TRIAGE, Status.AWAITING_REROUTING)
CLOCKED_STAGES = (Stage.CONSULT, Stage.HANDLE)
TIERS = list(Tier)


class CaseState(State):
    """Everything the workflow knows about one case; also what the state query returns."""

    case_no: str
    report: Report
    policy: SlaPolicy
    lookup_code: str | None = None
    stage: Stage = Stage.REPORT
    status: Status = Status.AWAITING_TRIAGE
    tier: Tier = Tier.GRID
    sampled_for_review: bool = False
    assignments: list[Assignment] = []
    rounds: list[HandlingRound] = []
    consultations: list[Consultation] = []
    feedback_clock: SlaClock | None = None
    reply: str | None = None
    rating: Rating | None = None
    rehandling_rounds: int = 0
    recurrences: int = 0
    returns: dict[str, int] = {}
    closed_at: AwareDatetime | None = None
    follow_ups: list[FollowUpCheck] = []
    review_triggers: list[ReviewTrigger] = []
    review: Review | None = None
    suspensions: list[Suspension] = []
    archived_at: AwareDatetime | None = None
    events: list[CaseEvent] = []
    answered: dict[str, ActionAccepted] = {}

    # ---- creation and reading ----------------------------------------------------------------

    @classmethod
    def open(cls, case: CaseInput, *, sampled_for_review: bool) -> "CaseState":
        state = cls(
            case_no=case.case_no,
            report=case.report,
            policy=case.policy,
            lookup_code=case.lookup_code,
            sampled_for_review=sampled_for_review,
        )
        report = case.report
        state._record(
            "reported",
            report.reported_by,
            report.reported_at,
            category=report.category,
            urgency=report.urgency.value,
            grid=report.grid,
            town=report.town,
            source=report.source.value,
            address=report.location.address,
            description=report.description,
            evidence_urls=list(report.evidence_urls),
        )
        return state

    @property
    def suspended(self) -> bool:
        return bool(self.suspensions) and self.suspensions[-1].resumed_at is None

    @property
    def current_round(self) -> HandlingRound | None:
        return self.rounds[-1] if self.rounds else None

    @property
    def lead_department(self) -> str | None:
        current = self.current_round
        return current.lead_department if current else None

    def round_assignments(self) -> list[Assignment]:
        current = self.current_round
        if current is None:
            return []
        return [a for a in self.assignments if a.round == current.number]

    def owned_clocks(self) -> list[tuple[ClockOwner, SlaClock]]:
        """Every SLA clock the case ever started, with what it belongs to (None: the case)."""
        owned: list[tuple[ClockOwner, SlaClock]] = [(c, c.clock) for c in self.consultations]
        for assignment in self.assignments:
            owned += [(assignment, assignment.sign_clock), (assignment, assignment.handling_clock)]
        for handling_round in self.rounds:
            owned += [
                (handling_round, clock)
                for clock in (handling_round.reply_clock, handling_round.verification_clock)
                if clock is not None
            ]
        if self.feedback_clock is not None:
            owned.append((None, self.feedback_clock))
        return owned

    def running_clocks(self) -> list[SlaClock]:
        return [clock for _, clock in self.owned_clocks() if clock.running]

    def flags(self) -> Flags:
        return Flags(
            suspended=self.suspended,
            overdue=any(c.phase is ClockPhase.OVERDUE for c in self.running_clocks()),
            closed=self.closed_at is not None,
            breached=self.breaches() > 0,
        )

    def breaches(self) -> int:
        """Missed deadlines; a feedback window that ends unrated is nobody's breach."""
        return sum(
            1
            for _, clock in self.owned_clocks()
            if clock.kind is not ClockKind.FEEDBACK and clock.breached
        )

    # ---- time --------------------------------------------------------------------------------

    def next_wakeup(self) -> datetime | None:
        """The earliest moment at which a timer has something to do."""
        instants: list[datetime] = []
        if not self.suspended:
            instants += [i for c in self.running_clocks() if (i := c.next_instant()) is not None]
        instants += [f.due_at for f in self.follow_ups if not f.announced]
        return min(instants, default=None)

    def as_of(self, now: datetime) -> "CaseState":
        """The case with every timer due by `now` fired: what an action arriving now must be
        judged on, even if the timer loop has not run yet. `self` when nothing is due."""
        wakeup = self.next_wakeup()
        if wakeup is None or wakeup > now:
            return self
        later = self.model_copy(deep=True)
        later.fire_timers(now)
        return later

    def fire_timers(self, now: datetime) -> bool:
        """Fire everything due at `now`; True if anything happened."""
        fired = False
        while (wakeup := self.next_wakeup()) is not None and wakeup <= now:
            self._fire_one(wakeup)
            fired = True
        return fired

    def _fire_one(self, at: datetime) -> None:
        for check in self.follow_ups:
            if not check.announced and check.due_at <= at:
                check.announced = True
                self.status = Status.FOLLOW_UP_DUE
                self._record("follow_up_due", SYSTEM, at, due_at=check.due_at.isoformat())
                return
        for owner, clock in self.owned_clocks():
            if clock.next_instant() == at:
                self._advance_clock(owner, clock, at)
                return

    def _advance_clock(self, owner: ClockOwner, clock: SlaClock, at: datetime) -> None:
        if clock.kind is ClockKind.FEEDBACK:
            self.feedback_clock = clock.stopped(at).model_copy(update={"overdue_at": at})
            self._record("feedback_not_given", SYSTEM, at)
            self._close(at)
            return
        where = _clock_owner_data(owner, clock)
        if clock.phase is ClockPhase.RUNNING and clock.warn_at < clock.due_at:
            updated = clock.model_copy(update={"phase": ClockPhase.WARNED})
            self._record("sla_warning", SYSTEM, at, **where, due_at=clock.due_at.isoformat())
        elif clock.phase in (ClockPhase.RUNNING, ClockPhase.WARNED):
            # After an extension a clock can run out twice; its breach dates from the first time.
            breached_at = clock.overdue_at or at
            updated = clock.model_copy(
                update={"phase": ClockPhase.OVERDUE, "overdue_at": breached_at}
            )
            self._record("sla_overdue", SYSTEM, at, **where, due_at=clock.due_at.isoformat())
            self._record("urged", SYSTEM, at, **where, automatic=True)
            if isinstance(owner, Assignment):
                owner.urge_count += 1
            self._add_trigger(ReviewTrigger.BREACH)
        else:
            updated = clock.model_copy(update={"escalations_fired": clock.escalations_fired + 1})
            tier = TIERS[min(TIERS.index(self.tier) + updated.escalations_fired, len(TIERS) - 1)]
            if isinstance(owner, Assignment):
                owner.supervision_tier = tier
            self._record("supervised", SYSTEM, at, **where, tier=tier.value)
        replace_clock(owner, clock, updated, self)

    # ---- helpers used by the rules -----------------------------------------------------------

    def _record(self, event_type: str, actor: Actor, at: datetime, **data: EventValue) -> None:
        self.events.append(
            CaseEvent(sequence=len(self.events) + 1, type=event_type, at=at, actor=actor, data=data)
        )

    def _require_status(self, command: Command, *statuses: Status) -> None:
        if self.status not in statuses:
            raise CaseRuleViolation(
                Refusal.WRONG_STAGE, status=self.status.value, action=action_name(command)
            )

    def _active_assignment(self, department: str | None) -> Assignment:
        for assignment in self.round_assignments():
            if assignment.department == department and assignment.active:
                return assignment
        raise CaseRuleViolation(Refusal.NOT_ASSIGNED, department=department or "-")

    def _add_trigger(self, trigger: ReviewTrigger) -> None:
        if trigger not in self.review_triggers:
            self.review_triggers.append(trigger)

    def _clock(
        self,
        kind: ClockKind,
        now: datetime,
        planner: Planner,
        *,
        days: int | None = None,
        hours: float | None = None,
        escalates: bool = True,
    ) -> SlaClock:
        """A new clock of `days` working days or `hours` working hours, starting now."""
        policy = self.policy
        plan = planner.clock(
            ClockSpec(
                start=now,
                working_days=days,
                working_hours=hours,
                warning_ratio=policy.warning_ratio,
                escalation_grace_hours=policy.escalation_grace_hours,
                escalation_steps=self._escalation_steps() if escalates else 0,
            )
        )
        return SlaClock.planned(kind, now, plan)

    def _escalation_steps(self) -> int:
        return len(TIERS) - 1 - TIERS.index(self.tier)

    def _assign(
        self,
        departments: list[tuple[str, int]],
        lead: str,
        round_number: int,
        now: datetime,
        planner: Planner,
    ) -> None:
        """Open one assignment per (department, handling days): a sign-for and a handling clock."""
        for department, handling_days in departments:
            self.assignments.append(
                Assignment(
                    assignment_id=f"{self.case_no}-A{len(self.assignments) + 1}",
                    round=round_number,
                    department=department,
                    role=AssignmentRole.LEAD if department == lead else AssignmentRole.CO_HANDLER,
                    assigned_at=now,
                    sign_clock=self._clock(
                        ClockKind.SIGN_FOR, now, planner, hours=self.policy.sign_for_hours
                    ),
                    handling_clock=self._clock(
                        ClockKind.HANDLING, now, planner, days=handling_days
                    ),
                )
            )

    def _start_round(
        self,
        reason: RoundReason,
        lead: str,
        departments: list[tuple[str, int]],
        actor: Actor,
        now: datetime,
        planner: Planner,
    ) -> None:
        number = len(self.rounds) + 1
        self.rounds.append(
            HandlingRound(number=number, reason=reason, started_at=now, lead_department=lead)
        )
        self._assign(departments, lead, number, now, planner)
        self.stage, self.status = Stage.HANDLE, Status.HANDLING
        self.reply = None
        self._record(
            "round_started",
            actor,
            now,
            round=number,
            reason=reason.value,
            lead_department=lead,
            departments=[d for d, _ in departments],
        )

    def _repeat_round_departments(self) -> tuple[str, list[tuple[str, int]]]:
        """A new round goes to the departments that handled the last one."""
        current = self.current_round
        assert current is not None, "a round is repeated only after one has run"
        handled = [a for a in self.round_assignments() if a.state is AssignmentState.COMPLETED]
        ordered = sorted(handled, key=lambda a: a.role is not AssignmentRole.LEAD)
        return current.lead_department, [(a.department, self.policy.handling_days) for a in ordered]

    def _reopen(self, reason: RoundReason, actor: Actor, now: datetime, planner: Planner) -> None:
        """Handle again: the last round's departments, or triage if it was settled on the spot."""
        if self.rounds:
            lead, departments = self._repeat_round_departments()
            self._start_round(reason, lead, departments, actor, now, planner)
            return
        self.stage, self.status = Stage.REPORT, Status.AWAITING_TRIAGE
        self.reply = None
        self._record("reopened_for_triage", actor, now, reason=reason.value)

    def _await_feedback(self, reply: str, now: datetime, planner: Planner) -> None:
        clock = self._clock(
            ClockKind.FEEDBACK, now, planner, days=self.policy.feedback_days, escalates=False
        )
        # The window simply ends: there is no reminder to the reporter, so no warning instant.
        self.feedback_clock = clock.model_copy(update={"warn_at": clock.due_at})
        self.reply = reply
        self.stage, self.status = Stage.FEEDBACK, Status.AWAITING_FEEDBACK
        self._record("awaiting_feedback", SYSTEM, now, due_at=clock.due_at.isoformat())

    def _round_settled(self, now: datetime, planner: Planner) -> None:
        """After an assignment stops: once nobody in the round is still working, a joint round
        waits for the lead's final reply, a single department's result is the reply."""
        current = self.current_round
        assignments = self.round_assignments()
        if current is None or any(a.active for a in assignments):
            return
        if self.status is Status.AWAITING_REROUTING:
            return
        completed = [a for a in assignments if a.state is AssignmentState.COMPLETED]
        if len(completed) > 1:
            current.reply_clock = self._clock(
                ClockKind.FINAL_REPLY, now, planner, hours=self.policy.final_reply_hours
            )
            self.status = Status.AWAITING_FINAL_REPLY
            self._record(
                "awaiting_final_reply",
                SYSTEM,
                now,
                round=current.number,
                lead_department=current.lead_department,
                due_at=current.reply_clock.due_at.isoformat(),
            )
            return
        current.final_reply, current.replied_at = completed[0].result, now
        self._await_verification(completed[0].result or "", now, planner)

    def _await_verification(self, reply: str, now: datetime, planner: Planner) -> None:
        current = self.current_round
        assert current is not None, "verification follows a handling round"
        current.verification_clock = self._clock(
            ClockKind.VERIFICATION, now, planner, days=self.policy.verification_days
        )
        self.reply = reply
        self.status = Status.AWAITING_VERIFICATION
        self._record(
            "awaiting_verification",
            SYSTEM,
            now,
            round=current.number,
            due_at=current.verification_clock.due_at.isoformat(),
        )

    def _close(self, now: datetime) -> None:
        self.closed_at = now
        self._record("closed", SYSTEM, now, rating=self.rating.value if self.rating else None)
        if self.policy.follow_up_after:
            self.follow_ups = [FollowUpCheck(due_at=now + d) for d in self.policy.follow_up_after]
            self.stage, self.status = Stage.FOLLOW_UP, Status.FOLLOW_UP_SCHEDULED
            self._record(
                "follow_up_scheduled",
                SYSTEM,
                now,
                due_at=[check.due_at.isoformat() for check in self.follow_ups],
            )
        else:
            self._review_or_archive(now)

    def _review_or_archive(self, now: datetime) -> None:
        if self.sampled_for_review:
            self._add_trigger(ReviewTrigger.SAMPLING)
        if self.review_triggers:
            self.review = Review(triggers=tuple(self.review_triggers), opened_at=now)
            self.stage, self.status = Stage.REVIEW, Status.AWAITING_REVIEW
            self._record(
                "review_opened", SYSTEM, now, triggers=[t.value for t in self.review_triggers]
            )
        else:
            self._archive(now)

    def _archive(self, now: datetime) -> None:
        self.archived_at = now
        self.stage, self.status = Stage.ARCHIVED, Status.ARCHIVED
        self._record("archived", SYSTEM, now)


# ---- small pure helpers ---------------------------------------------------------------------


def action_name(command: Command) -> str:
    return type(command).__name__


def stop_if_running(clock: SlaClock, now: datetime) -> SlaClock:
    return clock.stopped(now) if clock.running else clock


def _clock_owner_data(owner: ClockOwner, clock: SlaClock) -> dict[str, EventValue]:
    data: dict[str, EventValue] = {"clock": clock.kind.value}
    if isinstance(owner, Assignment):
        data |= {"assignment_id": owner.assignment_id, "department": owner.department}
    elif isinstance(owner, HandlingRound):
        data |= {"round": owner.number}
        if clock.kind is ClockKind.FINAL_REPLY:
            data |= {"department": owner.lead_department}
    return data


def replace_clock(
    owner: ClockOwner,
    old: SlaClock,
    new: SlaClock,
    case: CaseState,
) -> None:
    if isinstance(owner, Consultation):
        owner.clock = new
    elif isinstance(owner, Assignment):
        if owner.sign_clock is old:
            owner.sign_clock = new
        else:
            owner.handling_clock = new
    elif isinstance(owner, HandlingRound):
        if owner.reply_clock is old:
            owner.reply_clock = new
        else:
            owner.verification_clock = new
    else:
        case.feedback_clock = new
