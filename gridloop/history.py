"""A case's Temporal history, for auditors: its runs, their raw events, and the case's state as of
any past moment, reconstructed by replaying the history up to that moment.

A case is one workflow id; a long-lived case continues as new, so its history is a chain of runs,
each starting with the state the previous one carried. Replaying a prefix of a run with the
current workflow code rebuilds the state the workflow held then: this reads Temporal's record of
what happened, not the read model, which a database user could have changed.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    Replayer,
    UnsandboxedWorkflowRunner,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from workflows.case import CaseSnapshot, CaseWorkflow, workflow_id


class CaseHistoryNotFound(LookupError):
    """Temporal has no workflow for this case number."""


class NotReplayable(RuntimeError):
    """The current workflow code does not reproduce the case's history (see gridloop.replay)."""


class NoStateYet(LookupError):
    """The moment asked for is before the case's workflow first ran."""

    def __init__(self, first_state_at: datetime) -> None:
        super().__init__(f"the case has no state before {first_state_at.isoformat()}")
        self.first_state_at = first_state_at


@dataclass(frozen=True)
class CaseRun:
    """One run of a case's workflow: the first, or one continued from the run before."""

    run_id: str
    number: int
    started_at: datetime
    last_event_at: datetime
    events: int
    history: WorkflowHistory

    @property
    def ever_ran(self) -> bool:
        """A run whose first workflow task never completed has nothing to replay."""
        return any(
            e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED for e in _events(self)
        )


@dataclass(frozen=True)
class StateAsOf:
    as_of: datetime
    state_at: datetime
    """When the workflow last changed the state shown: the end of its last task by `as_of`."""
    run_id: str
    last_event_id: int
    snapshot: CaseSnapshot


async def case_runs(client: Client, case_no: str) -> list[CaseRun]:
    """Every run of the case, oldest first, fetched by following each run back to the one it
    continued from (so it does not depend on visibility, which may lag)."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = None
    while True:
        handle = client.get_workflow_handle(workflow_id(case_no), run_id=run_id)
        try:
            history = await handle.fetch_history()
        except RPCError as failed:
            if failed.status is RPCStatusCode.NOT_FOUND:
                raise CaseHistoryNotFound(case_no) from failed
            raise
        histories.append(history)
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
        if run_id is None:
            break
    histories.reverse()
    return [_run(number, history) for number, history in enumerate(histories, start=1)]


def run_json(run: CaseRun) -> dict[str, Any]:
    """The run's raw history in the format of `temporal workflow show --output json`."""
    return run.history.to_json_dict()


async def state_as_of(client: Client, case_no: str, moment: datetime) -> StateAsOf:
    """The case as its workflow held it at `moment` (an aware datetime)."""
    runs = [run for run in await case_runs(client, case_no) if run.ever_ran]
    for run in reversed(runs):
        prefix = _prefix_until(_events(run), moment)
        if prefix:
            snapshot = await _replay_to_end(WorkflowHistory(run.history.workflow_id, prefix))
            return StateAsOf(
                as_of=moment,
                state_at=_completed_at(_last_task_completed(prefix)),
                run_id=run.run_id,
                last_event_id=prefix[-1].event_id,
                snapshot=snapshot,
            )
    first = _first_task_completed(_events(runs[0])) if runs else None
    raise NoStateYet(_completed_at(first) if first is not None else moment)


def _run(number: int, history: WorkflowHistory) -> CaseRun:
    events = history.events
    return CaseRun(
        run_id=events[0].workflow_execution_started_event_attributes.original_execution_run_id,
        number=number,
        started_at=_aware(events[0].event_time.ToDatetime()),
        last_event_at=_aware(events[-1].event_time.ToDatetime()),
        events=len(events),
        history=history,
    )


def _aware(moment: datetime) -> datetime:
    """Protobuf timestamps come back naive, in UTC."""
    return moment.replace(tzinfo=UTC)


def _events(run: CaseRun) -> Sequence[HistoryEvent]:
    return list(run.history.events)


def _prefix_until(events: Sequence[HistoryEvent], moment: datetime) -> list[HistoryEvent]:
    """The events up to and including the commands of the last workflow task completed by
    `moment`: a prefix the Replayer accepts, whose replay ends in the state of that moment.

    A task's commands (timers, activities, accepted Updates) are recorded just after its
    completion, so the cut falls before the next task is scheduled. Empty if no task completed
    by `moment` in these events.
    """
    last_completed = None
    for index, event in enumerate(events):
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            continue
        if _completed_at(event) > moment:
            break
        last_completed = index
    if last_completed is None:
        return []
    end = len(events)
    for index in range(last_completed + 1, len(events)):
        if events[index].event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            end = index
            break
    return list(events[:end])


def _first_task_completed(events: Sequence[HistoryEvent]) -> HistoryEvent | None:
    return next(
        (
            event
            for event in events
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
        ),
        None,
    )


def _completed_at(event: HistoryEvent) -> datetime:
    return _aware(event.event_time.ToDatetime())


def _last_task_completed(events: Sequence[HistoryEvent]) -> HistoryEvent:
    return next(
        event
        for event in reversed(events)
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )


async def _replay_to_end(history: WorkflowHistory) -> CaseSnapshot:
    """Replay `history` and read the state the workflow holds at its end.

    Without the sandbox, so that the interceptor below can hand the workflow object out; the
    determinism check (`gridloop.replay`) replays in the sandbox as the worker runs.
    """
    capture = _CaptureWorkflow()
    replayer = Replayer(
        workflows=[CaseWorkflow],
        data_converter=pydantic_data_converter,
        interceptors=[capture],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    replayed = await replayer.replay_workflow(history, raise_on_replay_failure=False)
    if replayed.replay_failure is not None:
        raise NotReplayable(str(replayed.replay_failure)) from replayed.replay_failure
    if capture.workflow is None:
        raise RuntimeError(f"replaying {history.workflow_id} never started its workflow")
    snapshot: CaseSnapshot = capture.workflow.state()
    return snapshot


class _CaptureWorkflow(Interceptor):
    """Keeps the replayed workflow object, whose `state` query is a pure read of it."""

    def __init__(self) -> None:
        self.workflow: Any = None

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        capture = self

        class _Inbound(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                capture.workflow = workflow.instance()
                return await super().execute_workflow(input)

        return _Inbound
