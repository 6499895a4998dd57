"""One rule per message: who may send it, when it is legal, and what it changes.

`validate`, `planning_needs` and `apply` are what the workflow calls. A rule asks its `Planner`
for every deadline it sets; `planning_needs` finds out which by a dry run on a copy.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from domain.clocks import (
    ClockKind,
    ClockPhase,
    ClockPlan,
    ClockSpec,
    NeedsRecorder,
    PlannedAnswers,
    Planner,
    Planning,
    PlanningNeeds,
    ShiftRequest,
    SlaClock,
)
from domain.errors import CaseRuleViolation, Refusal
from domain.messages import (
    ActionAccepted,
    AddProgressNote,
    Command,
    CompleteWork,
    ConveneConsultation,
    DecideExtension,
    Dispatch,
    Escalate,
    EventValue,
    RateFeedback,
    ReassignWork,
    RecordConsultationDecision,
    RecordFollowUp,
    RecordReviewFindings,
    RequestExtension,
    ResolveOnSite,
    ResumeCase,
    ReturnWork,
    SignForWork,
    SubmitFinalReply,
    SuspendCase,
    Urge,
    VerifyOnSite,
    WithdrawWork,
)
from domain.model import (
    AssignmentRole,
    AssignmentState,
    FollowUpOutcome,
    Rating,
    ReviewTrigger,
    Role,
    RoundReason,
    Stage,
    Status,
)
from domain.state import (
    CLOCKED_STAGES,
    TRIAGE_STATUSES,
    Assignment,
    CaseState,
    Consultation,
    ExtensionRequest,
    FollowUpCheck,
    Suspension,
    action_name,
    replace_clock,
    stop_if_running,
)

# Progress notes and manual urges are the only entries anyone can add without moving the case;
# capped so that the case's workflow state (which carries its timeline) stays small.
MAX_OPTIONAL_ENTRIES = 200
# Request ids remembered for deduplication; a client retries within minutes, not 200 actions.
ANSWER_WINDOW = 200


# ---- the rules, one per message -------------------------------------------------------------


class Rule:
    """Who may send one command, when it is legal, and what it changes."""

    roles: frozenset[Role] = frozenset({Role.COORDINATOR})
    # While a case is suspended (挂账) nothing may move it or start a clock.
    allowed_while_suspended = False

    def check(self, case: CaseState, command: Any, now: datetime) -> None:
        raise NotImplementedError

    def apply(self, case: CaseState, command: Any, now: datetime, planner: Planner) -> None:
        raise NotImplementedError


RULES: dict[type[Command], Rule] = {}


def rule(command_type: type[Command]) -> Callable[[type[Rule]], type[Rule]]:
    def register(rule_class: type[Rule]) -> type[Rule]:
        RULES[command_type] = rule_class()
        return rule_class

    return register


def _rule_for(command: Command) -> Rule:
    return RULES[type(command)]


@rule(ResolveOnSite)
class ResolveOnSiteRule(Rule):
    roles = frozenset({Role.GRID_WORKER})

    def check(self, case: CaseState, command: ResolveOnSite, now: datetime) -> None:
        case._require_status(command, Status.AWAITING_TRIAGE)

    def apply(
        self, case: CaseState, command: ResolveOnSite, now: datetime, planner: Planner
    ) -> None:
        case._record(
            "resolved_on_site",
            command.actor,
            now,
            result=command.result,
            evidence_urls=list(command.evidence_urls),
        )
        case._await_feedback(command.result, now, planner)


def _check_routing(lead: str, co_departments: tuple[str, ...]) -> None:
    if not lead.strip() or any(not d.strip() for d in co_departments):
        raise CaseRuleViolation(Refusal.INVALID_ROUTING, reason="empty department code")


@rule(Dispatch)
class DispatchRule(Rule):
    def check(self, case: CaseState, command: Dispatch, now: datetime) -> None:
        case._require_status(command, *TRIAGE_STATUSES)
        _check_routing(command.lead_department, command.co_departments)

    def _new_departments(self, case: CaseState, command: Dispatch) -> list[tuple[str, int]]:
        kept: set[str] = set()
        if case.status is Status.AWAITING_REROUTING:
            kept = {
                a.department
                for a in case.round_assignments()
                if a.active or a.state is AssignmentState.COMPLETED
            }
        wanted = [command.lead_department, *command.co_departments]
        return [(d, case.policy.handling_days) for d in wanted if d not in kept]

    def apply(self, case: CaseState, command: Dispatch, now: datetime, planner: Planner) -> None:
        departments = self._new_departments(case, command)
        current = case.current_round
        if case.status is Status.AWAITING_REROUTING and current is not None:
            current.lead_department = command.lead_department
            for assignment in case.round_assignments():
                is_lead = assignment.department == command.lead_department
                assignment.role = AssignmentRole.LEAD if is_lead else AssignmentRole.CO_HANDLER
            case.stage, case.status = Stage.HANDLE, Status.HANDLING
            case._record(
                "rerouted",
                command.actor,
                now,
                round=current.number,
                lead_department=command.lead_department,
                departments=[d for d, _ in departments],
                note=command.note,
            )
            case._assign(departments, command.lead_department, current.number, now, planner)
            case._round_settled(now, planner)
            return
        case._record(
            "dispatched",
            command.actor,
            now,
            lead_department=command.lead_department,
            co_departments=list(command.co_departments),
            note=command.note,
        )
        case._start_round(
            RoundReason.DISPATCH,
            command.lead_department,
            departments,
            command.actor,
            now,
            planner,
        )


@rule(ConveneConsultation)
class ConveneConsultationRule(Rule):
    def check(self, case: CaseState, command: ConveneConsultation, now: datetime) -> None:
        case._require_status(command, *TRIAGE_STATUSES)
        still_working = [a.department for a in case.round_assignments() if a.active]
        if still_working:
            raise CaseRuleViolation(
                Refusal.HANDLING_UNFINISHED, departments=", ".join(still_working)
            )

    def apply(
        self, case: CaseState, command: ConveneConsultation, now: datetime, planner: Planner
    ) -> None:
        clock = case._clock(
            ClockKind.CONSULTATION, now, planner, days=case.policy.consultation_days
        )
        case.consultations.append(
            Consultation(
                convened_at=now,
                participants=command.participants,
                agenda=command.agenda,
                clock=clock,
            )
        )
        case.stage, case.status = Stage.CONSULT, Status.CONSULTING
        case._record(
            "consultation_convened",
            command.actor,
            now,
            participants=list(command.participants),
            agenda=command.agenda,
            due_at=clock.due_at.isoformat(),
        )


@rule(RecordConsultationDecision)
class RecordConsultationDecisionRule(Rule):
    def check(self, case: CaseState, command: RecordConsultationDecision, now: datetime) -> None:
        case._require_status(command, Status.CONSULTING)
        _check_routing(command.lead_department, command.co_departments)

    def apply(
        self,
        case: CaseState,
        command: RecordConsultationDecision,
        now: datetime,
        planner: Planner,
    ) -> None:
        consultation = case.consultations[-1]
        consultation.decided_at, consultation.minutes = now, command.minutes
        consultation.participants = command.participants
        consultation.clock = consultation.clock.stopped(now)
        days = {d.department: d.handling_days for d in command.deadlines}
        wanted = [command.lead_department, *command.co_departments]
        departments = [(d, days.get(d, case.policy.handling_days)) for d in wanted]
        case._record(
            "consultation_decided",
            command.actor,
            now,
            lead_department=command.lead_department,
            co_departments=list(command.co_departments),
            participants=list(command.participants),
            minutes=command.minutes,
            handling_days=[f"{d}={n}" for d, n in departments],
        )
        case._start_round(
            RoundReason.CONSULTATION,
            command.lead_department,
            departments,
            command.actor,
            now,
            planner,
        )


@rule(Escalate)
class EscalateRule(Rule):
    allowed_while_suspended = True

    def check(self, case: CaseState, command: Escalate, now: datetime) -> None:
        if case.stage not in (Stage.REPORT, Stage.CONSULT, Stage.HANDLE):
            raise CaseRuleViolation(
                Refusal.WRONG_STAGE, status=case.status.value, action=action_name(command)
            )
        if case.tier.next() is None:
            raise CaseRuleViolation(Refusal.TOP_TIER_REACHED)

    def apply(self, case: CaseState, command: Escalate, now: datetime, planner: Planner) -> None:
        previous, case.tier = case.tier, case.tier.next() or case.tier
        case._record(
            "escalated",
            command.actor,
            now,
            from_tier=previous.value,
            to_tier=case.tier.value,
            reason=command.reason,
        )


class DepartmentRule(Rule):
    """Actions a department takes on its own open assignment."""

    roles = frozenset({Role.DEPARTMENT})

    def check(self, case: CaseState, command: Any, now: datetime) -> None:
        case._active_assignment(command.actor.department)


@rule(SignForWork)
class SignForWorkRule(DepartmentRule):
    def check(self, case: CaseState, command: SignForWork, now: datetime) -> None:
        if case._active_assignment(command.actor.department).signed_at is not None:
            raise CaseRuleViolation(
                Refusal.ALREADY_SIGNED, department=command.actor.department or "-"
            )

    def apply(self, case: CaseState, command: SignForWork, now: datetime, planner: Planner) -> None:
        assignment = case._active_assignment(command.actor.department)
        assignment.signed_at, assignment.state = now, AssignmentState.HANDLING
        assignment.sign_clock = assignment.sign_clock.stopped(now)
        case._record(
            "signed",
            command.actor,
            now,
            assignment_id=assignment.assignment_id,
            department=assignment.department,
            late=assignment.sign_clock.breached,
        )


@rule(CompleteWork)
class CompleteWorkRule(DepartmentRule):
    def check(self, case: CaseState, command: CompleteWork, now: datetime) -> None:
        if case._active_assignment(command.actor.department).signed_at is None:
            raise CaseRuleViolation(Refusal.NOT_SIGNED, department=command.actor.department or "-")

    def apply(
        self, case: CaseState, command: CompleteWork, now: datetime, planner: Planner
    ) -> None:
        assignment = case._active_assignment(command.actor.department)
        assignment.state, assignment.completed_at = AssignmentState.COMPLETED, now
        assignment.result, assignment.evidence_urls = command.result, command.evidence_urls
        assignment.handling_clock = assignment.handling_clock.stopped(now)
        case._record(
            "completed",
            command.actor,
            now,
            assignment_id=assignment.assignment_id,
            department=assignment.department,
            result=command.result,
            evidence_urls=list(command.evidence_urls),
            late=assignment.handling_clock.breached,
        )
        case._round_settled(now, planner)


def _stop_assignment(assignment: Assignment, state: AssignmentState, now: datetime) -> None:
    assignment.state = state
    assignment.sign_clock = stop_if_running(assignment.sign_clock, now)
    assignment.handling_clock = stop_if_running(assignment.handling_clock, now)


@rule(ReturnWork)
class ReturnWorkRule(DepartmentRule):
    def apply(self, case: CaseState, command: ReturnWork, now: datetime, planner: Planner) -> None:
        assignment = case._active_assignment(command.actor.department)
        _stop_assignment(assignment, AssignmentState.RETURNED, now)
        assignment.returned_at, assignment.return_reason = now, command.reason
        case.returns[assignment.department] = case.returns.get(assignment.department, 0) + 1
        case.stage, case.status = Stage.CONSULT, Status.AWAITING_REROUTING
        case._record(
            "returned",
            command.actor,
            now,
            assignment_id=assignment.assignment_id,
            department=assignment.department,
            reason=command.reason,
            returns_total=sum(case.returns.values()),
        )
        if sum(case.returns.values()) >= case.policy.repeated_return_threshold:
            case._add_trigger(ReviewTrigger.REPEATED_RETURNS)


@rule(ReassignWork)
class ReassignWorkRule(Rule):
    def check(self, case: CaseState, command: ReassignWork, now: datetime) -> None:
        case._active_assignment(command.department)
        _check_routing(command.to_department, ())
        taken = any(
            a.department == command.to_department
            and (a.active or a.state is AssignmentState.COMPLETED)
            for a in case.round_assignments()
        )
        if taken:
            raise CaseRuleViolation(Refusal.ALREADY_ASSIGNED, department=command.to_department)

    def apply(
        self, case: CaseState, command: ReassignWork, now: datetime, planner: Planner
    ) -> None:
        current = case.current_round
        assert current is not None, "an open assignment belongs to a round"
        assignment = case._active_assignment(command.department)
        _stop_assignment(assignment, AssignmentState.WITHDRAWN, now)
        assignment.withdrawn_at, assignment.withdraw_reason = now, command.reason
        if assignment.role is AssignmentRole.LEAD:
            current.lead_department = command.to_department
        departments = [(command.to_department, case.policy.handling_days)]
        case._assign(departments, current.lead_department, current.number, now, planner)
        case._record(
            "reassigned",
            command.actor,
            now,
            assignment_id=assignment.assignment_id,
            department=assignment.department,
            to_department=command.to_department,
            new_assignment_id=case.assignments[-1].assignment_id,
            reason=command.reason,
        )


@rule(WithdrawWork)
class WithdrawWorkRule(Rule):
    def check(self, case: CaseState, command: WithdrawWork, now: datetime) -> None:
        assignment = case._active_assignment(command.department)
        if assignment.role is AssignmentRole.LEAD:
            raise CaseRuleViolation(Refusal.LEAD_NOT_WITHDRAWABLE, department=command.department)

    def apply(
        self, case: CaseState, command: WithdrawWork, now: datetime, planner: Planner
    ) -> None:
        assignment = case._active_assignment(command.department)
        _stop_assignment(assignment, AssignmentState.WITHDRAWN, now)
        assignment.withdrawn_at, assignment.withdraw_reason = now, command.reason
        case._record(
            "withdrawn",
            command.actor,
            now,
            assignment_id=assignment.assignment_id,
            department=assignment.department,
            reason=command.reason,
        )
        case._round_settled(now, planner)


def _check_optional_entry_limit(case: CaseState) -> None:
    optional = sum(
        1
        for e in case.events
        if e.type == "progress_noted" or (e.type == "urged" and e.data.get("automatic") is False)
    )
    if optional >= MAX_OPTIONAL_ENTRIES:
        raise CaseRuleViolation(Refusal.LIMIT_REACHED, limit=str(MAX_OPTIONAL_ENTRIES))


@rule(AddProgressNote)
class AddProgressNoteRule(Rule):
    roles = frozenset({Role.DEPARTMENT, Role.COORDINATOR, Role.GRID_WORKER})
    allowed_while_suspended = True

    def _department(self, command: AddProgressNote) -> str | None:
        if command.actor.role is Role.DEPARTMENT:
            return command.actor.department
        return command.department

    def check(self, case: CaseState, command: AddProgressNote, now: datetime) -> None:
        department = self._department(command)
        if command.actor.role is Role.DEPARTMENT and command.department not in (None, department):
            raise CaseRuleViolation(Refusal.NOT_ASSIGNED, department=command.department or "-")
        case._active_assignment(department)
        _check_optional_entry_limit(case)

    def apply(
        self, case: CaseState, command: AddProgressNote, now: datetime, planner: Planner
    ) -> None:
        assignment = case._active_assignment(self._department(command))
        case._record(
            "progress_noted",
            command.actor,
            now,
            assignment_id=assignment.assignment_id,
            department=assignment.department,
            note=command.note,
        )


@rule(RequestExtension)
class RequestExtensionRule(DepartmentRule):
    def check(self, case: CaseState, command: RequestExtension, now: datetime) -> None:
        assignment = case._active_assignment(command.actor.department)
        if assignment.pending_extension is not None:
            raise CaseRuleViolation(Refusal.EXTENSION_PENDING, department=assignment.department)

    def apply(
        self, case: CaseState, command: RequestExtension, now: datetime, planner: Planner
    ) -> None:
        assignment = case._active_assignment(command.actor.department)
        assignment.extensions.append(
            ExtensionRequest(requested_at=now, extra_days=command.extra_days, reason=command.reason)
        )
        case._record(
            "extension_requested",
            command.actor,
            now,
            assignment_id=assignment.assignment_id,
            department=assignment.department,
            extra_days=command.extra_days,
            reason=command.reason,
        )


@rule(DecideExtension)
class DecideExtensionRule(Rule):
    def check(self, case: CaseState, command: DecideExtension, now: datetime) -> None:
        assignment = case._active_assignment(command.department)
        if assignment.pending_extension is None:
            raise CaseRuleViolation(Refusal.NO_PENDING_EXTENSION, department=command.department)

    def apply(
        self, case: CaseState, command: DecideExtension, now: datetime, planner: Planner
    ) -> None:
        assignment = case._active_assignment(command.department)
        request = assignment.pending_extension
        assert request is not None, "checked before applying"
        request.decided_at, request.approved = now, command.approve
        data: dict[str, EventValue] = {
            "assignment_id": assignment.assignment_id,
            "department": assignment.department,
            "extra_days": request.extra_days,
            "comment": command.comment,
        }
        if command.approve:
            clock = assignment.handling_clock
            plan = planner.clock(
                ClockSpec(
                    start=clock.started_at,
                    extend_from=clock.due_at,
                    working_days=request.extra_days,
                    warning_ratio=case.policy.warning_ratio,
                    escalation_grace_hours=case.policy.escalation_grace_hours,
                    escalation_steps=len(clock.escalate_at),
                )
            )
            assignment.handling_clock = _extended(clock, plan, now)
            data |= {
                "previous_due_at": clock.due_at.isoformat(),
                "due_at": plan.due_at.isoformat(),
            }
        event = "extension_approved" if command.approve else "extension_rejected"
        case._record(event, command.actor, now, **data)


def _extended(clock: SlaClock, plan: ClockPlan, now: datetime) -> SlaClock:
    """A moved deadline. A breach that happened stays recorded; instants the new plan puts in
    the past count as passed, so nothing that already fired fires again."""
    if plan.due_at <= now:
        phase = ClockPhase.OVERDUE
    elif plan.warn_at <= now:
        phase = ClockPhase.WARNED
    else:
        phase = ClockPhase.RUNNING
    passed = sum(1 for instant in plan.escalate_at if instant <= now)
    return clock.model_copy(
        update={
            "due_at": plan.due_at,
            "warn_at": plan.warn_at,
            "escalate_at": plan.escalate_at,
            "phase": phase,
            "escalations_fired": passed if phase is ClockPhase.OVERDUE else 0,
        }
    )


@rule(SuspendCase)
class SuspendCaseRule(Rule):
    def check(self, case: CaseState, command: SuspendCase, now: datetime) -> None:
        if case.stage not in CLOCKED_STAGES:
            raise CaseRuleViolation(
                Refusal.WRONG_STAGE, status=case.status.value, action=action_name(command)
            )
        if not case.running_clocks():
            raise CaseRuleViolation(Refusal.NO_RUNNING_CLOCK)

    def apply(self, case: CaseState, command: SuspendCase, now: datetime, planner: Planner) -> None:
        case.suspensions.append(Suspension(suspended_at=now, reason=command.reason))
        case._record("suspended", command.actor, now, reason=command.reason)


@rule(ResumeCase)
class ResumeCaseRule(Rule):
    allowed_while_suspended = True

    def check(self, case: CaseState, command: ResumeCase, now: datetime) -> None:
        if not case.suspended:
            raise CaseRuleViolation(Refusal.NOT_SUSPENDED)

    def apply(self, case: CaseState, command: ResumeCase, now: datetime, planner: Planner) -> None:
        # No clock can start while suspended, so every running clock was paused the whole time.
        running = [(owner, clock) for owner, clock in case.owned_clocks() if clock.running]
        shift = planner.shift(
            ShiftRequest(
                paused_from=case.suspensions[-1].suspended_at,
                paused_until=now,
                instants=tuple(i for _, clock in running for i in clock.pending_instants()),
            )
        )
        remaining = list(shift.instants)
        for owner, clock in running:
            count = len(clock.pending_instants())
            shifted, remaining = tuple(remaining[:count]), remaining[count:]
            replace_clock(owner, clock, clock.with_instants(shifted), case)
        suspension = case.suspensions[-1]
        suspension.resumed_at, suspension.paused_working_time = now, shift.paused_working_time
        case._record(
            "resumed",
            command.actor,
            now,
            comment=command.comment,
            paused_working_seconds=int(shift.paused_working_time.total_seconds()),
        )


@rule(Urge)
class UrgeRule(Rule):
    def check(self, case: CaseState, command: Urge, now: datetime) -> None:
        case._active_assignment(command.department)
        _check_optional_entry_limit(case)

    def apply(self, case: CaseState, command: Urge, now: datetime, planner: Planner) -> None:
        assignment = case._active_assignment(command.department)
        assignment.urge_count += 1
        case._record(
            "urged",
            command.actor,
            now,
            assignment_id=assignment.assignment_id,
            department=assignment.department,
            message=command.message,
            automatic=False,
        )


@rule(SubmitFinalReply)
class SubmitFinalReplyRule(Rule):
    roles = frozenset({Role.DEPARTMENT})

    def check(self, case: CaseState, command: SubmitFinalReply, now: datetime) -> None:
        lead = case.lead_department or "-"
        if command.actor.department != lead:
            raise CaseRuleViolation(Refusal.NOT_LEAD, lead=lead)
        if case.status is Status.HANDLING:
            working = [a.department for a in case.round_assignments() if a.active]
            raise CaseRuleViolation(Refusal.HANDLING_UNFINISHED, departments=", ".join(working))
        case._require_status(command, Status.AWAITING_FINAL_REPLY)

    def apply(
        self, case: CaseState, command: SubmitFinalReply, now: datetime, planner: Planner
    ) -> None:
        current = case.current_round
        assert current is not None, "a reply belongs to a round"
        assert current.reply_clock is not None, "a reply is awaited"
        current.reply_clock = current.reply_clock.stopped(now)
        current.final_reply, current.replied_at = command.reply, now
        case._record(
            "final_reply",
            command.actor,
            now,
            round=current.number,
            reply=command.reply,
            late=current.reply_clock.breached,
        )
        case._await_verification(command.reply, now, planner)


@rule(VerifyOnSite)
class VerifyOnSiteRule(Rule):
    roles = frozenset({Role.GRID_WORKER, Role.COORDINATOR})

    def check(self, case: CaseState, command: VerifyOnSite, now: datetime) -> None:
        case._require_status(command, Status.AWAITING_VERIFICATION)

    def apply(
        self, case: CaseState, command: VerifyOnSite, now: datetime, planner: Planner
    ) -> None:
        current = case.current_round
        assert current is not None, "verification follows a round"
        assert current.verification_clock is not None, "verification is awaited"
        current.verification_clock = current.verification_clock.stopped(now)
        case._record(
            "verified" if command.passed else "verification_failed",
            command.actor,
            now,
            notes=command.notes,
            evidence_urls=list(command.evidence_urls),
            late=current.verification_clock.breached,
        )
        if command.passed:
            case._await_feedback(case.reply or "", now, planner)
        else:
            case._reopen(RoundReason.VERIFICATION_FAILED, command.actor, now, planner)


@rule(RateFeedback)
class RateFeedbackRule(Rule):
    roles = frozenset({Role.REPORTER, Role.COORDINATOR})

    def check(self, case: CaseState, command: RateFeedback, now: datetime) -> None:
        if case.status is not Status.AWAITING_FEEDBACK:
            raise CaseRuleViolation(Refusal.NOT_AWAITING_FEEDBACK, status=case.status.value)

    def apply(
        self, case: CaseState, command: RateFeedback, now: datetime, planner: Planner
    ) -> None:
        case.rating = command.rating
        if case.feedback_clock is not None:
            case.feedback_clock = case.feedback_clock.stopped(now)
        case._record(
            "feedback_rated",
            command.actor,
            now,
            rating=command.rating.value,
            channel=command.channel.value,
            comment=command.comment,
        )
        if command.rating is not Rating.DISSATISFIED:
            case._close(now)
            return
        case._add_trigger(ReviewTrigger.DISSATISFACTION)
        if case.rehandling_rounds < case.policy.max_rehandling_rounds:
            case.rehandling_rounds += 1
            case._reopen(RoundReason.REHANDLING, command.actor, now, planner)
            return
        case._add_trigger(ReviewTrigger.REHANDLING_CAP)
        case._close(now)


@rule(RecordFollowUp)
class RecordFollowUpRule(Rule):
    roles = frozenset({Role.GRID_WORKER, Role.COORDINATOR})

    def check(self, case: CaseState, command: RecordFollowUp, now: datetime) -> None:
        if case.stage is not Stage.FOLLOW_UP:
            raise CaseRuleViolation(
                Refusal.WRONG_STAGE, status=case.status.value, action=action_name(command)
            )
        if self._due_check(case) is None:
            upcoming = min(f.due_at for f in case.follow_ups if f.recorded_at is None)
            raise CaseRuleViolation(Refusal.FOLLOW_UP_NOT_DUE, due_at=upcoming.isoformat())

    def _due_check(self, case: CaseState) -> FollowUpCheck | None:
        due = [f for f in case.follow_ups if f.announced and f.recorded_at is None]
        return due[0] if due else None

    def apply(
        self, case: CaseState, command: RecordFollowUp, now: datetime, planner: Planner
    ) -> None:
        check = self._due_check(case)
        assert check is not None, "checked before applying"
        check.recorded_at, check.outcome = now, command.outcome
        case._record(
            "follow_up_recorded",
            command.actor,
            now,
            outcome=command.outcome.value,
            notes=command.notes,
            evidence_urls=list(command.evidence_urls),
        )
        if command.outcome is FollowUpOutcome.RECURRED:
            case.recurrences += 1
            case.closed_at = None
            case.follow_ups = [f for f in case.follow_ups if f.recorded_at is not None]
            case._add_trigger(ReviewTrigger.RECURRENCE)
            case._record("recurred", command.actor, now, recurrences=case.recurrences)
            case._reopen(RoundReason.RECURRENCE, command.actor, now, planner)
            return
        if any(f.recorded_at is None for f in case.follow_ups):
            case.status = (
                Status.FOLLOW_UP_DUE if self._due_check(case) else Status.FOLLOW_UP_SCHEDULED
            )
            return
        case._review_or_archive(now)


@rule(RecordReviewFindings)
class RecordReviewFindingsRule(Rule):
    roles = frozenset({Role.AUDITOR})

    def check(self, case: CaseState, command: RecordReviewFindings, now: datetime) -> None:
        case._require_status(command, Status.AWAITING_REVIEW)

    def apply(
        self, case: CaseState, command: RecordReviewFindings, now: datetime, planner: Planner
    ) -> None:
        review = case.review
        assert review is not None, "a review is open"
        review.findings, review.recorded_at = command, now
        case._record(
            "review_recorded",
            command.actor,
            now,
            root_cause=command.root_cause,
            responsible_departments=list(command.responsible_departments),
            responsible_people=list(command.responsible_people),
            outcome=command.outcome.value,
            score_deduction=command.score_deduction,
            notes=command.notes,
        )
        case._archive(now)


# ---- what the workflow calls ----------------------------------------------------------------


def validate(case: CaseState, command: Command, now: datetime) -> None:
    """Raise CaseRuleViolation if the command is illegal now; change nothing.

    `case` must already have fired its timers due by `now` (see `CaseState.as_of`).
    """
    if command.request_id in case.answered:
        return
    rule = _rule_for(command)
    if command.actor.role not in rule.roles:
        raise CaseRuleViolation(
            Refusal.NOT_PERMITTED, role=command.actor.role.value, action=action_name(command)
        )
    if case.suspended and not rule.allowed_while_suspended:
        raise CaseRuleViolation(Refusal.CASE_SUSPENDED, action=action_name(command))
    rule.check(case, command, now)


def planning_needs(case: CaseState, command: Command, now: datetime) -> PlanningNeeds:
    """The calendar work a legal command needs, found by applying it to a throwaway copy."""
    if command.request_id in case.answered:
        return PlanningNeeds()
    recorder = NeedsRecorder()
    _rule_for(command).apply(case.model_copy(deep=True), command, now, recorder)
    return recorder.needs()


def apply(case: CaseState, command: Command, now: datetime, planning: Planning) -> ActionAccepted:
    """Validate again and apply; the same request id twice returns the first answer."""
    if command.request_id in case.answered:
        return case.answered[command.request_id]
    validate(case, command, now)
    first_new_event = len(case.events) + 1
    answers = PlannedAnswers(planning)
    _rule_for(command).apply(case, command, now, answers)
    answers.check_all_used()
    answer = ActionAccepted(
        request_id=command.request_id,
        case_no=case.case_no,
        stage=case.stage,
        status=case.status,
        event_sequence=tuple(range(first_new_event, len(case.events) + 1)),
    )
    case.answered[command.request_id] = answer
    while len(case.answered) > ANSWER_WINDOW:
        del case.answered[next(iter(case.answered))]
    return answer
