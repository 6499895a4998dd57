"""Real Temporal servers for the tests, from PyPI packages: the time-skipping test server for
SLA timers of days, the dev server for restarts, search attributes and continue-as-new."""

import contextlib
import io
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session, sessionmaker
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from domain.calendar import WorkingCalendar
from gridloop.devserver import ensure_search_attributes
from gridloop.http import create_app
from gridloop.logging import configure_logging
from gridloop.search_attributes import SEARCH_ATTRIBUTE_TYPES
from gridloop.settings import Settings
from store.db import database_url, prepare_read_model
from store.models import UserRecord
from store.reference import DEMO_COUNTY, PASSWORDS, load_organisation, seed_organisation
from tests.api_driver import OTHER_GRID_WORKER, TEST_SECRET_KEY, ApiDriver
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, served
from tests.console_driver import Console
from tests.driver import CaseUnderTest
from tests.histories import HistoryLog
from tests.support import calendar_through, case_input, make_worker, policy, restored_logging
from worker import build_worker
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


@contextlib.contextmanager
def fresh_database(kind: str, directory: Path) -> Iterator[str]:
    """An empty read-model database URL: a SQLite file, or a new PostgreSQL database (dropped
    afterwards)."""
    if kind == "sqlite":
        yield database_url(None, directory)
        return
    name = f"gridloop_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(database_url(POSTGRES, directory), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield (
            make_url(database_url(POSTGRES, directory))
            .set(database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty read-model database, on SQLite and on PostgreSQL."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


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


# ---- the HTTP API, in process, on a real Temporal server and a seeded read model -------------


def _seeded(url: str) -> sessionmaker[Session]:
    sessions = prepare_read_model(url)
    with sessions.begin() as session:
        seed_organisation(session, load_organisation(DEMO_COUNTY))
        # A second grid worker, elsewhere in the county, for the authorisation tests.
        session.add(
            UserRecord(
                username=OTHER_GRID_WORKER,
                display_name="魏塘网格员",
                role="grid_worker",
                department_code=None,
                grid_codes=["weitang_jiachen_g01"],
                password_hash=PASSWORDS.hash(OTHER_GRID_WORKER),
                active=True,
            )
        )
    return sessions


@pytest.fixture(scope="session")
def demo_county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    """The demo county on SQLite, seeded once for the session; tests keep to their own cases."""
    with fresh_database("sqlite", tmp_path_factory.mktemp("county")) as url:
        yield _seeded(url)


@pytest.fixture(scope="session")
def demo_county_postgres(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[sessionmaker[Session]]:
    with fresh_database("postgresql", tmp_path_factory.mktemp("county-pg")) as url:
        sessions = _seeded(url)
        yield sessions
        sessions.kw["bind"].dispose()


def api_settings(task_queue: str, data_dir: Path) -> Settings:
    return Settings(task_queue=task_queue, data_dir=data_dir, secret_key=TEST_SECRET_KEY)


@contextlib.asynccontextmanager
async def serving_api(
    env: WorkflowEnvironment,
    settings: Settings,
    sessions: sessionmaker[Session],
    history_log: HistoryLog,
) -> AsyncIterator[ApiDriver]:
    """The HTTP app alone, in process; a worker comes from elsewhere."""
    app = create_app(settings, env.client, sessions)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gridloop.test"
    ) as http:
        yield ApiDriver(http, sessions, env, history_log, app)


@contextlib.asynccontextmanager
async def running_api(
    env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    sessions: sessionmaker[Session],
    data_dir: Path,
    history_log: HistoryLog,
    settings: Settings | None = None,
) -> AsyncIterator[ApiDriver]:
    """The HTTP app and a worker, both with `settings` (`api_settings` when not given)."""
    settings = settings or api_settings(task_queue, data_dir)
    async with (
        build_worker(
            env.client, settings, task_queue=task_queue, calendar=calendar, sessions=sessions
        ),
        serving_api(env, settings, sessions, history_log) as driver,
    ):
        yield driver


@pytest_asyncio.fixture
async def api(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    demo_county: sessionmaker[Session],
    tmp_path: Path,
    history_log: HistoryLog,
) -> AsyncIterator[ApiDriver]:
    """The API over the dev server and the demo county on SQLite."""
    async with running_api(
        dev_env, task_queue, calendar, demo_county, tmp_path, history_log
    ) as driver:
        yield driver


@pytest_asyncio.fixture
async def county_api(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    fresh_county: sessionmaker[Session],
    tmp_path: Path,
    history_log: HistoryLog,
) -> AsyncIterator[ApiDriver]:
    """The API over a county of the test's own, so that counts over the read model are exact."""
    async with running_api(
        dev_env, task_queue, calendar, fresh_county, tmp_path, history_log
    ) as driver:
        yield driver


@pytest.fixture
def fresh_county(tmp_path: Path) -> sessionmaker[Session]:
    """The demo county in a database of the test's own, for figures no other test may touch."""
    with fresh_database("sqlite", tmp_path / "county") as url:
        return _seeded(url)


@pytest_asyncio.fixture
async def console(api: ApiDriver) -> AsyncIterator[Callable[..., Awaitable[Console]]]:
    """`await console("coordinator")`: the web console signed in as a demo user, on the same
    app, worker and read model as `api`."""
    opened: list[Console] = []

    async def open_as(username: str, language: str = "zh-CN") -> Console:
        browser = Console(api.app, language)
        response = await browser.sign_in(username)
        assert response.url.path != "/login", f"{username} could not sign in"
        opened.append(browser)
        return browser

    yield open_as
    for browser in opened:
        await browser.close()


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, for the session (`make test` installs it)."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: `make browser` installs it"
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture
async def site(api: ApiDriver) -> AsyncIterator[str]:
    """The whole application (console and API) on a real port, with `api`'s worker behind it."""
    async with served(api.app) as base:
        yield base


@pytest.fixture
def captured_logs() -> Iterator[io.StringIO]:
    """Every log line of the process (gridloop, Temporal's Python SDK, uvicorn) as JSON, at
    DEBUG; the previous logging configuration is restored afterwards."""
    with restored_logging():
        stream = io.StringIO()
        configure_logging(Settings(log_format="json", log_level="DEBUG"), stream=stream)
        yield stream
