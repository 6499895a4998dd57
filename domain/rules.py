"""One rule per message: who may send it, when it is legal, what calendar work it needs and
what it changes. `validate`, `planning_needs` and `apply` are what the workflow calls.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from domain.clocks import ClockKind, ClockPhase, ClockPlan, ClockSpec, ShiftRequest, SlaClock
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
    CaseState,
    Consultation,
    ExtensionRequest,
    FollowUpCheck,
    Planning,
    PlanningNeeds,
    Suspension,
    action_name,
    replace_clock,
    stop_if_running,
)

# ---- the rules, one per message -------------------------------------------------------------


class Rule:
    """Who may send one command, when it is legal, what calendar work it needs, what it changes."""

    roles: frozenset[Role] = frozenset({Role.COORDINATOR})

    def check(self, case: CaseState, command: Any, now: datetime) -> None:
        raise NotImplementedError

    def needs(self, case: CaseState, command: Any, now: datetime) -> PlanningNeeds:
        return PlanningNeeds()

    def apply(self, case: CaseState, command: Any, now: datetime, planning: Planning) -> None:
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

    def needs(self, case: CaseState, command: ResolveOnSite, now: datetime) -> PlanningNeeds:
        return case._feedback_spec(now)

    def apply(
        self, case: CaseState, command: ResolveOnSite, now: datetime, planning: Planning
    ) -> None:
        case._record(
            "resolved_on_site",
            command.actor,
            now,
            result=command.result,
            evidence_urls=list(command.evidence_urls),
        )
        case._await_feedback(command.result, now, planning)


def _check_routing(lead: str, co_departments: tuple[str, ...]) -> None:
    if not lead.strip() or any(not d.strip() for d in co_departments):
        raise CaseRuleViolation(Refusal.INVALID_ROUTING, reason="empty department code")


@rule(Dispatch)
class DispatchRule(Rule):
    def check(self, case: CaseState, command: Dispatch, now: datetime) -> None:
        case._require_status(command, *TRIAGE_STATUSES)
        case._require_not_suspended(command)
        _check_routing(command.lead_department, command.co_departments)

    def _new_departments(self, case: CaseState, command: Dispatch) -> list[tuple[str, int]]:
        kept: set[str] = set()
        if case.status is Status.AWAITING_REROUTING:
            kept = {
                a.department
                for a in case.round_assignments()
                if a.state is not AssignmentState.RETURNED
            }
        wanted = [command.lead_department, *command.co_departments]
        return [(d, case.policy.handling_days) for d in wanted if d not in kept]

    def needs(self, case: CaseState, command: Dispatch, now: datetime) -> PlanningNeeds:
        specs = case._assignment_specs(self._new_departments(case, command), now)
        return PlanningNeeds(clocks=tuple(specs))

    def apply(self, case: CaseState, command: Dispatch, now: datetime, planning: Planning) -> None:
        departments = self._new_departments(case, command)
        current = case.current_round
        if case.status is Status.AWAITING_REROUTING and current is not None:
            current.lead_department = command.lead_department
            for assignment in case.round_assignments():
                is_lead = assignment.department == command.lead_department
                assignment.role = AssignmentRole.LEAD if is_lead else AssignmentRole.CO_HANDLER
            case._assign(departments, command.lead_department, current.number, now, planning.clocks)
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
            case._round_settled(now)
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
            planning.clocks,
        )


@rule(ConveneConsultation)
class ConveneConsultationRule(Rule):
    def check(self, case: CaseState, command: ConveneConsultation, now: datetime) -> None:
        case._require_status(command, *TRIAGE_STATUSES)
        case._require_not_suspended(command)
        still_working = [a.department for a in case.round_assignments() if a.active]
        if still_working:
            raise CaseRuleViolation(
                Refusal.HANDLING_UNFINISHED, departments=", ".join(still_working)
            )

    def needs(self, case: CaseState, command: ConveneConsultation, now: datetime) -> PlanningNeeds:
        policy = case.policy
        spec = ClockSpec(
            start=now,
            working_days=policy.consultation_days,
            warning_ratio=policy.warning_ratio,
            escalation_grace_hours=policy.escalation_grace_hours,
            escalation_steps=case._escalation_steps(),
        )
        return PlanningNeeds(clocks=(spec,))

    def apply(
        self, case: CaseState, command: ConveneConsultation, now: datetime, planning: Planning
    ) -> None:
        clock = SlaClock.planned(ClockKind.CONSULTATION, now, planning.clocks[0])
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
        case._require_not_suspended(command)
        _check_routing(command.lead_department, command.co_departments)

    def _departments(
        self, case: CaseState, command: RecordConsultationDecision
    ) -> list[tuple[str, int]]:
        days = {d.department: d.handling_days for d in command.deadlines}
        wanted = [command.lead_department, *command.co_departments]
        return [(d, days.get(d, case.policy.handling_days)) for d in wanted]

    def needs(
        self, case: CaseState, command: RecordConsultationDecision, now: datetime
    ) -> PlanningNeeds:
        return PlanningNeeds(
            clocks=tuple(case._assignment_specs(self._departments(case, command), now))
        )

    def apply(
        self,
        case: CaseState,
        command: RecordConsultationDecision,
        now: datetime,
        planning: Planning,
    ) -> None:
        consultation = case.consultations[-1]
        consultation.decided_at, consultation.minutes = now, command.minutes
        consultation.participants = command.participants
        consultation.clock = consultation.clock.stopped(now)
        departments = self._departments(case, command)
        case._record(
            "consultation_decided",
            command.actor,
            now,
            lead_department=command.lead_department,
            co_departments=list(command.co_departments),
            participants=list(command.participants),
            minutes=command.minutes,
            handling_days=[f"{d}={days}" for d, days in departments],
        )
        case._start_round(
            RoundReason.CONSULTATION,
            command.lead_department,
            departments,
            command.actor,
            now,
            planning.clocks,
        )


@rule(Escalate)
class EscalateRule(Rule):
    def check(self, case: CaseState, command: Escalate, now: datetime) -> None:
        if case.stage not in (Stage.REPORT, Stage.CONSULT, Stage.HANDLE):
            raise CaseRuleViolation(
                Refusal.WRONG_STAGE, status=case.status.value, action=action_name(command)
            )
        if case.tier.next() is None:
            raise CaseRuleViolation(Refusal.TOP_TIER_REACHED)

    def apply(self, case: CaseState, command: Escalate, now: datetime, planning: Planning) -> None:
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
        case._require_not_suspended(command)
        case._active_assignment(command.actor.department)


@rule(SignForWork)
class SignForWorkRule(DepartmentRule):
    def check(self, case: CaseState, command: SignForWork, now: datetime) -> None:
        super().check(case, command, now)
        if case._active_assignment(command.actor.department).signed_at is not None:
            raise CaseRuleViolation(
                Refusal.ALREADY_SIGNED, department=command.actor.department or "-"
            )

    def apply(
        self, case: CaseState, command: SignForWork, now: datetime, planning: Planning
    ) -> None:
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
        super().check(case, command, now)
        if case._active_assignment(command.actor.department).signed_at is None:
            raise CaseRuleViolation(Refusal.NOT_SIGNED, department=command.actor.department or "-")

    def apply(
        self, case: CaseState, command: CompleteWork, now: datetime, planning: Planning
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
        case._round_settled(now)


@rule(ReturnWork)
class ReturnWorkRule(DepartmentRule):
    def apply(
        self, case: CaseState, command: ReturnWork, now: datetime, planning: Planning
    ) -> None:
        assignment = case._active_assignment(command.actor.department)
        assignment.state, assignment.returned_at = AssignmentState.RETURNED, now
        assignment.return_reason = command.reason
        assignment.sign_clock = stop_if_running(assignment.sign_clock, now)
        assignment.handling_clock = stop_if_running(assignment.handling_clock, now)
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


@rule(AddProgressNote)
class AddProgressNoteRule(Rule):
    roles = frozenset({Role.DEPARTMENT, Role.COORDINATOR, Role.GRID_WORKER})

    def _department(self, command: AddProgressNote) -> str | None:
        if command.actor.role is Role.DEPARTMENT:
            return command.actor.department
        return command.department

    def check(self, case: CaseState, command: AddProgressNote, now: datetime) -> None:
        department = self._department(command)
        if command.actor.role is Role.DEPARTMENT and command.department not in (None, department):
            raise CaseRuleViolation(Refusal.NOT_ASSIGNED, department=command.department or "-")
        case._active_assignment(department)

    def apply(
        self, case: CaseState, command: AddProgressNote, now: datetime, planning: Planning
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
        super().check(case, command, now)
        assignment = case._active_assignment(command.actor.department)
        if assignment.pending_extension is not None:
            raise CaseRuleViolation(Refusal.EXTENSION_PENDING, department=assignment.department)

    def apply(
        self, case: CaseState, command: RequestExtension, now: datetime, planning: Planning
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

    def needs(self, case: CaseState, command: DecideExtension, now: datetime) -> PlanningNeeds:
        if not command.approve:
            return PlanningNeeds()
        assignment = case._active_assignment(command.department)
        request = assignment.pending_extension
        assert request is not None, "checked before planning"
        clock = assignment.handling_clock
        spec = ClockSpec(
            start=clock.started_at,
            extend_from=clock.due_at,
            working_days=request.extra_days,
            warning_ratio=case.policy.warning_ratio,
            escalation_grace_hours=case.policy.escalation_grace_hours,
            escalation_steps=len(clock.escalate_at),
        )
        return PlanningNeeds(clocks=(spec,))

    def apply(
        self, case: CaseState, command: DecideExtension, now: datetime, planning: Planning
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
            old_due = assignment.handling_clock.due_at
            assignment.handling_clock = _extended(
                assignment.handling_clock, planning.clocks[0], now
            )
            data |= {
                "previous_due_at": old_due.isoformat(),
                "due_at": assignment.handling_clock.due_at.isoformat(),
            }
        event = "extension_approved" if command.approve else "extension_rejected"
        case._record(event, command.actor, now, **data)


@rule(SuspendCase)
class SuspendCaseRule(Rule):
    def check(self, case: CaseState, command: SuspendCase, now: datetime) -> None:
        if case.stage not in CLOCKED_STAGES:
            raise CaseRuleViolation(
                Refusal.WRONG_STAGE, status=case.status.value, action=action_name(command)
            )
        case._require_not_suspended(command)

    def apply(
        self, case: CaseState, command: SuspendCase, now: datetime, planning: Planning
    ) -> None:
        case.suspensions.append(Suspension(suspended_at=now, reason=command.reason))
        case._record("suspended", command.actor, now, reason=command.reason)


@rule(ResumeCase)
class ResumeCaseRule(Rule):
    def check(self, case: CaseState, command: ResumeCase, now: datetime) -> None:
        if not case.suspended:
            raise CaseRuleViolation(Refusal.NOT_SUSPENDED)

    def needs(self, case: CaseState, command: ResumeCase, now: datetime) -> PlanningNeeds:
        instants = tuple(i for c in case.running_clocks() for i in c.pending_instants())
        shift = ShiftRequest(
            paused_from=case.suspensions[-1].suspended_at, paused_until=now, instants=instants
        )
        return PlanningNeeds(shift=shift)

    def apply(
        self, case: CaseState, command: ResumeCase, now: datetime, planning: Planning
    ) -> None:
        shift = planning.shift
        assert shift is not None, "a resume is always planned"
        remaining = list(shift.instants)
        for owner, clock in case.owned_clocks():
            if not clock.running:
                continue
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

    def apply(self, case: CaseState, command: Urge, now: datetime, planning: Planning) -> None:
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
        self, case: CaseState, command: SubmitFinalReply, now: datetime, planning: Planning
    ) -> None:
        current = case.current_round
        assert current is not None, "a reply belongs to a round"
        current.final_reply, current.replied_at = command.reply, now
        case.reply = command.reply
        case.status = Status.AWAITING_VERIFICATION
        case._record("final_reply", command.actor, now, round=current.number, reply=command.reply)


@rule(VerifyOnSite)
class VerifyOnSiteRule(Rule):
    roles = frozenset({Role.GRID_WORKER, Role.COORDINATOR})

    def check(self, case: CaseState, command: VerifyOnSite, now: datetime) -> None:
        case._require_status(command, Status.AWAITING_VERIFICATION)

    def needs(self, case: CaseState, command: VerifyOnSite, now: datetime) -> PlanningNeeds:
        return case._feedback_spec(now) if command.passed else case._reopen_specs(now)

    def apply(
        self, case: CaseState, command: VerifyOnSite, now: datetime, planning: Planning
    ) -> None:
        case._record(
            "verified" if command.passed else "verification_failed",
            command.actor,
            now,
            notes=command.notes,
            evidence_urls=list(command.evidence_urls),
        )
        if command.passed:
            case._await_feedback(case.reply or "", now, planning)
        else:
            case._reopen(RoundReason.VERIFICATION_FAILED, command.actor, now, planning)


@rule(RateFeedback)
class RateFeedbackRule(Rule):
    roles = frozenset({Role.REPORTER, Role.COORDINATOR})

    def check(self, case: CaseState, command: RateFeedback, now: datetime) -> None:
        if case.status is not Status.AWAITING_FEEDBACK:
            raise CaseRuleViolation(Refusal.NOT_AWAITING_FEEDBACK, status=case.status.value)

    def _rehandles(self, case: CaseState, command: RateFeedback) -> bool:
        dissatisfied = command.rating is Rating.DISSATISFIED
        return dissatisfied and case.rehandling_rounds < case.policy.max_rehandling_rounds

    def needs(self, case: CaseState, command: RateFeedback, now: datetime) -> PlanningNeeds:
        return case._reopen_specs(now) if self._rehandles(case, command) else PlanningNeeds()

    def apply(
        self, case: CaseState, command: RateFeedback, now: datetime, planning: Planning
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
        if self._rehandles(case, command):
            case.rehandling_rounds += 1
            case._reopen(RoundReason.REHANDLING, command.actor, now, planning)
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

    def needs(self, case: CaseState, command: RecordFollowUp, now: datetime) -> PlanningNeeds:
        if command.outcome is FollowUpOutcome.RECURRED:
            return case._reopen_specs(now)
        return PlanningNeeds()

    def apply(
        self, case: CaseState, command: RecordFollowUp, now: datetime, planning: Planning
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
            case._reopen(RoundReason.RECURRENCE, command.actor, now, planning)
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
        self, case: CaseState, command: RecordReviewFindings, now: datetime, planning: Planning
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


def _extended(clock: SlaClock, plan: ClockPlan, now: datetime) -> SlaClock:
    """A moved deadline: a clock already overdue keeps its breach but runs again."""
    phase = ClockPhase.WARNED if plan.warn_at <= now else ClockPhase.RUNNING
    return clock.model_copy(
        update={
            "due_at": plan.due_at,
            "warn_at": plan.warn_at,
            "escalate_at": plan.escalate_at,
            "phase": phase,
            "escalations_fired": 0,
        }
    )


def validate(case: CaseState, command: Command, now: datetime) -> None:
    """Raise CaseRuleViolation if the command is illegal now; change nothing."""
    if command.request_id in case.answered:
        return
    rule = _rule_for(command)
    if command.actor.role not in rule.roles:
        raise CaseRuleViolation(
            Refusal.NOT_PERMITTED, role=command.actor.role.value, action=action_name(command)
        )
    rule.check(case, command, now)


def planning_needs(case: CaseState, command: Command, now: datetime) -> PlanningNeeds:
    if command.request_id in case.answered:
        return PlanningNeeds()
    return _rule_for(command).needs(case, command, now)


def apply(case: CaseState, command: Command, now: datetime, planning: Planning) -> ActionAccepted:
    """Validate again and apply; the same request id twice returns the first answer."""
    if command.request_id in case.answered:
        return case.answered[command.request_id]
    validate(case, command, now)
    first_new_event = len(case.events) + 1
    _rule_for(command).apply(case, command, now, planning)
    answer = ActionAccepted(
        request_id=command.request_id,
        case_no=case.case_no,
        stage=case.stage,
        status=case.status,
        event_sequence=tuple(range(first_new_event, len(case.events) + 1)),
    )
    case.answered[command.request_id] = answer
    return answer
