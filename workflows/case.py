"""CaseWorkflow: one durable workflow per case, from report to archive.

Deterministic orchestration only. The rules live in `domain`; this class turns them into Temporal
messages (an Update per action, validated before it reaches history), runs one timer loop over
every SLA clock and follow-up, asks the calendar activity for deadlines, publishes search
attributes, and continues as new when the history grows long.
"""

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, ApplicationError, WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain import rules
    from domain.clocks import NO_PLANNING, Planning, PlanningNeeds
    from domain.errors import CaseRuleViolation, Refusal
    from domain.messages import (
        ActionAccepted,
        AddProgressNote,
        CaseInput,
        CaseSummary,
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
        ResumeCase,
        ReturnWork,
        SignForWork,
        SubmitFinalReply,
        SuspendCase,
        Urge,
        VerifyOnSite,
        WithdrawWork,
    )
    from domain.model import Frozen, Stage
    from domain.notifications import Notification, notifications
    from domain.projection import ChangesProjected, ProjectChanges, project
    from domain.state import CaseState, Flags
    from workflows import search_attributes as sa
    from workflows.notification import NotificationDelivery, delivery_workflow_id

PLANNING_TIMEOUT = timedelta(seconds=30)
PROJECTION_TIMEOUT = timedelta(seconds=30)
# The read model may be down for a while; keep trying, nothing is lost meanwhile.
PROJECTION_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))
PLANNING_RETRY = RetryPolicy(
    maximum_attempts=5, non_retryable_error_types=[Refusal.CALENDAR_DATA_MISSING.value]
)
# Since this patch, the case tells departments about their work (domain.notifications, delivered
# to their webhooks): one NotificationDelivery child workflow per notification, abandoned to run
# on its own, so neither a slow receiver nor its retries hold the case, and a delivery outlives
# this run. Asked once, as a run starts: runs begun before it never notify, and continue as new
# with their old arguments; the run after them notifies from the first event it did not carry.
NOTIFICATIONS_PATCH = "department-notifications"
# Since this patch, the projection write says which notified departments have a webhook, and the
# case starts deliveries for those alone: most departments have none, and a child workflow for
# each of their notifications cost every dispatch, urge and escalation several server round
# trips (docs/performance.md). Runs begun before it keep a notifier of their own that starts a
# delivery for every notification.
WEBHOOK_ROUTING_PATCH = "notify-departments-with-webhooks"


class Confirmed(Frozen):
    """What a run that continued as new had confirmed: the events projected and notified.
    Runs without notifications pass the projected sequence alone, as an int."""

    projected_through: int
    notified_through: int


class CaseSnapshot(Frozen):
    """The answer to the `state` query: the whole case and its flags."""

    case: CaseState
    flags: Flags


def workflow_id(case_no: str) -> str:
    return f"case-{case_no}"


