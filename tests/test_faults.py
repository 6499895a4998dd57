"""Faults, with real processes and real servers: a worker killed with -9 mid-run, the Temporal
server stopped and restarted mid-run, the read model's database deleted, and two workers behind
two API processes with one worker killed. After each, every case finishes its lifecycle, and
the read model holds each business event once (sequences 1..last, hash chain intact).

`pytest -m faults` runs only these; they are part of the default run too.
"""

import asyncio
import signal
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from domain.messages import RateFeedback, RecordFollowUp, ResolveOnSite
from domain.model import FollowUpOutcome, Rating, Stage, Status
from gridloop import cases as case_workflows
from gridloop.devserver import EmbeddedTemporal
from gridloop.search_attributes import SEARCH_ATTRIBUTE_TYPES
from gridloop.temporal import connect
from store.db import database_url, prepare_read_model
from store.ledger import verify_ledger
from store.models import (
    AssignmentRecord,
    Base,
    CaseEventRecord,
    CaseRecord,
    DailyTally,
    ReviewRecord,
    StageTally,
)
from tests.api_driver import TEST_SECRET_KEY
from tests.processes import (
    LIFECYCLE,
    STEP_EVENTS,
    Cluster,
    DrivenCase,
    Loop,
    gather_all,
    poll,
    tail,
)
from tests.stack_process import Up, free_port
from tests.support import (
    assert_tallies_match_rows,
    case_input,
    grid_worker,
    policy,
    reporter,
    request_id,
)

# Above the suite's 300 s per test: a killed worker's activities wait out their 30 s
# start-to-close timeout, and on a loaded two-core machine 100 cases take minutes.
pytestmark = [pytest.mark.faults, pytest.mark.devserver, pytest.mark.timeout(600)]


@pytest_asyncio.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """A Temporal dev server of the test's own; the test starts gridloop's processes on it."""
    server = EmbeddedTemporal(
        tmp_path / "temporal", port=free_port(), ui_port=0, search_attributes=SEARCH_ATTRIBUTE_TYPES
    )
    async with server:
        processes = Cluster(tmp_path, server.address)
        try:
            yield processes
        finally:
            await processes.close()
            # pytest shows a test's captured output only if it failed: the logs are for that.
            print(processes.logs())
            print(f"===== temporal dev server\n{server.log_tail()}")


# ---- shared steps and checks ------------------------------------------------------------------


async def cases_at_every_stage(loop: Loop, count: int) -> list[DrivenCase]:
    """`count` reported cases, case n with n % 5 steps of its lifecycle done (reported,
    dispatched, signed, completed, verified)."""
    reported = await gather_all([loop.report(n) for n in range(count)])
    await gather_all([loop.advance_to(case, n % len(LIFECYCLE)) for n, case in enumerate(reported)])
    return reported


async def progress(loop: Loop, cases: Sequence[DrivenCase], steps: int) -> None:
    """Until `steps` more lifecycle steps have gone through (while the wave runs)."""
    start = sum(case.done for case in cases)

    async def moved() -> bool:
        return sum(case.done for case in cases) >= start + steps

    await poll(f"{steps} steps done", moved)


def read_model(cluster_data_dir: Path) -> sessionmaker[Session]:
    return prepare_read_model(database_url(None, cluster_data_dir))


async def assert_every_case_archived_once(
    loop: Loop,
    sessions: sessionmaker[Session],
    driven: Sequence[DrivenCase],
    others: Sequence[str] = (),
) -> None:
    """Each case archived; in the read model, its events 1..version, each step's event once,
    the hash chain intact, and no case more than was reported (besides `others`, cases the
    test started without the API)."""
    versions: dict[str, int] = {}
    for case in driven:
        detail = await loop.case(case.case_no)
        assert detail["stage"] == "archived", (case.case_no, detail["stage"], detail["status"])
        versions[case.case_no] = detail["version"]

    async def projected() -> bool:
        with sessions() as session:
            rows = session.execute(select(CaseRecord.case_no, CaseRecord.last_event_sequence))
            seen = {case_no: sequence for case_no, sequence in rows}
        return all(seen.get(no, 0) >= version for no, version in versions.items())

    await poll("every case projected through its last event", projected)
    with sessions() as session:
        total = session.scalar(select(func.count()).select_from(CaseRecord))
        assert total == len(driven) + len(others)
        for case_no, version in versions.items():
            events = session.execute(
                select(CaseEventRecord.sequence, CaseEventRecord.type)
                .where(CaseEventRecord.case_no == case_no)
                .order_by(CaseEventRecord.sequence)
            ).all()
            assert [sequence for sequence, _ in events] == list(range(1, version + 1)), case_no
            types = [kind for _, kind in events]
            for step, kind in STEP_EVENTS.items():
                assert types.count(kind) == 1, (case_no, step, types)
        ledger = verify_ledger(session)
    assert ledger.intact, ledger.breaks
    assert ledger.cases_checked == len(driven) + len(others)
    assert_tallies_match_rows(sessions)


