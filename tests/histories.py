"""Every case history the suite makes, collected for the replay test.

With `GRIDLOOP_RECORD_HISTORIES=<dir>` set, each history is also written to `<dir>` as JSON (the
`temporal workflow show --output json` format), named after the test that made it: this is how
`tests/histories/` is refreshed (see docs/lifecycle.md, "Long-lived cases and code changes").
"""

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client, WorkflowHistory

RECORDED = Path(__file__).parent / "histories"


@dataclass
class HistoryLog:
    """Every case history the suite made, so the replay test can replay them all.

    Cases are noted when they start and their histories fetched before their server stops.
    """

    pending: list[tuple[Client, str, str]] = field(default_factory=list)
    histories: list[WorkflowHistory] = field(default_factory=list)

    def add(self, client: Client, workflow_id: str) -> None:
        self.pending.append((client, workflow_id, _current_test()))

    def forget(self, workflow_id: str) -> None:
        """For a history made by code the test altered on purpose: it cannot replay."""
        self.pending = [entry for entry in self.pending if entry[1] != workflow_id]

    async def collect(self) -> None:
        record_to = os.environ.get("GRIDLOOP_RECORD_HISTORIES")
        for client, workflow_id, test in self.pending:
            runs = [history async for history in _every_run(client, workflow_id)]
            self.histories += runs
            if record_to:
                for number, history in enumerate(reversed(runs), start=1):
                    path = Path(record_to) / f"{test}.run{number}.json"
                    path.write_text(history.to_json(), encoding="utf-8")
        self.pending = []


def recorded_histories() -> list[WorkflowHistory]:
    """The histories kept in the repository, recorded from an earlier version of the code."""
    return [
        WorkflowHistory.from_json(path.stem, path.read_text(encoding="utf-8"))
        for path in sorted(RECORDED.glob("*.json"))
    ]


def _current_test() -> str:
    current = os.environ.get("PYTEST_CURRENT_TEST", "unknown")
    name = current.split("::")[-1].split(" ")[0].removeprefix("test_")
    return re.sub(r"[^A-Za-z0-9_]+", "_", name)


async def _every_run(client: Client, workflow_id: str) -> AsyncIterator[WorkflowHistory]:
    """The latest run, then each run it continued from."""
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        yield history
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
        if run_id is None:
            return
