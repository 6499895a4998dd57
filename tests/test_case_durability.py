"""On the dev server: a worker replaced mid-case, continue-as-new, and search attributes."""

import asyncio
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.calendar import CalendarActivities
from activities.projection import ProjectionActivities
from domain.calendar import WorkingCalendar
from domain.messages import AddProgressNote, CompleteWork, Dispatch, SignForWork
from domain.model import Stage, Status
from domain.projection import ChangesProjected, ProjectChanges
from gridloop import cases
from gridloop.settings import Settings
from store.models import CaseEventRecord
from tests.api_driver import COORDINATOR, ApiDriver
from tests.changed_workflow import CaseWorkflowChangedCarelessly
from tests.driver import CaseUnderTest, wait_until_projected
from tests.histories import HistoryLog
from tests.support import case_input, coordinator, department, make_worker, policy, request_id
from workflows.case import CaseWorkflow
from workflows.search_attributes import OVERDUE, STAGE

MARKET = "market_supervision"


async def test_a_new_worker_continues_a_case_the_old_one_left(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    history_log: HistoryLog,
    read_model: sessionmaker[Session],
) -> None:
    now = await dev_env.get_current_time()
    async with make_worker(dev_env.client, task_queue, calendar, read_model):
        case = await CaseUnderTest.start(dev_env, task_queue, case_input(now), history_log)
        await case.act(
            Dispatch(request_id=request_id(), actor=coordinator(), lead_department=MARKET)
        )
        await case.act(SignForWork(request_id=request_id(), actor=department(MARKET)))

    # No worker at all: the case waits, nothing is lost.
    assert (await case.handle.describe()).status is WorkflowExecutionStatus.RUNNING

    async with make_worker(dev_env.client, task_queue, calendar, read_model):
        await case.act(
            CompleteWork(request_id=request_id(), actor=department(MARKET), result="已处理")
        )
        state = await case.case()
    assert state.status is Status.AWAITING_VERIFICATION
    assert [e.type for e in state.events][-4:] == [
        "round_started",
        "signed",
        "completed",
        "awaiting_verification",
    ]


async def test_continue_as_new_keeps_state_and_concurrent_messages(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    history_log: HistoryLog,
    read_model: sessionmaker[Session],
) -> None:
    now = await dev_env.get_current_time()
    async with make_worker(dev_env.client, task_queue, calendar, read_model):
        case = await CaseUnderTest.start(dev_env, task_queue, case_input(now), history_log)
        first_run = (await case.handle.describe()).run_id
        await case.act(
            Dispatch(request_id=request_id(), actor=coordinator(), lead_department=MARKET)
        )
        await case.act(SignForWork(request_id=request_id(), actor=department(MARKET)))

        notes = [
            AddProgressNote(
                request_id=request_id(), actor=department(MARKET), note=f"第 {n} 次进展"
            )
            for n in range(30)
        ]
        answers = await asyncio.gather(*(case.act(note) for note in notes))
        assert len({a.event_sequence for a in answers}) == len(notes)

        latest = dev_env.client.get_workflow_handle_for(CaseWorkflow.run, case.handle.id)
        assert (await latest.describe()).run_id != first_run
        state = await CaseUnderTest(dev_env, latest).case()
        noted = [e.data["note"] for e in state.events if e.type == "progress_noted"]
        assert sorted(noted) == sorted(n.note for n in notes)
        assert state.assignments[0].signed_at is not None
        assert [e.sequence for e in state.events] == list(range(1, len(state.events) + 1))

        # Same request id after the cut: still one effect.
        repeat = await CaseUnderTest(dev_env, latest).act(notes[0])
        assert repeat == answers[0]

        # The read model got every event once, across the runs.
        await wait_until_projected(read_model, CaseUnderTest(dev_env, latest))
        with read_model() as session:
            sequences = session.scalars(
                select(CaseEventRecord.sequence)
                .where(CaseEventRecord.case_no == state.case_no)
                .order_by(CaseEventRecord.sequence)
            ).all()
        assert sequences == [e.sequence for e in state.events]


