"""Drive one case workflow from a test the way the API will: Updates, a Signal, the query; and
the steps many tests share."""

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from domain.messages import (
    ActionAccepted,
    CaseInput,
    CaseSummary,
    Command,
    CompleteWork,
    Dispatch,
    RateFeedback,
    RecordReviewFindings,
    SignForWork,
    Urge,
    VerifyOnSite,
)
from domain.model import Rating, ReviewOutcome
from domain.state import CaseState
from gridloop import cases
from store.models import CaseRecord
from tests.histories import HistoryLog
from tests.support import auditor, coordinator, department, grid_worker, reporter, request_id
from workflows.case import CaseSnapshot, CaseWorkflow

ACCEPTED = "workflow_execution_update_accepted_event_attributes"


class CaseUnderTest:
    def __init__(self, env: WorkflowEnvironment, handle: WorkflowHandle[CaseWorkflow, Any]):
        self.env = env
        self.handle = handle

    @classmethod
    async def start(
        cls, env: WorkflowEnvironment, task_queue: str, case: CaseInput, log: HistoryLog
    ) -> "CaseUnderTest":
        handle = await cases.start_case(env.client, case, task_queue)
        log.add(env.client, handle.id)
        return cls(env, handle)

    async def act(self, command: Command) -> ActionAccepted:
        return await cases.act(self.handle, command)

    async def urge(self, command: Urge) -> None:
        await cases.urge(self.handle, command)

    async def refusal(self, command: Command, *, by_validator: bool = True) -> str:
        """Send an action that must be refused; return the refusal's error type. A refusal
        changes nothing, and one the validator makes never reaches history (those found only
        while applying, such as missing calendar data, follow an accepted Update)."""
        events_before = len((await self.case()).events)
        accepted_before = await self.accepted_updates()
        try:
            await cases.act(self.handle, command)
        except WorkflowUpdateFailedError as failed:
            cause = failed.cause
            assert isinstance(cause, ApplicationError), cause
            assert cause.type is not None
            if by_validator:
                assert await self.accepted_updates() == accepted_before
            assert len((await self.case()).events) == events_before
            return cause.type
        raise AssertionError(f"{type(command).__name__} was accepted")

    async def snapshot(self) -> CaseSnapshot:
        return await cases.read_case(self.handle)

    async def case(self) -> CaseState:
        return (await self.snapshot()).case

    async def event_types(self) -> list[str]:
        return [event.type for event in (await self.case()).events]

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def advance(self, duration: timedelta) -> None:
        await self.env.sleep(duration)

    async def advance_past(
        self, moment: datetime, margin: timedelta = timedelta(minutes=1)
    ) -> None:
        remaining = moment - await self.now()
        if remaining > timedelta(0):
            await self.env.sleep(remaining + margin)

    async def accepted_updates(self) -> int:
        """Updates the history records as accepted; a refused one must never count."""
        history = await self.handle.fetch_history()
        return sum(1 for event in history.events if event.HasField(ACCEPTED))

    async def close_if_running(self) -> None:
        if (await self.handle.describe()).status is WorkflowExecutionStatus.RUNNING:
            await self.handle.terminate("test finished")

    async def result(self) -> CaseSummary:
        """The finished case's summary. Time stays put: the test server would otherwise leap
        to its ten-year default run timeout while the result is awaited."""
        with self.env.auto_time_skipping_disabled():
            summary: CaseSummary = await self.handle.result()
        return summary


async def wait_until_projected(sessions: sessionmaker[Session], case: CaseUnderTest) -> None:
    last = (await case.case()).events[-1].sequence
    for _ in range(200):
        with sessions() as session:
            row = session.get(CaseRecord, (await case.case()).case_no)
            if row is not None and row.last_event_sequence == last:
                return
        await asyncio.sleep(0.05)
    raise AssertionError(f"case not projected through event {last}")


# ---- steps many tests share -----------------------------------------------------------------

MARKET = "market_supervision"
ENFORCEMENT = "comprehensive_enforcement"
HOUSING = "housing_construction"
ENVIRONMENT = "ecology_environment"


async def dispatch(case: CaseUnderTest, lead: str, *co: str) -> None:
    await case.act(
        Dispatch(
            request_id=request_id(),
            actor=coordinator(),
            lead_department=lead,
            co_departments=co,
        )
    )


async def sign_and_complete(case: CaseUnderTest, code: str, result: str = "已处理") -> None:
    await case.act(SignForWork(request_id=request_id(), actor=department(code)))
    await case.act(
        CompleteWork(
            request_id=request_id(),
            actor=department(code),
            result=result,
            evidence_urls=(f"https://evidence.example/{code}.jpg",),
        )
    )


async def verify_and_rate(case: CaseUnderTest, rating: Rating = Rating.SATISFIED) -> None:
    await case.act(VerifyOnSite(request_id=request_id(), actor=grid_worker(), passed=True))
    await case.act(RateFeedback(request_id=request_id(), actor=reporter(), rating=rating))


async def record_review(case: CaseUnderTest) -> None:
    await case.act(
        RecordReviewFindings(
            request_id=request_id(),
            actor=auditor(),
            root_cause="签收不及时",
            responsible_departments=(HOUSING,),
            outcome=ReviewOutcome.NOTICE,
        )
    )