# ---- 1. a worker killed with -9 ----------------------------------------------------------------

KILLED_WORKER_CASES = 100


async def test_a_worker_killed_mid_run_loses_and_repeats_nothing(cluster: Cluster) -> None:
    api = await cluster.api()
    worker = await cluster.worker()
    loop = Loop([api.base])
    try:
        driven = await cases_at_every_stage(loop, KILLED_WORKER_CASES)
        # Every case on to its archive at once; the worker dies while Updates, workflow tasks
        # and projection activities are in flight, and a new one takes over.
        wave = asyncio.ensure_future(gather_all([loop.finish(case) for case in driven]))
        await progress(loop, driven, KILLED_WORKER_CASES // 3)
        await worker.kill()
        assert not wave.done()
        await cluster.worker()
        await wave
        await assert_every_case_archived_once(loop, read_model(cluster.data_dir), driven)
    finally:
        await loop.aclose()


# ---- 2. the Temporal server stopped and restarted ----------------------------------------------

RESTART_CASES = 20
TIMER_CASES = 3
FOLLOW_UP_AFTER = timedelta(seconds=8)


def _up(tmp_path: Path, name: str, task_queue: str) -> Up:
    up = Up(tmp_path / "var", tmp_path / f"{name}.log")
    up.env |= {"GRIDLOOP_TASK_QUEUE": task_queue, "GRIDLOOP_SECRET_KEY": TEST_SECRET_KEY}
    return up


def _clocks(detail: dict[str, Any]) -> list[Any]:
    """What of a case its timers hang on: each assignment's SLA clocks, as planned when it was
    assigned (signing and completing stop a clock, they do not move its deadlines)."""
    planned = ("started_at", "warn_at", "due_at")
    return [
        {
            "assignment_id": assignment["assignment_id"],
            "assigned_at": assignment["assigned_at"],
        }
        | {
            f"{clock}.{key}": assignment[clock][key]
            for clock in ("sign_clock", "handling_clock")
            for key in planned
        }
        for assignment in detail["assignments"]
    ]


async def test_the_server_restarted_mid_run_keeps_every_case_and_timer(tmp_path: Path) -> None:
    task_queue = "faults-restart"
    first = _up(tmp_path, "first", task_queue)
    ups = [first]
    loop = Loop([])
    try:
        await first.start()
        await first.wait_ready()
        loop.bases = [f"http://127.0.0.1:{first.http_port}"]
        driven = await cases_at_every_stage(loop, RESTART_CASES)

        # Cases whose follow-up re-check falls due while the server is down.
        client = await connect(f"127.0.0.1:{first.temporal_port}", "default")
        timed = []
        for _ in range(TIMER_CASES):
            timer_case = case_input(datetime.now(UTC), policy(follow_up_after=(FOLLOW_UP_AFTER,)))
            handle = await case_workflows.start_case(client, timer_case, task_queue)
            resolved = ResolveOnSite(
                request_id=request_id(),
                actor=grid_worker(),
                result="现场处置完毕",
                evidence_urls=("https://evidence.example/after.jpg",),
            )
            await case_workflows.act(handle, resolved)
            rated = RateFeedback(request_id=request_id(), actor=reporter(), rating=Rating.SATISFIED)
            answer = await case_workflows.act(handle, rated)
            assert answer.status is Status.FOLLOW_UP_SCHEDULED
            timed.append(timer_case.case_no)
        clocks = {case.case_no: _clocks(await loop.case(case.case_no)) for case in driven}

        wave = asyncio.ensure_future(gather_all([loop.finish(case) for case in driven]))
        await progress(loop, driven, RESTART_CASES // 3)
        assert await first.stop(signal.SIGTERM) == 0, first.log.read_text()
        assert not wave.done()

        second = _up(tmp_path, "second", task_queue)
        ups.append(second)
        await second.start()
        await second.wait_ready()
        loop.bases = [f"http://127.0.0.1:{second.http_port}"]
        await wave

        # Deadlines set before the restart are the same after it (for the work that was
        # under way then; later rounds add their own).
        for case in driven:
            after = _clocks(await loop.case(case.case_no))
            assert after[: len(clocks[case.case_no])] == clocks[case.case_no], case.case_no

        client = await connect(f"127.0.0.1:{second.temporal_port}", "default")
        for case_no in timed:
            handle = case_workflows.case_handle(client, case_no)

            async def due(handle: Any = handle) -> bool:
                state = (await case_workflows.read_case(handle)).case
                return state.status is Status.FOLLOW_UP_DUE

            await poll(f"{case_no}'s follow-up timer fired", due)
            recheck = RecordFollowUp(
                request_id=request_id(),
                actor=grid_worker(),
                outcome=FollowUpOutcome.STILL_RESOLVED,
            )
            assert (await case_workflows.act(handle, recheck)).stage is Stage.ARCHIVED

        sessions = read_model(tmp_path / "var")
        await assert_every_case_archived_once(loop, sessions, driven, others=timed)
    finally:
        await loop.aclose()
        for up in ups:
            await up.stop(signal.SIGTERM)
            # Shown only if the test failed, like the cluster fixture's logs.
            print(f"===== {up.log}\n{tail(up.log)}")


# ---- 3. the read model deleted -----------------------------------------------------------------

REBUILD_CASES = 15
PROJECTED_TABLES: tuple[type[Base], ...] = (
    CaseRecord,
    AssignmentRecord,
    CaseEventRecord,
    ReviewRecord,
    DailyTally,
    StageTally,
)


def dump(sessions: sessionmaker[Session]) -> dict[str, list[dict[str, Any]]]:
    with sessions() as session:
        tables = {}
        for record in PROJECTED_TABLES:
            mapper = inspect(record)
            rows = session.scalars(select(record).order_by(*mapper.primary_key))
            tables[record.__tablename__] = [
                {column.key: getattr(row, column.key) for column in mapper.column_attrs}
                for row in rows
            ]
        return tables


async def test_a_deleted_read_model_is_rebuilt_row_for_row(cluster: Cluster) -> None:
    api = await cluster.api()
    worker = await cluster.worker()
    loop = Loop([api.base])
    try:
        driven = await cases_at_every_stage(loop, REBUILD_CASES)
        # And some through to the archive (a few may stop for review and record it).
        await gather_all([loop.finish(case) for case in driven[::4]])
        versions = {case.case_no: (await loop.case(case.case_no))["version"] for case in driven}
    finally:
        await loop.aclose()
    sessions = read_model(cluster.data_dir)

    async def projected() -> bool:
        with sessions() as session:
            rows = session.execute(select(CaseRecord.case_no, CaseRecord.last_event_sequence))
            seen = {case_no: sequence for case_no, sequence in rows}
        return all(seen.get(no, 0) >= version for no, version in versions.items())

    await poll("every case projected through its last event", projected)
    before = dump(sessions)
    assert len(before["cases"]) == REBUILD_CASES
    sessions.kw["bind"].dispose()

    # Nothing may write while the file is gone: stop the processes that hold it open.
    assert await api.stop() == 0
    assert await worker.stop() == 0
    for path in cluster.data_dir.glob("gridloop.db*"):  # with SQLite's -wal and -shm files
        path.unlink()

    await cluster.run("rebuild-projection")
    sessions = read_model(cluster.data_dir)
    after = dump(sessions)
    for table, rows in before.items():
        assert after[table] == rows, table
    with sessions() as session:
        assert verify_ledger(session).intact


# ---- 4. two workers, two API processes, one worker killed --------------------------------------

SHARED_CASES = 24


async def test_two_workers_and_two_apis_survive_losing_a_worker(cluster: Cluster) -> None:
    # One after the other: the first start migrates the read model and seeds the county.
    apis = [await cluster.api(), await cluster.api()]
    doomed = await cluster.worker()
    await cluster.worker()
    loop = Loop([api.base for api in apis])
    try:
        driven = await cases_at_every_stage(loop, SHARED_CASES)
        wave = asyncio.ensure_future(gather_all([loop.finish(case) for case in driven]))
        await progress(loop, driven, SHARED_CASES // 3)
        await doomed.kill()
        assert not wave.done()
        await wave  # the other worker carries on alone
        await assert_every_case_archived_once(loop, read_model(cluster.data_dir), driven)
    finally:
        await loop.aclose()
