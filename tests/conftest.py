"""Real Temporal servers for the tests, from PyPI packages: the time-skipping test server for
SLA timers of days, the dev server for restarts, search attributes and continue-as-new."""

import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.calendar import WorkingCalendar
from gridloop.devserver import ensure_search_attributes
from gridloop.search_attributes import SEARCH_ATTRIBUTE_TYPES
from gridloop.settings import Settings
from tests.support import calendar_through
from worker import build_worker
from workflows.search_attributes import ALL_KEYS

BIN = Path(sys.executable).parent
# Low enough that a long case is cut several times; the dev server then suggests it.
CONTINUE_AS_NEW_AFTER = 40


@dataclass
class HistoryLog:
    """Every case workflow the suite ran, so the replay test can replay them all."""

    runs: list[tuple[Client, str]] = field(default_factory=list)

    def add(self, client: Client, workflow_id: str) -> None:
        self.runs.append((client, workflow_id))

    def forget(self, workflow_id: str) -> None:
        """For a history made by code the test altered on purpose: it cannot replay."""
        self.runs = [(client, wid) for client, wid in self.runs if wid != workflow_id]


@pytest.fixture(scope="session")
def history_log() -> HistoryLog:
    return HistoryLog()


@pytest_asyncio.fixture(scope="session")
async def calendar(time_skipping_env: WorkflowEnvironment) -> WorkingCalendar:
    server_year = (await time_skipping_env.get_current_time()).year
    return calendar_through(max(server_year, datetime.now(UTC).year) + 3)


@pytest_asyncio.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    await ensure_search_attributes(env.client, "default", SEARCH_ATTRIBUTE_TYPES)
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session")
async def dev_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(BIN / "temporal"),
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


def make_worker(client: Client, task_queue: str, calendar: WorkingCalendar) -> Worker:
    return build_worker(client, Settings(), task_queue=task_queue, calendar=calendar)


@pytest_asyncio.fixture
async def ts_worker(
    time_skipping_env: WorkflowEnvironment, task_queue: str, calendar: WorkingCalendar
) -> AsyncIterator[Worker]:
    async with make_worker(time_skipping_env.client, task_queue, calendar) as worker:
        yield worker
