"""Small measuring helpers shared by the bench parts."""

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Figure:
    part: str
    name: str
    value: float
    unit: str
    note: str = ""


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)

    def add(self, part: str, name: str, value: float, unit: str, note: str = "") -> Figure:
        figure = Figure(part, name, value, unit, note)
        self.figures.append(figure)
        # Printed as measured, so a long run shows progress and a crash keeps what was done.
        print(_line(figure), flush=True)
        return figure

    def table(self) -> str:
        lines = [
            "| part | figure | value | unit | note |",
            "| --- | --- | ---: | --- | --- |",
        ]
        lines += [
            f"| {f.part} | {f.name} | {_number(f.value)} | {f.unit} | {f.note} |"
            for f in self.figures
        ]
        return "\n".join(lines)


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _line(figure: Figure) -> str:
    note = f"  ({figure.note})" if figure.note else ""
    return f"  {figure.part:<11} {figure.name:<40} {_number(figure.value):>10} {figure.unit}{note}"


async def gather_limited(concurrency: int, jobs: Iterable[Callable[[], Awaitable[T]]]) -> list[T]:
    """Run the jobs with at most `concurrency` in flight; results in job order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs))


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.started


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(fraction * 100) - 1]


def rss_mib() -> float:
    """This process's resident set size (Linux /proc; psutil is not a dependency)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")
