"""gridloop's own processes for the fault tests: `gridloop api`, `gridloop worker` and
`gridloop rebuild-projection` as real children against one Temporal server, and an HTTP driver
that takes cases through their lifecycle round-robin over several API processes, retrying each
step with the same Idempotency-Key until it is known to have taken effect exactly once."""

import asyncio
import itertools
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api_driver import AUDITOR, COORDINATOR, GRID_WORKER, HEALTH, TEST_SECRET_KEY
from tests.stack_process import GRIDLOOP, free_port
from tests.support import write_filler_table

READY_TIMEOUT = 90
STOP_TIMEOUT = 30
LOG_TAIL_LINES = 120
LOG_LINE_CHARS = 600


def tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The end of a child's log, each line cut short: one traceback in a JSON log line can be
    10 kB, and a hundred of them would bury the failure."""
    if not log.exists():
        return "(no log)"
    text = log.read_text(errors="replace")
    return "\n".join(line[:LOG_LINE_CHARS] for line in text.splitlines()[-lines:])


class Child:
    """One `gridloop COMMAND` child process, its output in a log file of its own."""

    def __init__(self, name: str, command: Sequence[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.command = list(command)
        self.env = env
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                str(GRIDLOOP),
                *self.command,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no log)"

    def log_tail(self) -> str:
        return tail(self.log)

    def fail(self, why: str) -> None:
        pytest.fail(f"{self.name}: {why}; its log:\n{self.log_tail()}")

    async def wait_for_log(self, text: str, within: float = READY_TIMEOUT) -> None:
        """Until the child has logged `text` (e.g. the worker's start line)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.running:
                self.fail(f"exited early (code {self.process and self.process.returncode})")
            if text in self.log_text():
                return
            await asyncio.sleep(0.2)
        self.fail(f"did not log {text!r} within {within:.0f} s")

    async def kill(self) -> None:
        """SIGKILL: no graceful shutdown, as a crash or an OOM kill would be."""
        assert self.process is not None
        if self.running:
            self.process.kill()
        await self.process.wait()

    async def stop(self, signum: signal.Signals = signal.SIGTERM) -> int:
        assert self.process is not None
        if self.running:
            self.process.send_signal(signum)
        try:
            return await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT)
        except TimeoutError:
            await self.kill()
            self.fail(f"did not stop within {STOP_TIMEOUT} s of {signum.name}")
            raise  # not reached: pytest.fail raises

    async def finish(self, within: float) -> int:
        """Wait for a one-shot command to exit by itself."""
        assert self.process is not None
        try:
            return await asyncio.wait_for(self.process.wait(), within)
        except TimeoutError:
            await self.kill()
            self.fail(f"did not finish within {within:.0f} s")
            raise


class Api(Child):
    """`gridloop api` on a port of its own."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        super().__init__(name, ["api"], env | {"GRIDLOOP_HTTP_PORT": str(self.port)}, log)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() < deadline:
                if not self.running:
                    self.fail("exited before it was ready")
                try:
                    if (await http.get(f"{self.base}/readyz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                await asyncio.sleep(0.2)
        self.fail(f"not ready within {READY_TIMEOUT} s")


class Cluster:
    """gridloop's processes against one Temporal server, sharing a data directory (so one
    SQLite read model), a task queue and a signing key, as a multi-process deployment does."""

    def __init__(self, root: Path, temporal_address: str) -> None:
        self.root = root
        self.data_dir = root / "var"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The built-in Chinese calendar has no data for next year's deadlines yet.
        holidays = write_filler_table(root / "holidays.toml", datetime.now(UTC).year + 2)
        self.task_queue = f"faults-{uuid.uuid4().hex[:10]}"
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("GRIDLOOP_") and name not in {"TEMPORAL_ADDRESS", "DATABASE_URL"}
        } | {
            "TEMPORAL_ADDRESS": temporal_address,
            "GRIDLOOP_DATA_DIR": str(self.data_dir),
            "GRIDLOOP_TASK_QUEUE": self.task_queue,
            "GRIDLOOP_HOLIDAY_TABLE": str(holidays),
            # Shared, so that a token from one API process is good at the other.
            "GRIDLOOP_SECRET_KEY": TEST_SECRET_KEY,
            "GRIDLOOP_LOG_FORMAT": "json",
        }
        self.children: list[Child] = []
        self._names = itertools.count(1)

    def _log(self, kind: str) -> tuple[str, Path]:
        name = f"{kind}-{next(self._names)}"
        return name, self.root / f"{name}.log"

    async def worker(self) -> Child:
        name, log = self._log("worker")
        child = Child(name, ["worker"], self.env, log)
        self.children.append(child)
        await child.start()
        await child.wait_for_log("worker running")
        return child

    async def api(self) -> Api:
        name, log = self._log("api")
        child = Api(name, self.env, log)
        self.children.append(child)
        await child.start()
        await child.wait_ready()
        return child

    async def run(self, *command: str, within: float = 120) -> Child:
        """A one-shot command such as `rebuild-projection`; fails the test unless it exits 0."""
        name, log = self._log(command[0])
        child = Child(name, command, self.env, log)
        self.children.append(child)
        await child.start()
        if (code := await child.finish(within)) != 0:
            child.fail(f"exited with code {code}")
        return child

    async def close(self) -> None:
        for child in self.children:
            if child.running:
                await child.stop()

    def logs(self) -> str:
        """Every child's log tail, for the report of a failed test."""
        return "\n".join(f"===== {c.name} ({c.log})\n{c.log_tail()}" for c in self.children)


