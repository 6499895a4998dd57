"""Browser tests: the console served on a real port, driven by Debian's Chromium through
Playwright, with a screenshot of every page visited."""

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from playwright.async_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parent / "artifacts" / "screenshots"
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the test runner keeps Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """The app on 127.0.0.1 at a free port; yields its base URL."""
    port = _free_port()
    server = _QuietServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 20
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class User:
    """One person at one browser: their own cookies, signed in through the form."""

    def __init__(self, page: Page, base: str, name: str) -> None:
        self.page, self.base, self.name = page, base, name

    @classmethod
    async def sign_in(
        cls,
        browser: Browser,
        base: str,
        username: str,
        *,
        phone: bool = False,
        language: str = "zh-CN",
    ) -> "User":
        context = await browser.new_context(
            viewport=PHONE if phone else DESKTOP,
            locale=language,
            extra_http_headers={"Accept-Language": language},
        )
        page = await context.new_page()
        user = cls(page, base, username)
        await user.go("/login")
        await page.fill("#username", username)
        await page.fill("#password", username)
        await page.click("form[action='/login'] button[type=submit]")
        await page.wait_for_load_state("networkidle")
        return user

    async def go(self, path: str) -> None:
        await self.page.goto(self.base + path)
        await self.page.wait_for_load_state("networkidle")

    async def open_action(self, name: str, case_no: str = "") -> str:
        """Unfold the form of an action (on the case page, or a case's row in a queue);
        returns its selector."""
        form = f"form[action$='{case_no}/do/{name}']"
        await self.page.eval_on_selector(
            form,
            "form => { const folded = form.closest('details'); if (folded) folded.open = true; }",
        )
        return form

    async def submit(self, form: str) -> None:
        await self.page.click(f"{form} button[type=submit]")
        await self.page.wait_for_load_state("networkidle")

    async def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    async def close(self) -> None:
        await self.page.context.close()


def case_number_in(url: str) -> str:
    found = re.search(r"/cases/([A-Z0-9-]+)", url)
    assert found, url
    return found.group(1)
