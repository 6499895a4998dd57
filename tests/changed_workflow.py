"""A careless change to the case workflow, for the replay check to catch: the case now waits a
minute before anything else. Its own module, so the sandbox imports nothing else with it."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.messages import CaseInput
    from domain.state import CaseState


@workflow.defn(name="CaseWorkflow")
class CaseWorkflowChangedCarelessly:
    @workflow.run
    async def run(
        self, case: CaseInput, carried: CaseState | None = None, projected_through: int = 0
    ) -> None:
        await workflow.sleep(timedelta(minutes=1))
