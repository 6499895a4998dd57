"""Replay every case history the suite produced against the current workflow code.

Named to run last: by then the other tests have left their histories in `history_log`.
Run alone, it drives one case itself so that it always replays something.
"""

from collections.abc import AsyncIterator

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from domain.calendar import WorkingCalendar
from domain.messages import Dispatch
from tests.conftest import HistoryLog, make_worker
from tests.driver import CaseUnderTest
from tests.support import case_input, coordinator, request_id
from workflows.case import CaseWorkflow


async def test_every_history_replays_deterministically(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    history_log: HistoryLog,
) -> None:
    if not history_log.runs:
        async with make_worker(time_skipping_env.client, task_queue, calendar):
            now = await time_skipping_env.get_current_time()
            case = await CaseUnderTest.start(
                time_skipping_env, task_queue, case_input(now), history_log
            )
            await case.act(
                Dispatch(request_id=request_id(), actor=coordinator(), lead_department="market")
            )

    replayer = Replayer(workflows=[CaseWorkflow], data_converter=pydantic_data_converter)
    replayed = 0
    for client, workflow_id in history_log.runs:
        async for history in _every_run(client, workflow_id):
            await replayer.replay_workflow(history)
            replayed += 1
    assert replayed >= len(history_log.runs)


async def _every_run(client: Client, workflow_id: str) -> AsyncIterator[WorkflowHistory]:
    """The latest run, then each run it continued from."""
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        yield history
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
        if run_id is None:
            return
