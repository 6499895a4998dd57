"""Real Temporal servers for the tests, from PyPI packages: the time-skipping test server for
SLA timers of days, the dev server for restarts, search attributes and continue-as-new."""

import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.calendar import WorkingCalendar
from gridloop.devserver import ensure_search_attributes
from gridloop.search_attributes import SEARCH_ATTRIBUTE_TYPES
from store.db import database_url, prepare_read_model
from tests.driver import CaseUnderTest
from tests.histories import HistoryLog
from tests.support import calendar_through, case_input, make_worker, policy
from workflows.search_attributes import ALL_KEYS

BIN = Path(sys.executable).parent
# Low enough that a long case is cut several times; the dev server then suggests it.
CONTINUE_AS_NEW_AFTER = 40


@pytest.fixture(scope="session")
def history_log() -> HistoryLog:
    return HistoryLog()


@pytest.fixture(scope="session")
def calendar() -> WorkingCalendar:
    return calendar_through(datetime.now(UTC).year + 3)


@pytest_asyncio.fixture
async def time_skipping_env(history_log: HistoryLog) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server per test: its clock and skipping locks are the test's alone."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    await ensure_search_attributes(env.client, "default", SEARCH_ATTRIBUTE_TYPES)
    yield env
    await history_log.collect()
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(BIN / "temporal"),
        # Two cores shared with the rest of the suite: the default 5 s is sometimes too short.
        dev_server_startup_timeout=timedelta(seconds=60),
        search_attributes=ALL_KEYS,
        dev_server_extra_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={CONTINUE_AS_NEW_AFTER}",
        ],
    )
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"cases-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def read_model(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    """The read model the suite's workers project into (SQLite; see test_read_model.py for
    PostgreSQL)."""
    return prepare_read_model(database_url(None, tmp_path_factory.mktemp("read-model")))


@pytest_asyncio.fixture
async def ts_worker(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    read_model: sessionmaker[Session],
) -> AsyncIterator[Worker]:
    async with make_worker(time_skipping_env.client, task_queue, calendar, read_model) as worker:
        yield worker


# The local PostgreSQL; tests create a database of their own on it and drop it afterwards.
POSTGRES = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1/test")


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty read-model database URL: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield database_url(None, tmp_path)
        return
    name = f"gridloop_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database_url(POSTGRES, tmp_path), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(database_url(POSTGRES, tmp_path))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sessions(database: str) -> sessionmaker[Session]:
    return prepare_read_model(database)


@pytest.fixture
async def open_case(
    time_skipping_env: WorkflowEnvironment, ts_worker: Worker, history_log: HistoryLog
) -> AsyncIterator[Callable[..., Awaitable[CaseUnderTest]]]:
    """Start cases on this test's time-skipping server: `await open_case(**policy_overrides)`."""
    started: list[CaseUnderTest] = []

    async def start(**policy_overrides: object) -> CaseUnderTest:
        now = await time_skipping_env.get_current_time()
        case = case_input(now, policy(**policy_overrides))
        started.append(
            await CaseUnderTest.start(time_skipping_env, ts_worker.task_queue, case, history_log)
        )
        return started[-1]

    yield start
    # A case left open keeps timers on this test's task queue, which nobody polls after it;
    # the time-skipping server would wait for them in every later test.
    for case in started:
        await case.close_if_running()
