"""`gridloop demo`: realistic cases over every stage, reported and driven the real way."""

import asyncio
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain import rules
from domain.calendar import WorkingCalendar
from domain.messages import CaseInput
from domain.model import Role, Source, Stage, Status
from domain.planning import plan
from domain.state import CaseState
from gridloop.demo_data import (
    MIX,
    Scenario,
    generate_demo_cases,
    load_reference,
    plan_cases,
    scenario_sequence,
)
from gridloop.intake import _report
from store.db import database_url, prepare_read_model
from store.models import CaseRecord, GridRecord, ReviewRecord
from store.reference import DEMO_COUNTY, load_organisation, seed_organisation
from tests.support import assert_tallies_match_rows, make_worker
from workflows.case import workflow_id

# Where each scenario leaves a case on the demo county's policies (no sampling review drawn).
ENDS = {
    Scenario.TRIAGE: (Stage.REPORT, Status.AWAITING_TRIAGE),
    Scenario.CONSULTING: (Stage.CONSULT, Status.CONSULTING),
    Scenario.REROUTING: (Stage.CONSULT, Status.AWAITING_REROUTING),
    Scenario.UNSIGNED: (Stage.HANDLE, Status.HANDLING),
    Scenario.PARTLY_SIGNED: (Stage.HANDLE, Status.HANDLING),
    Scenario.SIGNED: (Stage.HANDLE, Status.HANDLING),
    Scenario.CONSULTED: (Stage.HANDLE, Status.HANDLING),
    Scenario.EXTENSION_PENDING: (Stage.HANDLE, Status.HANDLING),
    Scenario.EXTENSION_DECIDED: (Stage.HANDLE, Status.HANDLING),
    Scenario.SUSPENDED: (Stage.HANDLE, Status.HANDLING),
    Scenario.FINAL_REPLY: (Stage.HANDLE, Status.AWAITING_FINAL_REPLY),
    Scenario.VERIFICATION: (Stage.HANDLE, Status.AWAITING_VERIFICATION),
    Scenario.FEEDBACK: (Stage.FEEDBACK, Status.AWAITING_FEEDBACK),
    Scenario.FOLLOW_UP: (Stage.FOLLOW_UP, Status.FOLLOW_UP_SCHEDULED),
    Scenario.ON_SITE_FOLLOW_UP: (Stage.FOLLOW_UP, Status.FOLLOW_UP_SCHEDULED),
    Scenario.REVIEW_RETURNS: (Stage.REVIEW, Status.AWAITING_REVIEW),
    Scenario.REVIEW_CAP: (Stage.REVIEW, Status.AWAITING_REVIEW),
    Scenario.ARCHIVED_REVIEWED: (Stage.ARCHIVED, Status.ARCHIVED),
    Scenario.ARCHIVED: (Stage.ARCHIVED, Status.ARCHIVED),
    Scenario.ON_SITE_ARCHIVED: (Stage.ARCHIVED, Status.ARCHIVED),
}


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> sessionmaker[Session]:
    """A fresh SQLite read model with the demo county and its users (argon2: a few seconds)."""
    sessions = prepare_read_model(database_url(None, Path(tmp_path_factory.mktemp("demo"))))
    with sessions.begin() as session:
        seed_organisation(session, load_organisation(DEMO_COUNTY))
    return sessions


def test_every_plan_is_legal_and_ends_where_the_mix_says(county: sessionmaker[Session]) -> None:
    """All 300 default plans, through the pure case rules: no refusal, the intended stage."""
    calendar = WorkingCalendar()
    now = datetime(2026, 3, 3, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with county() as session:
        reference = load_reference(session)
        grids = {g.code: g for g in session.scalars(select(GridRecord))}
    plans = plan_cases(reference, 300, 2026)
    for case_plan in plans:
        report = _report(
            case_plan.new_case, grids[case_plan.new_case.grid], case_plan.reporter, now
        )
        policy = case_plan.category.policies[case_plan.new_case.urgency]
        case = CaseState.open(
            CaseInput(case_no=f"T-{case_plan.index}", report=report, policy=policy),
            sampled_for_review=False,
        )
        for command in case_plan.steps:
            rules.validate(case, command, now)
            rules.apply(
                case, command, now, plan(calendar, rules.planning_needs(case, command, now))
            )
        assert (case.stage, case.status) == ENDS[case_plan.scenario], case_plan.key
        assert case.suspended == (case_plan.scenario is Scenario.SUSPENDED)

    scenarios = Counter(p.scenario for p in plans)
    for scenario, share in MIX.items():  # the mix, within a case or two
        assert abs(scenarios[scenario] - 300 * share.per_mille / 1000) <= 2, scenario
    urgencies = Counter(p.new_case.urgency.value for p in plans)
    assert urgencies.most_common(1)[0][0] == "normal"
    assert urgencies["critical"] < urgencies["normal"] / 5
    by_worker = [p for p in plans if p.reporter.role is Role.GRID_WORKER]
    assert 0.3 < len(by_worker) / len(plans) < 0.6
    assert all(p.new_case.source is Source.GRID_PATROL for p in by_worker)
    assert len({grids[p.new_case.grid].town_code for p in plans}) == 9  # every town
    actors = {c.actor.user_id for p in plans for c in p.steps}
    assert {"coordinator", "auditor", "gridworker"} <= actors
    request_ids = [c.request_id for p in plans for c in p.steps]
    assert len(request_ids) == len(set(request_ids))
    # Case i is the same case however many are asked for, so a longer run only adds.
    assert plan_cases(reference, 25, 2026) == plans[:25]
    assert set(scenario_sequence(len(MIX), 1)) == set(MIX)


async def test_demo_cases_reach_every_stage_once_only(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    county: sessionmaker[Session],
) -> None:
    count, seed = 40, 7
    async with make_worker(dev_env.client, task_queue, calendar, county):
        run = await generate_demo_cases(
            dev_env.client, county, task_queue=task_queue, case_prefix="DT", count=count, seed=seed
        )
        assert not run.failed, [o.error for o in run.failed]
        assert run.created == count
        for outcome in run.outcomes:
            assert outcome.case_no is not None
            await dev_env.client.get_workflow_handle(workflow_id(outcome.case_no)).describe()
        assert {o.stage for o in run.outcomes} == set(Stage)
        assert run.sign_deadlines, "some assignments are left to be signed"

        # The read model catches up with every case where the workflow has it.
        expected = {o.case_no: str(o.stage) for o in run.outcomes}
        for _ in range(300):
            with county() as session:
                rows = dict(session.execute(select(CaseRecord.case_no, CaseRecord.stage)).all())
            if rows == expected:
                break
            await asyncio.sleep(0.1)
        assert rows == expected
        with county() as session:
            assert set(session.scalars(select(CaseRecord.stage))) == {s.value for s in Stage}
            recorded = select(func.count()).where(ReviewRecord.recorded_at.is_not(None))
            assert session.scalar(recorded)

        again = await generate_demo_cases(
            dev_env.client, county, task_queue=task_queue, case_prefix="DT", count=count, seed=seed
        )
        assert not again.failed, [o.error for o in again.failed]
        assert again.created == 0
        assert [o.case_no for o in again.outcomes] == [o.case_no for o in run.outcomes]
        with county() as session:
            assert session.scalar(select(func.count()).select_from(CaseRecord)) == count
        assert_tallies_match_rows(county)
