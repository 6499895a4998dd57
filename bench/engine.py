"""Part 1: the raw engine's ceiling on this machine, with the minimal BenchWorkflow."""

import uuid
from dataclasses import dataclass
from functools import partial

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from bench.engine_workflow import SIGNALS_PER_WORKFLOW, BenchWorkflow, bench_step
from bench.measure import Report, Stopwatch, gather_limited

PART = "1 engine"


@dataclass(frozen=True)
class EngineFigures:
    start_rate: float
    signal_rate: float
    completed_rate: float


async def run_engine(
    client: Client, report: Report, workflows: int, concurrency: int
) -> EngineFigures:
    task_queue = f"bench-engine-{uuid.uuid4().hex[:8]}"
    run = uuid.uuid4().hex[:8]
    async with Worker(
        client, task_queue=task_queue, workflows=[BenchWorkflow], activities=[bench_step]
    ):
        total = Stopwatch()

        async def start(i: int) -> WorkflowHandle[BenchWorkflow, int]:
            return await client.start_workflow(
                BenchWorkflow.run, i, id=f"bench-{run}-{i}", task_queue=task_queue
            )

        clock = Stopwatch()
        handles = await gather_limited(concurrency, [partial(start, i) for i in range(workflows)])
        start_rate = workflows / clock.seconds()

        clock = Stopwatch()
        await gather_limited(
            concurrency,
            [
                partial(handle.signal, BenchWorkflow.poke)
                for handle in handles
                for _ in range(SIGNALS_PER_WORKFLOW)
            ],
        )
        signal_rate = workflows * SIGNALS_PER_WORKFLOW / clock.seconds()

        await gather_limited(concurrency, [handle.result for handle in handles])
        completed_rate = workflows / total.seconds()

    report.add(PART, "workflow starts", start_rate, "/s", f"N={workflows}")
    report.add(PART, "signals", signal_rate, "/s", f"{SIGNALS_PER_WORKFLOW} per workflow")
    report.add(
        PART,
        "completed workflows (start to result)",
        completed_rate,
        "/s",
        "2 activities + 3 signals each",
    )
    report.add(PART, "cost per signal", 1000 / signal_rate, "ms")
    return EngineFigures(start_rate, signal_rate, completed_rate)
