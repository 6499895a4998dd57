"""Replay every case history the suite produced against the current workflow code.

Named to run last: by then the other tests have left their histories in `history_log`.
Run alone, it drives one case itself so that it always replays something.
"""

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from domain.calendar import WorkingCalendar
from domain.messages import Dispatch
from tests.driver import CaseUnderTest
from tests.histories import HistoryLog, recorded_histories
from tests.support import case_input, coordinator, make_worker, request_id
from workflows.case import CaseWorkflow


async def test_every_history_replays_deterministically(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    history_log: HistoryLog,
    read_model: sessionmaker[Session],
) -> None:
    if not history_log.histories and not history_log.pending:
        async with make_worker(time_skipping_env.client, task_queue, calendar, read_model):
            now = await time_skipping_env.get_current_time()
            case = await CaseUnderTest.start(
                time_skipping_env, task_queue, case_input(now), history_log
            )
            await case.act(
                Dispatch(request_id=request_id(), actor=coordinator(), lead_department="market")
            )

    await history_log.collect()
    decided = [h for h in history_log.histories if _has_decisions(h)]
    assert decided
    await _replay(decided)


async def test_recorded_histories_of_earlier_code_still_replay() -> None:
    """Cases started by an earlier version keep running on this one: a change that would break
    them must be guarded with `workflow.patched` (docs/lifecycle.md)."""
    recorded = recorded_histories()
    assert len(recorded) >= 5, "tests/histories/ holds the recorded histories"
    await _replay(recorded)


async def _replay(histories: list[WorkflowHistory]) -> None:
    replayer = Replayer(workflows=[CaseWorkflow], data_converter=pydantic_data_converter)
    for history in histories:
        await replayer.replay_workflow(history)


def _has_decisions(history: WorkflowHistory) -> bool:
    """A run no worker ever took (a continue-as-new whose worker stopped at once) records no
    decisions to check, and the Replayer would wait for one forever."""
    return any(e.HasField("workflow_task_completed_event_attributes") for e in history.events)
