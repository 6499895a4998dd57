"""Replay verification: does the current workflow code reproduce a case's recorded history?

A worker with code that decides differently from the code that wrote a history cannot carry
that case on (non-determinism). Replaying histories with `Replayer`, in the same sandbox the
worker uses, finds such a change before it is deployed (docs/audit.md).
"""

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from gridloop.history import CaseHistoryNotFound, CaseRun, case_runs
from workflows.case import CaseWorkflow

FETCH_CONCURRENCY = 8


@dataclass(frozen=True)
class RunReplay:
    run_id: str
    number: int
    events: int
    failure: str | None
    """Why the replay diverged; None when the code reproduced the run."""


@dataclass(frozen=True)
class CaseReplay:
    case_no: str
    runs: tuple[RunReplay, ...]
    error: str | None = None
    """Why the case could not be replayed at all (e.g. its history could not be fetched)."""

    @property
    def deterministic(self) -> bool:
        return self.error is None and all(run.failure is None for run in self.runs)


@dataclass
class ReplaySummary:
    cases: list[CaseReplay] = field(default_factory=list)

    @property
    def failures(self) -> list[CaseReplay]:
        return [case for case in self.cases if not case.deterministic]


Progress = Callable[[CaseReplay], None]


async def replay_cases(
    client: Client,
    case_numbers: Sequence[str],
    *,
    workflows: Sequence[type] = (CaseWorkflow,),
    progress: Progress | None = None,
) -> ReplaySummary:
    """Replay every run of every case, reporting each case as it is done. `workflows` is the code
    to check: the current `CaseWorkflow` unless a test offers a changed one."""
    replayer = Replayer(workflows=list(workflows), data_converter=pydantic_data_converter)
    summary = ReplaySummary()
    async for case_no, runs in _fetched(client, case_numbers):
        if isinstance(runs, str):
            result = CaseReplay(case_no, (), error=runs)
        else:
            result = CaseReplay(case_no, tuple(await _replay_runs(replayer, runs)))
        summary.cases.append(result)
        if progress is not None:
            progress(result)
    return summary


async def _replay_runs(replayer: Replayer, runs: Iterable[CaseRun]) -> list[RunReplay]:
    replayable = [run for run in runs if run.ever_ran]
    results: list[RunReplay] = []
    async with replayer.workflow_replay_iterator(_histories(replayable)) as replays:
        # Results come in the order the histories went in.
        ordered = zip(replayable, [replay async for replay in replays], strict=True)
        for run, replay in ordered:
            failure = replay.replay_failure
            results.append(
                RunReplay(
                    run_id=run.run_id,
                    number=run.number,
                    events=run.events,
                    failure=None if failure is None else str(failure),
                )
            )
    return results


async def _histories(runs: Iterable[CaseRun]) -> AsyncIterator[WorkflowHistory]:
    for run in runs:
        yield run.history


async def _fetched(
    client: Client, case_numbers: Sequence[str]
) -> AsyncIterator[tuple[str, list[CaseRun] | str]]:
    """Each case's runs, fetched a batch at a time; a string says why not."""

    async def fetch(case_no: str) -> list[CaseRun] | str:
        try:
            return await case_runs(client, case_no)
        except CaseHistoryNotFound:
            return "history not found"

    for start in range(0, len(case_numbers), FETCH_CONCURRENCY):
        batch = case_numbers[start : start + FETCH_CONCURRENCY]
        fetched = await asyncio.gather(*(fetch(case_no) for case_no in batch))
        for case_no, runs in zip(batch, fetched, strict=True):
            yield case_no, runs
