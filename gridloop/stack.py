"""Process orchestration behind ``gridloop up``, ``gridloop worker`` and ``gridloop api``.

``up`` runs, in one asyncio loop: the embedded Temporal dev server (a child process, unless
``TEMPORAL_ADDRESS`` names an external server), the Temporal worker and the HTTP server. SIGINT
(Ctrl-C) or SIGTERM stops them in order: HTTP server, worker (graceful), dev server. The dev
server's SQLite file persists, so running ``up`` again resumes every open case.

Both entry points return a process exit code: 0 after a requested stop, 1 after a failure.
"""

import asyncio
import contextlib
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import uvicorn
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError

from domain.calendar import CalendarError, WorkingCalendar
from gridloop.devserver import EmbeddedTemporal, ensure_search_attributes
from gridloop.http import create_app
from gridloop.logging import get_logger, install_temporal_runtime
from gridloop.metrics import serve_metrics
from gridloop.rebuild import rebuild_projection
from gridloop.search_attributes import SEARCH_ATTRIBUTE_TYPES
from gridloop.secrets import signing_key
from gridloop.settings import Settings
from gridloop.temporal import connect
from gridloop.tracing import install_tracing
from store.db import database_url, prepare_read_model
from store.reference import (
    DEMO_COUNTY,
    load_organisation,
    seed_organisation,
    users_with_demo_passwords,
)
from worker import build_worker

__all__ = ["run_api", "run_rebuild_projection", "run_up", "run_worker"]

log = get_logger(__name__)

T = TypeVar("T")

HTTP_GRACEFUL_SHUTDOWN_SECONDS = 10


class _Stopped(Exception):
    """A stop signal arrived while starting up."""


