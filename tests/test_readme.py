"""The README's API walkthrough, run as written against a real `gridloop up`."""

import asyncio
import os
import re
import signal
from pathlib import Path

import pytest

from tests.stack_process import Up

README = Path(__file__).parent.parent / "README.md"

pytestmark = pytest.mark.devserver


def walkthrough() -> str:
    section = README.read_text(encoding="utf-8").split("## API walkthrough", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert match, "the README's API walkthrough has a sh block"
    return match.group(1)


async def test_the_readme_walkthrough_drives_a_case_to_the_archive(tmp_path: Path) -> None:
    up = Up(tmp_path / "var", tmp_path / "up.log")
    await up.start()
    try:
        await up.wait_ready()
        shell = await asyncio.create_subprocess_exec(
            "bash",
            "-euo",
            "pipefail",
            "-c",
            walkthrough(),
            env=os.environ | {"API": f"http://127.0.0.1:{up.http_port}/api/v1"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(shell.communicate(), 120)
    finally:
        await up.stop(signal.SIGINT)
    text = output.decode()
    assert shell.returncode == 0, text
    assert '"type":"not_permitted"' in text  # the grid worker's refused dispatch
    assert "\narchived\n" in text
    assert '"type": "archived"' in text  # the timeline's last event