# ---- driving cases over HTTP ------------------------------------------------------------------

# Transient answers while a process or the server is down or restarting: retry the same request.
RETRYABLE_STATUS = {502, 503, 504}
STEP_TIMEOUT = 180
# An Update waits, inside the API, for a worker to run it: longer than a worker replacement.
REQUEST_TIMEOUT = httpx.Timeout(120, connect=5)


@dataclass
class Step:
    name: str
    user: str | None  # None: the resident, on the public endpoints
    action: str
    body: dict[str, Any]


# A single-department case from report to archive; `public_health` has no follow-up schedule.
LIFECYCLE = (
    Step("dispatch", COORDINATOR, "dispatch", {"lead_department": HEALTH}),
    Step("sign", HEALTH, "sign", {}),
    Step("complete", HEALTH, "complete", {"result": "已消杀并清运垃圾"}),
    Step("verify", GRID_WORKER, "verification", {"passed": True}),
    Step("rate", None, "feedback", {"rating": "satisfied"}),
)
# The business events each step adds to a case, once (besides status changes).
STEP_EVENTS = {
    "report": "reported",
    "dispatch": "dispatched",
    "sign": "signed",
    "complete": "completed",
    "verify": "verified",
    "rate": "feedback_rated",
}


@dataclass
class DrivenCase:
    case_no: str
    lookup_code: str
    done: int = 0  # how many LIFECYCLE steps have taken effect
    keys: dict[str, str] = field(default_factory=dict)  # step -> its Idempotency-Key


