"""`gridloop bench --quick` runs every part and prints a figure for each (values are not
checked: timings depend on the machine and on whatever else runs on it)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

GRIDLOOP = Path(sys.executable).parent / "gridloop"
PARTS = ("1 engine", "2 intake", "3 lifecycle", "4 read model", "5 replay", "6 memory")
ROW = re.compile(r"^\| (?P<part>[^|]+) \| (?P<name>[^|]+) \| (?P<value>[0-9.,]+) \|", re.M)


@pytest.mark.devserver
@pytest.mark.timeout(600)
def test_quick_bench_prints_every_part() -> None:
    # A process of its own: the bench starts its own dev server and leaves via os._exit.
    done = subprocess.run(
        [str(GRIDLOOP), "bench", "--quick"],
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    # One line per request or migration would bury the table on a terminal.
    for chatter in ("http request", "Running upgrade"):
        assert chatter not in done.stderr, done.stderr[-4000:]
    rows = [match.groupdict() for match in ROW.finditer(done.stdout)]
    printed = {row["part"].strip() for row in rows}
    assert printed == set(PARTS), done.stdout
    names = {row["name"].strip() for row in rows}
    for expected in (
        "workflow starts",
        "signals",
        "completed workflows (start to result)",
        "cases reported and projected",
        "ratio to raw start rate",
        "cost per message",
        "ratio to raw cost per signal",
        "histories replayed (fetch + replay)",
        "process RSS with open cases",
    ):
        assert expected in names, done.stdout
    for query in ("case list", "filtered list", "dashboard", "KPIs by department"):
        assert any(name.startswith(query) and " / " in name for name in names), done.stdout
