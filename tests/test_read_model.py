"""The read model on SQLite and on PostgreSQL: migrations, the projection activity, rebuilds."""

from typing import Any
from zoneinfo import ZoneInfo

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.calendar import WorkingCalendar
from domain.messages import (
    CompleteWork,
    DecideExtension,
    Dispatch,
    RateFeedback,
    RequestExtension,
    ReturnWork,
    SignForWork,
    SubmitFinalReply,
    VerifyOnSite,
)
from domain.model import Rating, Stage
from domain.projection import project
from gridloop.rebuild import rebuild_projection
from gridloop.settings import Settings
from store.db import make_engine, prepare_read_model
from store.models import (
    AssignmentRecord,
    Base,
    CaseEventRecord,
    CaseRecord,
    DailyTally,
    ReadModelSetting,
    ReviewRecord,
    StageTally,
)
from store.projection import write_projection
from store.tallies import recount, tally_zone
from tests.driver import CaseUnderTest, wait_until_projected
from tests.histories import HistoryLog
from tests.support import (
    assert_tallies_match_rows,
    case_input,
    coordinator,
    department,
    grid_worker,
    make_worker,
    reporter,
    request_id,
)

TABLES = (
    CaseRecord,
    AssignmentRecord,
    CaseEventRecord,
    ReviewRecord,
    DailyTally,
    StageTally,
    ReadModelSetting,
)
MARKET, HOUSING, ENFORCEMENT = "market_supervision", "housing_construction", "enforcement"
# The workers of make_worker project with the default settings: rebuilds must use the same.
REVIEW_DAYS = Settings().review_working_days


def dump(sessions: sessionmaker[Session]) -> dict[str, list[dict[str, Any]]]:
    with sessions() as session:
        return {
            record.__tablename__: [
                {c.key: getattr(row, c.key) for c in record.__table__.columns}
                for row in session.scalars(
                    select(record).order_by(*record.__table__.primary_key.columns)
                )
            ]
            for record in TABLES
        }


def test_migrations_build_exactly_the_models_schema(database: str) -> None:
    engine = make_engine(database)
    prepare_read_model(database)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


async def test_projection_follows_a_joint_case_and_is_idempotent(
    time_skipping_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    history_log: HistoryLog,
    sessions: sessionmaker[Session],
) -> None:
    async with make_worker(time_skipping_env.client, task_queue, calendar, sessions):
        now = await time_skipping_env.get_current_time()
        case = await CaseUnderTest.start(
            time_skipping_env, task_queue, case_input(now), history_log
        )
        await case.act(
            Dispatch(
                request_id=request_id(),
                actor=coordinator(),
                lead_department=MARKET,
                co_departments=(ENFORCEMENT,),
            )
        )
        await case.act(
            ReturnWork(request_id=request_id(), actor=department(ENFORCEMENT), reason="非本部门")
        )
        await case.act(
            Dispatch(
                request_id=request_id(),
                actor=coordinator(),
                lead_department=MARKET,
                co_departments=(HOUSING,),
            )
        )
        await wait_until_projected(sessions, case)
        with sessions() as session:
            row = session.get(CaseRecord, (await case.case()).case_no)
            assert row is not None
            assert (row.stage, row.lead_department, row.returns) == ("handle", MARKET, 1)
            states = {a.department: a.state for a in session.scalars(select(AssignmentRecord))}
            assert states == {
                MARKET: "awaiting_sign",
                ENFORCEMENT: "returned",
                HOUSING: "awaiting_sign",
            }

        for code in (MARKET, HOUSING):
            await case.act(SignForWork(request_id=request_id(), actor=department(code)))
        await case.act(
            RequestExtension(
                request_id=request_id(), actor=department(HOUSING), extra_days=2, reason="等材料"
            )
        )
        await case.act(
            DecideExtension(
                request_id=request_id(), actor=coordinator(), department=HOUSING, approve=True
            )
        )
        for code in (HOUSING, MARKET):
            await case.act(
                CompleteWork(request_id=request_id(), actor=department(code), result="ok")
            )
        await case.act(
            SubmitFinalReply(request_id=request_id(), actor=department(MARKET), reply="办结")
        )
        await case.act(VerifyOnSite(request_id=request_id(), actor=grid_worker(), passed=True))
        await case.act(
            RateFeedback(request_id=request_id(), actor=reporter(), rating=Rating.SATISFIED)
        )
        state = await case.case()
        assert state.stage is Stage.ARCHIVED
        await wait_until_projected(sessions, case)

    rows = dump(sessions)
    assert [e["type"] for e in rows["case_events"]] == [e.type for e in state.events]
    # Kept in step change by change, the tallies are what counting the final rows gives.
    assert rows["stage_tallies"] == [{"stage": "archived", "cases": 1}]
    with sessions.begin() as session:
        recount(session, calendar.zone)
    assert dump(sessions) == rows
    housing = next(a for a in rows["assignments"] if a["department"] == HOUSING)
    assert housing["extension_days"] == 2
    assert housing["due_at"] == state.assignments[-1].handling_clock.due_at

    # The same projection again, or an older one arriving late, changes nothing.
    final = project(state)
    stale = final.model_copy(
        update={"case": final.case.model_copy(update={"last_event_sequence": 3, "stage": "report"})}
    )
    with sessions.begin() as session:
        write_projection(session, final, calendar, REVIEW_DAYS)
    with sessions.begin() as session:
        write_projection(session, stale, calendar, REVIEW_DAYS)
    assert dump(sessions) == rows

    # A county that changes its time zone has its tallies counted again, in the new zone's days.
    with sessions.begin() as session:
        write_projection(session, final, WorkingCalendar(timezone="UTC"), REVIEW_DAYS)
    with sessions() as session:
        assert tally_zone(session) == ZoneInfo("UTC")
    assert_tallies_match_rows(sessions)


async def test_rebuild_recreates_the_same_rows_from_temporal(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    history_log: HistoryLog,
    sessions: sessionmaker[Session],
) -> None:
    async with make_worker(dev_env.client, task_queue, calendar, sessions):
        now = await dev_env.get_current_time()
        started = []
        for lead in (MARKET, HOUSING, None):
            case = await CaseUnderTest.start(dev_env, task_queue, case_input(now), history_log)
            started.append(case)
            if lead is None:
                continue
            await case.act(
                Dispatch(request_id=request_id(), actor=coordinator(), lead_department=lead)
            )
            await case.act(SignForWork(request_id=request_id(), actor=department(lead)))
        for case in started:
            await wait_until_projected(sessions, case)
        before = dump(sessions)
        assert len(before["cases"]) == 3

        with sessions.begin() as session:
            for record in (CaseEventRecord, AssignmentRecord, ReviewRecord, CaseRecord):
                session.execute(delete(record))
        assert dump(sessions)["cases"] == []

        rebuilt = await rebuild_projection(
            dev_env.client, sessions, task_queue, calendar, review_working_days=REVIEW_DAYS
        )
    assert rebuilt == 3
    assert dump(sessions) == before
