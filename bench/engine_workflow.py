"""The raw-engine baseline: the least a Temporal workflow can do that still has the shape of a
case (two activities, then waiting for signals). Kept free of gridloop imports so the workflow
sandbox loads nothing but temporalio."""

from datetime import timedelta

from temporalio import activity, workflow

SIGNALS_PER_WORKFLOW = 3


@activity.defn
async def bench_step(value: int) -> int:
    return value + 1


# Sandboxed like CaseWorkflow, so the baseline carries the same SDK overhead per task.
@workflow.defn
class BenchWorkflow:
    def __init__(self) -> None:
        self._signals = 0

    @workflow.run
    async def run(self, value: int) -> int:
        for _ in range(2):
            value = await workflow.execute_activity(
                bench_step, value, start_to_close_timeout=timedelta(seconds=30)
            )
        await workflow.wait_condition(lambda: self._signals >= SIGNALS_PER_WORKFLOW)
        return value + self._signals

    @workflow.signal
    def poke(self) -> None:
        self._signals += 1
