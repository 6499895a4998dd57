"""Drive one case workflow from a test the way the API will: Updates, a Signal, the query."""

from datetime import datetime, timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain.messages import ActionAccepted, CaseInput, CaseSummary, Command, Urge
from domain.state import CaseState
from gridloop import cases
from tests.conftest import HistoryLog
from workflows.case import CaseSnapshot, CaseWorkflow

ACCEPTED = "workflow_execution_update_accepted_event_attributes"


class CaseUnderTest:
    def __init__(self, env: WorkflowEnvironment, handle: WorkflowHandle[CaseWorkflow, Any]):
        self.env = env
        self.handle = handle

    @classmethod
    async def start(
        cls, env: WorkflowEnvironment, task_queue: str, case: CaseInput, log: HistoryLog
    ) -> "CaseUnderTest":
        handle = await cases.start_case(env.client, case, task_queue)
        log.add(env.client, handle.id)
        return cls(env, handle)

    async def act(self, command: Command) -> ActionAccepted:
        return await cases.act(self.handle, command)

    async def urge(self, command: Urge) -> None:
        await cases.urge(self.handle, command)

    async def refusal(self, command: Command) -> str:
        """Send an action that must be refused; return the refusal's error type."""
        try:
            await cases.act(self.handle, command)
        except WorkflowUpdateFailedError as failed:
            cause = failed.cause
            assert isinstance(cause, ApplicationError), cause
            assert cause.type is not None
            return cause.type
        raise AssertionError(f"{type(command).__name__} was accepted")

    async def snapshot(self) -> CaseSnapshot:
        return await cases.read_case(self.handle)

    async def case(self) -> CaseState:
        return (await self.snapshot()).case

    async def event_types(self) -> list[str]:
        return [event.type for event in (await self.case()).events]

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def advance(self, duration: timedelta) -> None:
        await self.env.sleep(duration)

    async def advance_past(
        self, moment: datetime, margin: timedelta = timedelta(minutes=1)
    ) -> None:
        remaining = moment - await self.now()
        if remaining > timedelta(0):
            await self.env.sleep(remaining + margin)

    async def accepted_updates(self) -> int:
        """Updates the history records as accepted; a refused one must never count."""
        history = await self.handle.fetch_history()
        return sum(1 for event in history.events if event.HasField(ACCEPTED))

    async def close_if_running(self) -> None:
        if (await self.handle.describe()).status is WorkflowExecutionStatus.RUNNING:
            await self.handle.terminate("test finished")

    async def result(self) -> CaseSummary:
        """The finished case's summary. Time stays put: the test server would otherwise leap
        to its ten-year default run timeout while the result is awaited."""
        with self.env.auto_time_skipping_disabled():
            summary: CaseSummary = await self.handle.result()
        return summary
