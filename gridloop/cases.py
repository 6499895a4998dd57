"""Client-side access to case workflows: start one, send it an action, read its state."""

import asyncio
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from domain.messages import (
    ActionAccepted,
    AddProgressNote,
    CaseInput,
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
from workflows.case import CaseSnapshot, CaseWorkflow, workflow_id

UPDATE_FOR_COMMAND: dict[type[Command], Any] = {
    ResolveOnSite: CaseWorkflow.resolve_on_site,
    Dispatch: CaseWorkflow.dispatch,
    ConveneConsultation: CaseWorkflow.convene_consultation,
    RecordConsultationDecision: CaseWorkflow.record_consultation_decision,
    Escalate: CaseWorkflow.escalate,
    SignForWork: CaseWorkflow.sign_for_work,
    CompleteWork: CaseWorkflow.complete_work,
    ReturnWork: CaseWorkflow.return_work,
    ReassignWork: CaseWorkflow.reassign_work,
    WithdrawWork: CaseWorkflow.withdraw_work,
    AddProgressNote: CaseWorkflow.add_progress_note,
    RequestExtension: CaseWorkflow.request_extension,
    DecideExtension: CaseWorkflow.decide_extension,
    SuspendCase: CaseWorkflow.suspend,
    ResumeCase: CaseWorkflow.resume,
    SubmitFinalReply: CaseWorkflow.submit_final_reply,
    VerifyOnSite: CaseWorkflow.verify_on_site,
    RateFeedback: CaseWorkflow.rate_feedback,
    RecordFollowUp: CaseWorkflow.record_follow_up,
    RecordReviewFindings: CaseWorkflow.record_review_findings,
}

ACTION_COMMANDS: dict[str, type[Command]] = {
    "resolve-on-site": ResolveOnSite,
    "dispatch": Dispatch,
    "consultation": ConveneConsultation,
    "consultation/decision": RecordConsultationDecision,
    "escalate": Escalate,
    "sign": SignForWork,
    "complete": CompleteWork,
    "return": ReturnWork,
    "reassign": ReassignWork,
    "withdraw": WithdrawWork,
    "notes": AddProgressNote,
    "extension": RequestExtension,
    "extension/decision": DecideExtension,
    "suspend": SuspendCase,
    "resume": ResumeCase,
    "final-reply": SubmitFinalReply,
    "verification": VerifyOnSite,
    "feedback": RateFeedback,
    "follow-up": RecordFollowUp,
    "review": RecordReviewFindings,
    "urge": Urge,
}
"""Each action by the name the API and the console address it by:
`POST /api/v1/cases/{case_no}/<name>` and `/cases/{case_no}/do/<name>`."""

ACTION_NAMES: dict[type[Command], str] = {
    command: name for name, command in ACTION_COMMANDS.items()
}
"""The name of each action's command, e.g. for the action counter of /metrics."""


async def start_case(
    client: Client, case: CaseInput, task_queue: str, memo: dict[str, Any] | None = None
) -> WorkflowHandle[CaseWorkflow, Any]:
    """Start the case's workflow; a case number is used once, ever."""
    return await client.start_workflow(
        CaseWorkflow.run,
        # Every parameter, even the defaults: the SDK decodes by type only when the counts match.
        args=[case, None, 0],
        id=workflow_id(case.case_no),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        memo=memo,
        # Where this client's own worker polls the queue (`gridloop up`), the server hands it
        # the first workflow task in the start's answer: one round trip less per report.
        request_eager_start=True,
    )


def case_handle(client: Client, case_no: str) -> WorkflowHandle[CaseWorkflow, Any]:
    return client.get_workflow_handle_for(CaseWorkflow.run, workflow_id(case_no))


# Seconds between attempts when the server gives up on an Update because the workflow task
# carrying it failed (seen when Updates race a continue-as-new). That Update never ran; the
# workflow task is retried, and the same request id cannot take effect twice.
NOT_READY_RETRY_DELAYS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0)


async def act(handle: WorkflowHandle[CaseWorkflow, Any], command: Command) -> ActionAccepted:
    """Send one action as its Update; the request id doubles as the update id."""
    for delay in NOT_READY_RETRY_DELAYS:
        try:
            return await _execute(handle, command)
        except RPCError as failed:
            if not _workflow_not_ready(failed):
                raise
        await asyncio.sleep(delay)
    return await _execute(handle, command)


async def _execute(handle: WorkflowHandle[CaseWorkflow, Any], command: Command) -> ActionAccepted:
    result: ActionAccepted = await handle.execute_update(
        UPDATE_FOR_COMMAND[type(command)],
        command,
        id=command.request_id,
        result_type=ActionAccepted,
    )
    return result


def _workflow_not_ready(failed: RPCError) -> bool:
    return failed.status is RPCStatusCode.FAILED_PRECONDITION and any(
        detail.type_url.endswith("WorkflowNotReadyFailure") for detail in failed.grpc_status.details
    )


async def urge(handle: WorkflowHandle[CaseWorkflow, Any], command: Urge) -> None:
    """催办 is fire-and-forget: a Signal."""
    await handle.signal(CaseWorkflow.urge, command)


async def read_case(handle: WorkflowHandle[CaseWorkflow, Any]) -> CaseSnapshot:
    snapshot: CaseSnapshot = await handle.query(CaseWorkflow.state)
    return snapshot