@contextlib.asynccontextmanager
async def _stop_on_signals() -> AsyncIterator[asyncio.Event]:
    """SIGINT/SIGTERM (and SIGHUP: terminal closed) set the yielded event instead of raising
    KeyboardInterrupt or killing the process, which would orphan the dev server."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def on_signal(signum: signal.Signals) -> None:
        if stopping.is_set():
            log.info("already stopping, please wait", signal=signum.name)
            return
        log.info("stopping", signal=signum.name)
        stopping.set()

    installed: list[signal.Signals] = []
    handled = [signal.SIGINT, signal.SIGTERM]
    if hasattr(signal, "SIGHUP"):
        handled.append(signal.SIGHUP)
    for signum in handled:
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (NotImplementedError, RuntimeError):  # Windows, or not the main thread
            continue
        installed.append(signum)
    try:
        yield stopping
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


async def _unless_stopped(awaitable: Awaitable[T], stopping: asyncio.Event) -> T:
    """Await ``awaitable``, cancelling it and raising :class:`_Stopped` if a stop comes first."""
    task = asyncio.ensure_future(awaitable)
    stop_wait = asyncio.create_task(stopping.wait())
    try:
        await asyncio.wait({task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop_wait.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise _Stopped


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handlers (the stack owns SIGINT/SIGTERM), and with an
    event set once it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.listening.set()


def _http_server(settings: Settings, client: Client, sessions: sessionmaker[Session]) -> _Uvicorn:
    """The HTTP server (API and console) of ``up`` and ``api``, on the configured port."""
    return _Uvicorn(
        uvicorn.Config(
            create_app(settings, client, sessions),
            host=settings.http_host,
            port=settings.http_port,
            log_config=None,  # keep gridloop.logging's configuration
            access_log=False,  # gridloop.request_log logs each request, without raw paths
            timeout_graceful_shutdown=HTTP_GRACEFUL_SHUTDOWN_SECONDS,
        )
    )


async def _serve_http(server: uvicorn.Server) -> None:
    try:
        await server.serve()
    except SystemExit:  # uvicorn's way of reporting a failed start (e.g. port in use)
        config = server.config
        raise RuntimeError(
            f"HTTP server could not start on {config.host}:{config.port} (see log above)"
        ) from None


@dataclass
class _Temporal:
    client: Client
    ui_url: str | None


async def _temporal(settings: Settings, resources: contextlib.AsyncExitStack) -> _Temporal:
    """Start the embedded dev server (unless an external one is configured) and connect."""
    if settings.temporal_address is None:
        server = EmbeddedTemporal.from_settings(settings, search_attributes=SEARCH_ATTRIBUTE_TYPES)
        log.info(
            "starting embedded Temporal dev server",
            address=server.address,
            db=str(server.db_path),
            log=str(server.log_path),
        )
        await resources.enter_async_context(server)
        client = await connect(server.address, settings.temporal_namespace)
        return _Temporal(client, server.ui_url)
    client = await connect(settings.temporal_address, settings.temporal_namespace)
    await ensure_search_attributes(client, settings.temporal_namespace, SEARCH_ATTRIBUTE_TYPES)
    return _Temporal(client, None)


class DemoCredentialsInProduction(RuntimeError):
    pass


def _read_model(settings: Settings) -> sessionmaker[Session]:
    """Migrate the read model and seed the demo county on a development first start (unless
    `gridloop migrate` does that: GRIDLOOP_MIGRATE_ON_START=false); refuse production while
    any user still has a demo password."""
    sessions = prepare_read_model(
        database_url(settings.database_url, settings.data_dir), migrate=settings.migrate_on_start
    )
    with sessions.begin() as session:
        if settings.environment == "development":
            if settings.migrate_on_start and seed_organisation(
                session, load_organisation(DEMO_COUNTY)
            ):
                log.info("seeded the demo county and its users (passwords = usernames)")
        elif weak := users_with_demo_passwords(session):
            raise DemoCredentialsInProduction(
                f"production refuses to start: users {weak} still have demo passwords"
            )
    return sessions


async def run_up(settings: Settings) -> int:
    """Run dev server + worker + HTTP server until SIGINT/SIGTERM; see the module docstring."""
    install_temporal_runtime(settings)
    async with _stop_on_signals() as stopping, contextlib.AsyncExitStack() as resources:
        try:
            install_tracing(settings, "gridloop")
            sessions = _read_model(settings)
            signing_key(settings)  # production without GRIDLOOP_SECRET_KEY stops here
            temporal = await _unless_stopped(_temporal(settings, resources), stopping)
            worker = build_worker(temporal.client, settings, sessions=sessions)
        except _Stopped:
            log.info("stopped during start-up")
            return 0
        except (RuntimeError, RPCError, CalendarError) as exc:
            # RuntimeError: EmbeddedTemporalError, the Temporal bridge's "Failed client connect",
            # an unmigrated read model, demo credentials or no secret key in production;
            # CalendarError: a malformed holiday table.
            log.error("could not start", error=str(exc))
            return 1

        http = _http_server(settings, temporal.client, sessions)
        worker_task = asyncio.create_task(worker.run(), name="temporal-worker")
        http_task = asyncio.create_task(_serve_http(http), name="http-server")
        stop_task = asyncio.create_task(stopping.wait(), name="stop-signal")
        tasks = {worker_task, http_task, stop_task}

        listening = asyncio.create_task(http.listening.wait())
        await asyncio.wait({listening, *tasks}, return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if http.started:
            base = f"http://{settings.http_host}:{settings.http_port}"
            ui = f", Temporal UI {temporal.ui_url}" if temporal.ui_url else ""
            log.info(
                f"gridloop is up: console {base}/ , API {base}/api/docs{ui} (Ctrl-C to stop)",
                temporal=temporal.client.service_client.config.target_host,
                namespace=settings.temporal_namespace,
                task_queue=settings.task_queue,
            )

        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        stop_task.cancel()
        failed = False

        http.should_exit = True
        try:
            await http_task
        except Exception as exc:  # noqa: BLE001 - must not skip the worker's graceful shutdown
            log.error("HTTP server failed", error=str(exc))
            failed = True

        if not worker_task.done():
            await worker.shutdown()
        try:
            await worker_task
        except Exception:
            log.exception("Temporal worker failed")
            failed = True
        if not stopping.is_set():
            failed = True  # something stopped on its own
        # Leaving the exit stack stops the embedded dev server.
    log.info("stopped")
    return 1 if failed else 0


async def run_worker(settings: Settings) -> int:
    """Run only the Temporal worker against ``settings.effective_temporal_address`` until
    SIGINT/SIGTERM (for deployments where the server and the API run elsewhere)."""
    install_temporal_runtime(settings)
    async with _stop_on_signals() as stopping:
        address = settings.effective_temporal_address
        try:
            install_tracing(settings, "gridloop-worker")
            if settings.metrics_port:
                metrics_url = f"http://{settings.http_host}:{settings.metrics_port}/metrics"
                try:
                    serve_metrics(settings.http_host, settings.metrics_port)
                except OSError as taken:
                    log.error("could not serve metrics", url=metrics_url, error=str(taken))
                    return 1
                log.info("serving metrics (until the process ends)", url=metrics_url)
            client = await _unless_stopped(connect(address, settings.temporal_namespace), stopping)
            if settings.temporal_address is not None:
                await _unless_stopped(
                    ensure_search_attributes(
                        client, settings.temporal_namespace, SEARCH_ATTRIBUTE_TYPES
                    ),
                    stopping,
                )
            worker = build_worker(client, settings)
        except _Stopped:
            return 0
        except (RuntimeError, RPCError, CalendarError) as exc:
            log.error("could not start the worker", temporal=address, error=str(exc))
            return 1

        log.info(
            "worker running (Ctrl-C to stop)",
            temporal=address,
            namespace=settings.temporal_namespace,
            task_queue=settings.task_queue,
        )
        worker_task = asyncio.create_task(worker.run(), name="temporal-worker")
        stop_task = asyncio.create_task(stopping.wait(), name="stop-signal")
        await asyncio.wait({worker_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_task.cancel()
        if not worker_task.done():
            await worker.shutdown()
        try:
            await worker_task
        except Exception:
            log.exception("Temporal worker failed")
            return 1
    log.info("worker stopped")
    return 0 if stopping.is_set() else 1


async def run_api(settings: Settings) -> int:
    """Run only the HTTP server (API and console) against
    ``settings.effective_temporal_address`` until SIGINT/SIGTERM; workers run elsewhere
    (``gridloop worker``), and several API processes may share one server and read model."""
    install_temporal_runtime(settings)
    async with _stop_on_signals() as stopping:
        address = settings.effective_temporal_address
        try:
            install_tracing(settings, "gridloop-api")
            sessions = _read_model(settings)
            signing_key(settings)  # production without GRIDLOOP_SECRET_KEY stops here
            client = await _unless_stopped(connect(address, settings.temporal_namespace), stopping)
            http = _http_server(settings, client, sessions)
        except _Stopped:
            return 0
        except (RuntimeError, RPCError, CalendarError) as exc:
            # RuntimeError: the Temporal bridge's "Failed client connect", an unmigrated read
            # model, demo credentials or no secret key in production; CalendarError: a
            # malformed holiday table.
            log.error("could not start the API", temporal=address, error=str(exc))
            return 1

        http_task = asyncio.create_task(_serve_http(http), name="http-server")
        stop_task = asyncio.create_task(stopping.wait(), name="stop-signal")
        listening = asyncio.create_task(http.listening.wait())
        await asyncio.wait({listening, http_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        listening.cancel()
        if http.started:
            base = f"http://{settings.http_host}:{settings.http_port}"
            log.info(
                f"gridloop api is up: console {base}/ , API {base}/api/docs (Ctrl-C to stop)",
                temporal=address,
                namespace=settings.temporal_namespace,
                task_queue=settings.task_queue,
            )
        await asyncio.wait({http_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_task.cancel()
        http.should_exit = True
        try:
            await http_task
        except RuntimeError as exc:  # _serve_http's report of a failed start
            log.error("HTTP server failed", error=str(exc))
            return 1
    log.info("api stopped")
    return 0 if stopping.is_set() else 1


async def run_rebuild_projection(settings: Settings) -> int:
    """Rebuild the read model from Temporal, with a worker of its own to answer the queries."""
    address = settings.effective_temporal_address
    try:
        calendar = WorkingCalendar.from_settings(
            settings.working_hours, settings.timezone, settings.holiday_table
        )
    except CalendarError as exc:
        log.error("cannot rebuild: the holiday table is unreadable", error=str(exc))
        return 1
    try:
        client = await connect(address, settings.temporal_namespace)
        sessions = prepare_read_model(database_url(settings.database_url, settings.data_dir))
    except (RuntimeError, RPCError) as exc:
        log.error(
            "cannot rebuild: is Temporal running (gridloop up)?", temporal=address, error=str(exc)
        )
        return 1
    async with build_worker(client, settings, calendar=calendar, sessions=sessions):
        rebuilt = await rebuild_projection(
            client,
            sessions,
            settings.task_queue,
            calendar,
            review_working_days=settings.review_working_days,
        )
    log.info("read model rebuilt from Temporal", cases=rebuilt)
    return 0