async def test_search_attributes_describe_the_case_without_personal_data(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    history_log: HistoryLog,
    read_model: sessionmaker[Session],
) -> None:
    now = await dev_env.get_current_time()
    async with make_worker(dev_env.client, task_queue, calendar, read_model):
        report = case_input(now, policy())
        case = await CaseUnderTest.start(dev_env, task_queue, report, history_log)
        await case.act(
            Dispatch(request_id=request_id(), actor=coordinator(), lead_department=MARKET)
        )
        description = await case.handle.describe()
    attributes = description.typed_search_attributes
    assert attributes.get(STAGE) == Stage.HANDLE.value
    assert attributes.get(OVERDUE) is False
    values = [str(pair.value) for pair in attributes]
    contact = report.report.reporter
    assert all(contact.phone not in v and contact.name not in v for v in values)

    query = (
        f"GridloopStage = 'handle' AND GridloopLeadDepartment = '{MARKET}' "
        f"AND WorkflowId = '{case.handle.id}'"
    )
    for _ in range(50):  # visibility is eventually consistent
        found = [w.id async for w in dev_env.client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.2)
    assert found == [case.handle.id]


# ---- a read-model outage ----------------------------------------------------------------------


def _worker(
    client: Client,
    task_queue: str,
    calendar: WorkingCalendar,
    project_changes: Callable[..., ChangesProjected],
) -> Worker:
    """A worker like `worker.build_worker`'s with its own projection activity."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[CaseWorkflow],
        activities=[CalendarActivities(calendar).plan_clocks, project_changes],
        activity_executor=ThreadPoolExecutor(max_workers=2),
    )


async def test_a_read_model_outage_delays_projection_not_the_case(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    history_log: HistoryLog,
    read_model: sessionmaker[Session],
) -> None:
    """While the read model fails, the projection retries and the case's actions go on; it
    catches up afterwards."""
    real = ProjectionActivities(read_model, calendar, Settings().review_working_days)
    failures = {"left": 4}
    lock = threading.Lock()

    @activity.defn(name="project_changes")
    def project_changes(changes: ProjectChanges) -> ChangesProjected:
        with lock:
            failing = failures["left"] > 0
            failures["left"] -= failing
        if failing:
            raise RuntimeError("the read model is down")
        return real.project_changes(changes)

    now = await dev_env.get_current_time()
    async with _worker(dev_env.client, task_queue, calendar, project_changes):
        case = await CaseUnderTest.start(dev_env, task_queue, case_input(now), history_log)
        await case.act(
            Dispatch(request_id=request_id(), actor=coordinator(), lead_department=MARKET)
        )
        await case.act(SignForWork(request_id=request_id(), actor=department(MARKET)))
        # Retries back off 1, 2, 4, 8 s: both actions were answered before the read model was.
        assert failures["left"] > 0
        for _ in range(300):
            if failures["left"] == 0:
                break
            await asyncio.sleep(0.1)
        await wait_until_projected(read_model, case)
        assert (await case.case()).status is Status.HANDLING
    assert failures["left"] == 0


# ---- a case its worker cannot read ------------------------------------------------------------


async def test_a_case_its_worker_cannot_answer_for_is_a_typed_503(
    api: ApiDriver, dev_env: WorkflowEnvironment
) -> None:
    """Workflow code that cannot answer the case's query (here: a changed workflow without it)
    makes reading the case a typed 503 with Retry-After, not an unhandled 500."""
    queue = f"changed-{uuid.uuid4().hex[:8]}"
    case = case_input(await dev_env.get_current_time())
    await cases.start_case(dev_env.client, case, queue)
    async with Worker(dev_env.client, task_queue=queue, workflows=[CaseWorkflowChangedCarelessly]):
        response = await api.call("GET", f"/api/v1/cases/{case.case_no}", COORDINATOR)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["type"] == "case_unreadable"
    assert response.headers["Retry-After"]
