"""`gridloop up` as a child process with its own ports and data directory."""

import asyncio
import os
import signal
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.support import write_filler_table


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


GRIDLOOP = Path(sys.executable).parent / "gridloop"
READY_TIMEOUT = 90


class Up:
    """One `gridloop up` child process with its own ports and data directory."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.http_port = free_port()
        self.temporal_port = free_port()
        holidays = write_filler_table(data_dir.parent / "holidays.toml", datetime.now(UTC).year + 2)
        self.env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("GRIDLOOP_") and name not in {"TEMPORAL_ADDRESS"}
        } | {
            "GRIDLOOP_DATA_DIR": str(data_dir),
            "GRIDLOOP_HTTP_PORT": str(self.http_port),
            "GRIDLOOP_TEMPORAL_PORT": str(self.temporal_port),
            "GRIDLOOP_HOLIDAY_TABLE": str(holidays),
            "GRIDLOOP_TEMPORAL_UI_PORT": "0",
            "GRIDLOOP_LOG_FORMAT": "json",
        }
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("wb") as out:
            self.process = await asyncio.create_subprocess_exec(
                str(GRIDLOOP),
                "up",
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )

    async def wait_ready(self) -> None:
        assert self.process is not None
        url = f"http://127.0.0.1:{self.http_port}/readyz"
        deadline = time.monotonic() + READY_TIMEOUT
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    pytest.fail(f"gridloop up exited early:\n{self.log.read_text()}")
                try:
                    if (await http.get(url)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        pytest.fail(f"gridloop up not ready after {READY_TIMEOUT}s:\n{self.log.read_text()}")

    async def stop(self, signum: signal.Signals) -> int:
        assert self.process is not None
        if self.process.returncode is not None:
            return self.process.returncode
        self.process.send_signal(signum)
        try:
            return await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            pytest.fail(f"gridloop up did not stop within 30 s:\n{self.log.read_text()}")