@workflow.defn
class CaseWorkflow:
    # `confirmed` keeps its place and its int form (the SDK decodes arguments by type only when
    # their count matches the parameters'; every run before notifications passed three).
    @workflow.init
    def __init__(
        self, case: CaseInput, carried: CaseState | None = None, confirmed: int | Confirmed = 0
    ) -> None:
        sampled = workflow.random().random() < case.policy.review_sampling_rate
        self._case = carried or CaseState.open(case, sampled_for_review=sampled)
        self._input = case
        self._lock = asyncio.Lock()
        self._published: list[SearchAttributeUpdate[Any]] = []
        if isinstance(confirmed, Confirmed):
            self._projected_through = confirmed.projected_through
            self._notified_through = confirmed.notified_through
        else:
            self._projected_through = confirmed
            # Carried from a run without notifications: what it saw is not news any more.
            self._notified_through = self._case.events[-1].sequence if carried else 0
        self._notifying = False
        self._routing_by_webhooks = False
        self._finishing = False

    @workflow.run
    async def run(
        self, case: CaseInput, carried: CaseState | None = None, confirmed: int | Confirmed = 0
    ) -> CaseSummary:
        """`carried` and `confirmed` come from a previous run that continued as new."""
        self._notifying = workflow.patched(NOTIFICATIONS_PATCH)
        self._routing_by_webhooks = self._notifying and workflow.patched(WEBHOOK_ROUTING_PATCH)
        self._publish()
        projector = asyncio.create_task(self._project_changes())
        notifier = (
            asyncio.create_task(self._notify_departments())
            if self._notifying and not self._routing_by_webhooks
            else None
        )
        while self._case.stage is not Stage.ARCHIVED:
            await self._sleep_until_next_thing()
            async with self._lock:
                if self._case.fire_timers(workflow.now()):
                    self._publish()
            if self._should_continue_as_new():
                # Nothing may be awaited between the handlers finishing and continuing as new, or
                # an Update accepted meanwhile would be cut off. The next run projects and notifies
                # whatever this one had not yet confirmed (both are idempotent).
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(args=[self._input, self._case, self._confirmed()])
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._finish_background_work(projector, notifier)
        return self._summary()

    async def _sleep_until_next_thing(self) -> None:
        """Sleep until the next SLA instant. Wake early when an action moves that instant, ends
        the case, or when history asks to be cut; an action that leaves the instant alone (a
        progress note) keeps the timer, so it adds no timer events to history."""
        wakeup = self._case.next_wakeup()
        timeout = None if wakeup is None else max(wakeup - workflow.now(), timedelta(0))
        if timeout == timedelta(0):
            return
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: (
                    self._case.next_wakeup() != wakeup
                    or self._case.stage is Stage.ARCHIVED
                    or self._should_continue_as_new()
                ),
                timeout=timeout,
            )

    async def _project_changes(self) -> None:
        """Write new events to the read model, in batches, beside the main loop: a read-model
        outage delays the lists and dashboards, never an SLA timer. Then start the deliveries
        the write found a webhook for."""
        while True:
            await workflow.wait_condition(lambda: self._unconfirmed() or self._finishing)
            if not self._unconfirmed():
                return
            if self._routing_by_webhooks:
                await self._project_and_notify()
                continue
            projection = project(self._case, self._projected_through)
            await workflow.execute_activity(
                "project_case",
                projection,
                start_to_close_timeout=PROJECTION_TIMEOUT,
                retry_policy=PROJECTION_RETRY,
            )
            self._projected_through = projection.case.last_event_sequence

    async def _project_and_notify(self) -> None:
        through = self._case.events[-1].sequence
        found = notifications(self._case, self._notified_through)
        changes = ProjectChanges(
            projection=project(self._case, self._projected_through),
            notified_departments=tuple(sorted({n.department for n in found})),
        )
        projected = await workflow.execute_activity(
            "project_changes",
            changes,
            result_type=ChangesProjected,
            start_to_close_timeout=PROJECTION_TIMEOUT,
            retry_policy=PROJECTION_RETRY,
        )
        self._projected_through = through
        listening = projected.listening_departments
        await asyncio.gather(*(self._start_delivery(n) for n in found if n.department in listening))
        self._notified_through = through

    def _unconfirmed(self) -> bool:
        return self._unprojected() or (self._routing_by_webhooks and self._unnotified())

    def _unprojected(self) -> bool:
        return self._case.events[-1].sequence > self._projected_through

    async def _notify_departments(self) -> None:
        """For runs begun before the webhook routing patch: start a delivery for each new
        notification, beside the main loop. A start that the run before this one made already
        (it continued as new before hearing back) is refused by its workflow id, so each
        notification is delivered once."""
        while True:
            await workflow.wait_condition(lambda: self._unnotified() or self._finishing)
            if not self._unnotified():
                return
            through = self._case.events[-1].sequence
            found = notifications(self._case, self._notified_through)
            await asyncio.gather(*(self._start_delivery(n) for n in found))
            self._notified_through = through

    async def _start_delivery(self, notification: Notification) -> None:
        try:
            await workflow.start_child_workflow(
                NotificationDelivery.run,
                notification,
                id=delivery_workflow_id(notification),
                parent_close_policy=ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            return

    def _unnotified(self) -> bool:
        return self._case.events[-1].sequence > self._notified_through

    def _confirmed(self) -> int | Confirmed:
        if not self._notifying:
            return self._projected_through
        return Confirmed(
            projected_through=self._projected_through, notified_through=self._notified_through
        )

    async def _finish_background_work(
        self, projector: "asyncio.Task[None]", notifier: "asyncio.Task[None] | None"
    ) -> None:
        self._finishing = True
        await projector
        if notifier is not None:
            await notifier

    def _should_continue_as_new(self) -> bool:
        return workflow.info().is_continue_as_new_suggested()

    # ---- queries ---------------------------------------------------------------------------

    @workflow.query
    def state(self) -> CaseSnapshot:
        return CaseSnapshot(case=self._case, flags=self._case.flags())

    # ---- updates: one per action -----------------------------------------------------------

    @workflow.update
    async def resolve_on_site(self, command: ResolveOnSite) -> ActionAccepted:
        return await self._act(command)

    @resolve_on_site.validator
    def _check_resolve_on_site(self, command: ResolveOnSite) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def dispatch(self, command: Dispatch) -> ActionAccepted:
        return await self._act(command)

    @dispatch.validator
    def _check_dispatch(self, command: Dispatch) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def convene_consultation(self, command: ConveneConsultation) -> ActionAccepted:
        return await self._act(command)

    @convene_consultation.validator
    def _check_convene_consultation(self, command: ConveneConsultation) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def record_consultation_decision(
        self, command: RecordConsultationDecision
    ) -> ActionAccepted:
        return await self._act(command)

    @record_consultation_decision.validator
    def _check_record_consultation_decision(self, command: RecordConsultationDecision) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def escalate(self, command: Escalate) -> ActionAccepted:
        return await self._act(command)

    @escalate.validator
    def _check_escalate(self, command: Escalate) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def sign_for_work(self, command: SignForWork) -> ActionAccepted:
        return await self._act(command)

    @sign_for_work.validator
    def _check_sign_for_work(self, command: SignForWork) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def complete_work(self, command: CompleteWork) -> ActionAccepted:
        return await self._act(command)

    @complete_work.validator
    def _check_complete_work(self, command: CompleteWork) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def return_work(self, command: ReturnWork) -> ActionAccepted:
        return await self._act(command)

    @return_work.validator
    def _check_return_work(self, command: ReturnWork) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def reassign_work(self, command: ReassignWork) -> ActionAccepted:
        return await self._act(command)

    @reassign_work.validator
    def _check_reassign_work(self, command: ReassignWork) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def withdraw_work(self, command: WithdrawWork) -> ActionAccepted:
        return await self._act(command)

    @withdraw_work.validator
    def _check_withdraw_work(self, command: WithdrawWork) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def add_progress_note(self, command: AddProgressNote) -> ActionAccepted:
        return await self._act(command)

    @add_progress_note.validator
    def _check_add_progress_note(self, command: AddProgressNote) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def request_extension(self, command: RequestExtension) -> ActionAccepted:
        return await self._act(command)

    @request_extension.validator
    def _check_request_extension(self, command: RequestExtension) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def decide_extension(self, command: DecideExtension) -> ActionAccepted:
        return await self._act(command)

    @decide_extension.validator
    def _check_decide_extension(self, command: DecideExtension) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def suspend(self, command: SuspendCase) -> ActionAccepted:
        return await self._act(command)

    @suspend.validator
    def _check_suspend(self, command: SuspendCase) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def resume(self, command: ResumeCase) -> ActionAccepted:
        return await self._act(command)

    @resume.validator
    def _check_resume(self, command: ResumeCase) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def submit_final_reply(self, command: SubmitFinalReply) -> ActionAccepted:
        return await self._act(command)

    @submit_final_reply.validator
    def _check_submit_final_reply(self, command: SubmitFinalReply) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def verify_on_site(self, command: VerifyOnSite) -> ActionAccepted:
        return await self._act(command)

    @verify_on_site.validator
    def _check_verify_on_site(self, command: VerifyOnSite) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def rate_feedback(self, command: RateFeedback) -> ActionAccepted:
        return await self._act(command)

    @rate_feedback.validator
    def _check_rate_feedback(self, command: RateFeedback) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def record_follow_up(self, command: RecordFollowUp) -> ActionAccepted:
        return await self._act(command)

    @record_follow_up.validator
    def _check_record_follow_up(self, command: RecordFollowUp) -> None:
        self._refuse_if_illegal(command)

    @workflow.update
    async def record_review_findings(self, command: RecordReviewFindings) -> ActionAccepted:
        return await self._act(command)

    @record_review_findings.validator
    def _check_record_review_findings(self, command: RecordReviewFindings) -> None:
        self._refuse_if_illegal(command)

    # ---- signals: fire-and-forget notices ----------------------------------------------------

    @workflow.signal
    async def urge(self, command: Urge) -> None:
        """催办 needs no answer; an urge that makes no sense is logged and dropped."""
        async with self._lock:
            self._fire_due_timers()
            try:
                rules.apply(self._case, command, workflow.now(), NO_PLANNING)
            except CaseRuleViolation as refused:
                workflow.logger.warning(
                    "urge ignored",
                    extra={"refusal": refused.refusal.value, "request_id": command.request_id},
                )
                return

    # ---- the one path every action takes -------------------------------------------------------

    def _refuse_if_illegal(self, command: Command) -> None:
        # A timer may be due in this very workflow task, before the loop has fired it: judge
        # the action on the case as it is now (a late sign-for is late).
        now = workflow.now()
        try:
            rules.validate(self._case.as_of(now), command, now)
        except CaseRuleViolation as refused:
            raise _refusal_error(refused) from refused

    def _fire_due_timers(self) -> None:
        if self._case.fire_timers(workflow.now()):
            self._publish()

    async def _act(self, command: Command) -> ActionAccepted:
        async with self._lock:
            self._fire_due_timers()
            # Another action may have run while this one waited for the lock: check again.
            now = workflow.now()
            self._refuse_if_illegal(command)
            with _failing_only_this_action(command):
                needs = rules.planning_needs(self._case, command, now)
            planning = NO_PLANNING if needs.empty else await self._plan(needs)
            # Applied to a copy: an action changes the case completely or not at all.
            draft = self._case.model_copy(deep=True)
            with _failing_only_this_action(command):
                answer = rules.apply(draft, command, now, planning)
            self._case = draft
            self._publish()
            return answer

    async def _plan(self, needs: PlanningNeeds) -> Planning:
        try:
            planning: Planning = await workflow.execute_activity(
                "plan_clocks",
                needs,
                result_type=Planning,
                start_to_close_timeout=PLANNING_TIMEOUT,
                retry_policy=PLANNING_RETRY,
            )
        except ActivityError as failed:
            cause = failed.cause
            if isinstance(cause, ApplicationError) and cause.type:
                raise ApplicationError(
                    cause.message, *cause.details, type=cause.type, non_retryable=True
                ) from failed
            raise ApplicationError(
                "deadline planning failed", type="planning_failed", non_retryable=True
            ) from failed
        return planning

    def _publish(self) -> None:
        case = self._case
        updates: list[SearchAttributeUpdate[Any]] = [
            sa.STAGE.value_set(case.stage.value),
            sa.CATEGORY.value_set(case.report.category),
            sa.GRID.value_set(case.report.grid),
            sa.TOWN.value_set(case.report.town),
            sa.URGENCY.value_set(case.report.urgency.value),
            sa.OVERDUE.value_set(case.flags().overdue),
        ]
        if case.lead_department is not None:
            updates.append(sa.LEAD_DEPARTMENT.value_set(case.lead_department))
        if updates != self._published:
            workflow.upsert_search_attributes(updates)
            self._published = updates

    def _summary(self) -> CaseSummary:
        case = self._case
        return CaseSummary(
            case_no=case.case_no,
            closed_at=case.closed_at,
            rounds=len(case.rounds),
            rehandling_rounds=case.rehandling_rounds,
            recurrences=case.recurrences,
            returns=sum(case.returns.values()),
            breaches=case.breaches(),
            rating=case.rating,
            review_triggers=tuple(case.review_triggers),
        )


@contextlib.contextmanager
def _failing_only_this_action(command: Command) -> Iterator[None]:
    """A refusal or a defect in the rules fails this one Update; a stray exception would instead
    fail the workflow task and wedge the case for every later message."""
    try:
        yield
    except CaseRuleViolation as refused:
        raise _refusal_error(refused) from refused
    except (ValueError, TypeError, LookupError, AssertionError) as bug:
        workflow.logger.error(
            "action failed on a defect",
            extra={"request_id": command.request_id, "error": repr(bug)},
        )
        raise ApplicationError(
            "internal error; the case is unchanged", type="internal_error"
        ) from bug


def _refusal_error(refused: CaseRuleViolation) -> ApplicationError:
    return ApplicationError(
        refused.message("en"),
        {"refusal": refused.refusal.value, "params": refused.params},
        type=refused.refusal.value,
        non_retryable=True,
    )
