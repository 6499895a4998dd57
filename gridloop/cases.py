"""Client-side access to case workflows: start one, send it an action, read its state."""

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy

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


async def start_case(
    client: Client, case: CaseInput, task_queue: str
) -> WorkflowHandle[CaseWorkflow, Any]:
    """Start the case's workflow; a case number is used once, ever."""
    return await client.start_workflow(
        CaseWorkflow.run,
        args=[case, None],
        id=workflow_id(case.case_no),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )


def case_handle(client: Client, case_no: str) -> WorkflowHandle[CaseWorkflow, Any]:
    return client.get_workflow_handle_for(CaseWorkflow.run, workflow_id(case_no))


async def act(handle: WorkflowHandle[CaseWorkflow, Any], command: Command) -> ActionAccepted:
    """Send one action as its Update; the request id doubles as the update id."""
    result: ActionAccepted = await handle.execute_update(
        UPDATE_FOR_COMMAND[type(command)],
        command,
        id=command.request_id,
        result_type=ActionAccepted,
    )
    return result


async def urge(handle: WorkflowHandle[CaseWorkflow, Any], command: Urge) -> None:
    """催办 is fire-and-forget: a Signal."""
    await handle.signal(CaseWorkflow.urge, command)


async def read_case(handle: WorkflowHandle[CaseWorkflow, Any]) -> CaseSnapshot:
    snapshot: CaseSnapshot = await handle.query(CaseWorkflow.state)
    return snapshot