class Loop:
    """Takes cases through LIFECYCLE over HTTP, round-robin over `bases` (which a test may
    change, e.g. after a restart on new ports)."""

    def __init__(
        self,
        bases: Sequence[str],
        concurrency: int = 8,
        passwords: Mapping[str, str] | None = None,
    ) -> None:
        self.bases = list(bases)
        # Each user's password; a user not in it has the seeded one, its username.
        self.passwords = dict(passwords or {})
        self._turn = itertools.count()
        self._tokens: dict[str, str] = {}
        self._limit = asyncio.Semaphore(concurrency)
        self._signing_in = asyncio.Lock()
        self.http = httpx.AsyncClient(timeout=REQUEST_TIMEOUT)
        self.requests_retried = 0

    async def aclose(self) -> None:
        await self.http.aclose()

    def _base(self) -> str:
        return self.bases[next(self._turn) % len(self.bases)]

    async def _send(
        self,
        method: str,
        path: str,
        user: str | None,
        *,
        json: Any = None,
        key: str | None = None,
        expect: int = 200,
    ) -> Any:
        """One request, repeated (same key) while the answer is transient, until `expect`."""
        deadline = time.monotonic() + STEP_TIMEOUT
        last = "no attempt"
        while time.monotonic() < deadline:
            headers = {"Idempotency-Key": key} if key else {}
            try:
                if user is not None:
                    headers["Authorization"] = f"Bearer {await self._token(user)}"
                async with self._limit:
                    response = await self.http.request(
                        method, f"{self._base()}/api/v1{path}", json=json, headers=headers
                    )
            except httpx.TransportError as exc:  # process gone, or not listening yet
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == expect:
                    return response.json()
                if response.status_code not in RETRYABLE_STATUS:
                    raise AssertionError(
                        f"{method} {path} as {user}: {response.status_code} {response.text}"
                    )
                last = f"{response.status_code} {response.text}"
            self.requests_retried += 1
            await asyncio.sleep(0.3)
        raise AssertionError(f"{method} {path} as {user}: gave up after {STEP_TIMEOUT} s: {last}")

    async def _token(self, user: str) -> str:
        # One sign-in per user, not one per waiting request: a hundred concurrent password
        # checks exhaust the API's database pool (500s), which is not the fault under test.
        async with self._signing_in:
            if user not in self._tokens:
                response = await self.http.post(
                    f"{self._base()}/api/v1/auth/token",
                    data={"username": user, "password": self.passwords.get(user, user)},
                )
                if response.status_code in RETRYABLE_STATUS:
                    raise httpx.TransportError(f"token: {response.status_code}")
                assert response.status_code == 200, response.text
                self._tokens[user] = response.json()["access_token"]
            return self._tokens[user]

    async def report(self, n: int) -> DrivenCase:
        body = {
            "category": "public_health",
            "urgency": "normal",
            "grid": "luoxing_xinzhou_g01",
            "address": f"新洲社区 {n} 幢",
            "description": f"垃圾房蚊蝇滋生（第 {n} 处）",
            "reporter_phone": "13800000000",
        }
        reported = await self._send(
            "POST", "/cases", GRID_WORKER, json=body, key=f"report-{n}", expect=201
        )
        return DrivenCase(reported["case_no"], reported["lookup_code"])

    async def advance(self, case: DrivenCase) -> None:
        """The case's next step, exactly once however often it must be sent."""
        step = LIFECYCLE[case.done]
        key = case.keys.setdefault(step.name, uuid.uuid4().hex)
        if step.user is None:
            # The public endpoints find the case by its lookup code in the read model, which the
            # projection fills beside the case: a rating sent before that would get a 404.
            await poll("the public page shows the case", lambda: self._public_page_shows(case))
            path = f"/public/cases/{case.lookup_code}/{step.action}"
        else:
            path = f"/cases/{case.case_no}/{step.action}"
        await self._send("POST", path, step.user, json=step.body, key=key)
        case.done += 1

    async def _public_page_shows(self, case: DrivenCase) -> bool:
        try:
            async with self._limit:  # uncapped, a hundred waiting cases exhaust the API's pool
                response = await self.http.get(
                    f"{self._base()}/api/v1/public/cases/{case.lookup_code}"
                )
        except httpx.TransportError:  # process gone, or not listening yet
            return False
        return response.status_code == 200

    async def advance_to(self, case: DrivenCase, done: int) -> None:
        while case.done < done:
            await self.advance(case)

    async def finish(self, case: DrivenCase) -> dict[str, Any]:
        """Every remaining step, the post-hoc review if the case was drawn for one; the case."""
        await self.advance_to(case, len(LIFECYCLE))
        detail = await self.case(case.case_no)
        if detail["stage"] == "review":
            body = {"root_cause": "抽查：无问题", "outcome": "none"}
            key = case.keys.setdefault("review", uuid.uuid4().hex)
            await self._send("POST", f"/cases/{case.case_no}/review", AUDITOR, json=body, key=key)
            detail = await self.case(case.case_no)
        return detail

    async def case(self, case_no: str) -> dict[str, Any]:
        detail: dict[str, Any] = await self._send("GET", f"/cases/{case_no}", COORDINATOR)
        return detail


async def gather_all(jobs: Sequence[Awaitable[Any]]) -> list[Any]:
    """Run the jobs concurrently; the first failure fails the test, the others are cancelled."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        return await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()


async def poll(
    what: str, check: Callable[[], Awaitable[bool]], within: float = 120, every: float = 0.3
) -> None:
    """Until `check()` is true; fails with `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(every)
    pytest.fail(f"not within {within:.0f} s: {what}")
