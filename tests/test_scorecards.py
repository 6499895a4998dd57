"""Scorecards over a small hand-made read model, on SQLite and on PostgreSQL; the assessment
report (.xlsx and CSV) cell by cell; the API and the console page.

Every expected figure is counted by hand from the tables in this docstring (the arithmetic is
in the comments), with the default weights and penalties of domain.scoring.

Period: March 2025 in Beijing time, [2025-03-01 00:00+08:00, 2025-04-01 00:00+08:00).

Departments (codes of the demo county): enforcement = comprehensive_enforcement, market =
market_supervision, fire = fire_rescue, housing = housing_construction, water = water_resources.

Grid workers (users with the grid-worker role): gw_li 李娜, gw_wang 王强, gw_zhao 赵敏,
gw_zhao2 赵敏 (the same display name), gw_sun 孙丽, gw_old 钱旧 (inactive). Also a coordinator
`coord`, and a resident `resident_r1` who is no user.

Cases (late = breached, rh = rehandling_rounds, rc = recurrences):

case lead        reporter    reported  closed  late rating         rh rc
K1   enforcement gw_li       03-02     03-06   no   satisfied       0  0
K2   enforcement gw_li       03-03     03-20   yes  basically_s.    1  0
K3   enforcement gw_wang     03-05     -       no   -               0  0
K4   market      gw_wang     03-06     03-25   no   satisfied       0  1
K5   market      resident_r1 03-07     03-15   no   -               0  0
K6   market      gw_zhao     03-08     03-12   no   satisfied       0  0
K7   market      gw_li       02-20     02-28   no   satisfied       0  0   (before the period)
K8   -           gw_sun      03-09     03-09   no   satisfied       0  0   (resolved on the spot)

Assignments (sign: ok in time, late after the deadline, missed = overdue and unsigned, - =
neither; done: ok = completed without going overdue, late = completed overdue):

id   case department  state      assigned  sign    done   working hours
A1   K1   enforcement completed  03-02     ok      ok     10
A2   K2   enforcement completed  03-03     late    late   30
A3   K2   enforcement completed  03-12     ok      ok     8    (round 2)
A4   K3   market      returned   03-05     -       -      -
A5   K3   enforcement handling   03-06     ok      -      -
A6   K4   market      completed  03-06     ok      ok     6
A7   K4   market      completed  03-18     ok      ok     10   (round 2, the recurrence)
A8   K5   market      completed  03-07     late    ok     14
A9   K6   market      completed  03-08     ok      ok     10
A10  K6   fire        handling   03-08     missed  -      -    (co-handler)

Post-hoc reviews (recorded = when the findings were recorded):

case recorded        outcome          deduction departments          people
K2   03-25           score_deduction  3         enforcement          gw_li
K4   03-26           notice (通报)    0         market, enforcement  王强, gw_wang
K5   03-27           interview (约谈) 0         market               赵敏
K6   03-28           score_deduction  2         housing              coord
K1   03-10           none             0         enforcement          李娜
K8   = end (04-01)   score_deduction  5         market               gw_sun    (next period)
K7   - (open)        -                0         -                    -
"""

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI
from openpyxl import load_workbook
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from domain.model import ReviewOutcome
from domain.scoring import ScorecardKind, ScoreKpi, ScoringRules
from gridloop import assessment
from gridloop.assessment import Period
from gridloop.http import create_app
from gridloop.settings import Settings
from store.models import DepartmentRecord, ReviewRecord, UserRecord
from store.scorecards import ReviewTally, Scorecard, scorecards
from store.stats import Grouping, kpis
from tests.api_driver import AUDITOR, COORDINATOR, GRID_WORKER, MARKET
from tests.conftest import api_settings
from tests.console_driver import Console
from tests.test_stats import END, SHANGHAI, START, assignment_row, case_row, march

ENFORCEMENT, FIRE = "comprehensive_enforcement", "fire_rescue"
HOUSING, WATER = "housing_construction", "water_resources"
DEPARTMENTS = {
    ENFORCEMENT: "县综合行政执法局",
    MARKET: "县市场监管局",
    FIRE: "县消防救援大队",
    HOUSING: "县住建局",
    WATER: "县水利局",
}
GRID_WORKERS = {
    "gw_li": ("李娜", True),
    "gw_wang": ("王强", True),
    "gw_zhao": ("赵敏", True),
    "gw_zhao2": ("赵敏", True),
    "gw_sun": ("孙丽", True),
    "gw_old": ("钱旧", False),
}
DEFAULTS = Settings()
DEPARTMENT_RULES = DEFAULTS.scoring_rules(ScorecardKind.DEPARTMENT)
GRID_WORKER_RULES = DEFAULTS.scoring_rules(ScorecardKind.GRID_WORKER)


def user(username: str, display_name: str, role: str, *, active: bool = True) -> UserRecord:
    return UserRecord(
        username=username,
        display_name=display_name,
        role=role,
        department_code=None,
        grid_codes=["luoxing_xinzhou_g01"] if role == "grid_worker" else [],
        password_hash="not-a-password",
        active=active,
    )


def review(
    case_no: str,
    recorded_at: datetime | None,
    outcome: ReviewOutcome | None,
    departments: list[str],
    people: list[str],
    deduction: float = 0.0,
) -> ReviewRecord:
    return ReviewRecord(
        case_no=case_no,
        triggers=["sampling"],
        opened_at=march(1),
        due_at=None,
        recorded_at=recorded_at,
        outcome=None if outcome is None else outcome.value,
        root_cause="倒查" if outcome else None,
        responsible_departments=departments,
        responsible_people=people,
        score_deduction=deduction,
        notes="",
    )


# fmt: off
def activity() -> list[list[Any]]:
    """The cases, then their assignments and reviews (written in that order, for the keys)."""
    li, wang, zhao, sun = "gw_li", "gw_wang", "gw_zhao", "gw_sun"
    town, grid = "luoxing", "luoxing_xinzhou_g01"
    feb = datetime(2025, 2, 20, 9, tzinfo=SHANGHAI)
    cases = [
        case_row("K1", town, grid, "occupy_road_business", ENFORCEMENT, li, march(2),
                 closed_at=march(6), rating="satisfied"),
        case_row("K2", town, grid, "occupy_road_business", ENFORCEMENT, li, march(3),
                 closed_at=march(20), breached=True, rating="basically_satisfied",
                 rehandling_rounds=1),
        case_row("K3", town, grid, "occupy_road_business", ENFORCEMENT, wang, march(5)),
        case_row("K4", town, grid, "food_safety", MARKET, wang, march(6), closed_at=march(25),
                 rating="satisfied", recurrences=1),
        case_row("K5", town, grid, "food_safety", MARKET, "resident_r1", march(7),
                 closed_at=march(15)),
        case_row("K6", town, grid, "food_safety", MARKET, zhao, march(8), closed_at=march(12),
                 rating="satisfied"),
        case_row("K7", town, grid, "food_safety", MARKET, li, feb,
                 closed_at=datetime(2025, 2, 28, 9, tzinfo=SHANGHAI), rating="satisfied"),
        case_row("K8", town, grid, "public_health", None, sun, march(9),
                 closed_at=march(9).replace(hour=15), rating="satisfied"),
    ]
    assignments = [
        assignment_row("A1", "K1", ENFORCEMENT, "completed", march(2), completed_at=march(4),
                       hours=10),
        assignment_row("A2", "K2", ENFORCEMENT, "completed", march(3), sign="late",
                       completed_at=march(10), late=True, hours=30),
        assignment_row("A3", "K2", ENFORCEMENT, "completed", march(12), round_=2,
                       completed_at=march(14), hours=8),
        assignment_row("A4", "K3", MARKET, "returned", march(5), sign="-"),
        assignment_row("A5", "K3", ENFORCEMENT, "handling", march(6)),
        assignment_row("A6", "K4", MARKET, "completed", march(6), completed_at=march(8),
                       hours=6),
        assignment_row("A7", "K4", MARKET, "completed", march(18), round_=2,
                       completed_at=march(20), hours=10),
        assignment_row("A8", "K5", MARKET, "completed", march(7), sign="late",
                       completed_at=march(9), hours=14),
        assignment_row("A9", "K6", MARKET, "completed", march(8), completed_at=march(10),
                       hours=10),
        assignment_row("A10", "K6", FIRE, "handling", march(8), role="co_handler",
                       sign="missed"),
    ]
    reviews = [
        review("K2", march(25), ReviewOutcome.SCORE_DEDUCTION, [ENFORCEMENT], [li], 3),
        review("K4", march(26), ReviewOutcome.NOTICE, [MARKET, ENFORCEMENT], ["王强", wang]),
        review("K5", march(27), ReviewOutcome.INTERVIEW, [MARKET], ["赵敏"]),
        review("K6", march(28), ReviewOutcome.SCORE_DEDUCTION, [HOUSING], ["coord"], 2),
        review("K1", march(10), ReviewOutcome.NONE, [ENFORCEMENT], ["李娜"]),
        review("K8", END, ReviewOutcome.SCORE_DEDUCTION, [MARKET], [sun], 5),
        review("K7", None, None, [], []),
    ]
    return [cases, assignments, reviews]


def people() -> list[UserRecord]:
    return [
        *(user(name, display, "grid_worker", active=on)
          for name, (display, on) in GRID_WORKERS.items()),
        user("coord", "指挥员", "coordinator"),
    ]
# fmt: on


def write_activity(sessions: sessionmaker[Session]) -> None:
    for rows in activity():
        with sessions.begin() as session:
            session.add_all(rows)


@pytest.fixture
def county(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """The fixture on an empty database (SQLite and PostgreSQL), with its own reference rows."""
    with sessions.begin() as session:
        session.add_all(
            DepartmentRecord(code=code, name=name, name_en=code, tier="county")
            for code, name in DEPARTMENTS.items()
        )
        session.add_all(people())
    write_activity(sessions)
    return sessions


def tally(
    reviews: int = 0,
    no_action: int = 0,
    notices: int = 0,
    interviews: int = 0,
    deductions: int = 0,
    points: float = 0.0,
) -> ReviewTally:
    return ReviewTally(
        reviews=reviews,
        no_action=no_action,
        notices=notices,
        interviews=interviews,
        deductions=deductions,
        points_deducted=points,
    )


def summary(card: Scorecard) -> tuple[Any, ...]:
    """rank, key, kpi_score, penalty, score: what the ranking is made of."""
    return card.rank, card.key, card.kpi_score, card.penalty, card.score


# ---- the departments ---------------------------------------------------------------------

DEPARTMENT_RANKING = [
    # market: closure 3/3, on time 3/3, sign-for 3/4 (A6 A7 A9 of settled A6-A9; A4 returned
    # unsigned is unsettled), satisfaction 2/2 (K4 K6; K5 unrated), returns 1/5 → 4/5,
    # re-handling 0/3 → 1, recurrence 1/3 (K4) → 2/3, on-time completion 4/4, handling
    # (6 + 10 + 14 + 10) / 4 = 10 h ≤ 15 → 1. Weight × attainment in 2400ths (the weights sum
    # to 1): closure 0.10 = 240, on time 0.15 = 360, sign-for 0.15×3/4 = 270, satisfaction
    # 0.20 = 480, returns 0.05×4/5 = 96, re-handling 0.05 = 120, recurrence 0.05×2/3 = 80,
    # completion 0.15 = 360, handling 0.10 = 240; sum 2246 → 93.5833 → 93.58.
    # Penalty 通报 2 + 约谈 5 = 7 (K8's deduction is recorded at END: April's).
    # Score 93.5833 − 7 = 86.5833 → 86.58.
    (1, MARKET, 93.58, 7.0, 86.58),
    # enforcement: closure 2/3 (K1 K2 of K1-K3), on time 1/2 (K2 breached), sign-for 3/4
    # (A2 late of A1 A2 A3 A5), satisfaction 2/2, returns 0/4 → 1, re-handling 1/2 (K2) → 1/2,
    # recurrence 0/2 → 1, on-time completion 2/3 (A2 overdue of A1-A3), handling
    # (10 + 30 + 8) / 3 = 16 h > 15 → 15/16. In 480ths: 0.10×2/3 = 32, 0.15×1/2 = 36,
    # 0.15×3/4 = 54, 0.20 = 96, 0.05 = 24, 0.05×1/2 = 12, 0.05 = 24, 0.15×2/3 = 48,
    # 0.10×15/16 = 45; sum 371 → 77.2917 → 77.29. Penalty 通报 2; deducted 3 (K2).
    # Score 77.2917 − 2 − 3 = 72.2917 → 72.29.
    (2, ENFORCEMENT, 77.29, 2.0, 72.29),
    # fire leads nothing; A10 alone: sign-for 0/1 (missed), returns 0/1 → 1; nothing completed.
    # 100 × (0.15×0 + 0.05×1) / (0.15 + 0.05) = 25.
    (3, FIRE, 25.0, 0.0, 25.0),
    # housing has no figures, only K6's review (a deduction of 2): no score, no rank.
    (None, HOUSING, None, 0.0, None),
    # water has nothing at all, and is listed all the same: every department is assessed.
    (None, WATER, None, 0.0, None),
]


def test_departments_are_scored_and_ranked_by_hand(county: sessionmaker[Session]) -> None:
    with county() as session:
        cards = scorecards(session, START, END, ScorecardKind.DEPARTMENT, DEPARTMENT_RULES)
        by_department = {row.key: row for row in kpis(session, START, END, Grouping.DEPARTMENT)}
    assert [summary(card) for card in cards] == DEPARTMENT_RANKING
    cards_of = {card.key: card for card in cards}
    assert {key: card.name for key, card in cards_of.items()} == DEPARTMENTS
    # The KPIs are store.stats' own rows, and those are the hand counts of the docstring.
    for key in (MARKET, ENFORCEMENT, FIRE):
        assert cards_of[key].kpis == by_department[key]
    market, enforcement, fire = (
        cards_of[MARKET].kpis,
        cards_of[ENFORCEMENT].kpis,
        cards_of[FIRE].kpis,
    )
    # (reported, closed, closed on time, rated, satisfied, rehandled, recurred)
    assert (market.reported, market.closed, market.closed_on_time, market.rated) == (3, 3, 3, 2)
    assert (market.satisfied, market.rehandled, market.recurred) == (2, 0, 1)
    assert (enforcement.reported, enforcement.closed, enforcement.closed_on_time) == (3, 2, 1)
    assert (enforcement.rehandled, enforcement.recurred) == (1, 0)
    # (assignments, settled, signed on time, returned, completed, completed on time)
    assert (market.assignments, market.sign_settled, market.signed_on_time) == (5, 4, 3)
    assert (market.returned, market.completed, market.completed_on_time) == (1, 4, 4)
    assert (enforcement.assignments, enforcement.signed_on_time, enforcement.completed) == (4, 3, 3)
    assert (market.avg_handling_hours, enforcement.avg_handling_hours) == (10.0, 16.0)
    assert (fire.reported, fire.assignments, fire.sign_settled, fire.signed_on_time) == (0, 1, 1, 0)
    assert cards_of[WATER].kpis.assignments == 0
    assert cards_of[WATER].kpis.avg_handling_hours is None

    # Reviews recorded in March; K8's (at END) and K7's (open) are not.
    assert cards_of[ENFORCEMENT].reviews == tally(3, no_action=1, notices=1, deductions=1, points=3)
    assert cards_of[MARKET].reviews == tally(2, notices=1, interviews=1)
    assert cards_of[HOUSING].reviews == tally(1, deductions=1, points=2)
    assert cards_of[FIRE].reviews == tally()
    assert cards_of[WATER].reviews == tally()


# ---- the grid workers --------------------------------------------------------------------

GRID_WORKER_RANKING = [
    # gw_sun: K8, closed on the spot and rated 满意: every weighted KPI at 1 → 100.
    # gw_zhao: K6, the same → 100; K5's 约谈 names 赵敏, a name gw_zhao2 shares: nobody's.
    # Equal scores share a rank; the next rank is 3.
    (1, "gw_sun", 100.0, 0.0, 100.0),
    (1, "gw_zhao", 100.0, 0.0, 100.0),
    # gw_li: K1 K2 (K7 is February's): closure 2/2, on time 1/2, satisfaction 2/2,
    # re-handling 1/2 → 1/2, recurrence 0/2 → 1: 0.25 + 0.20×1/2 + 0.30 + 0.10×1/2 + 0.15
    # = 0.85 → 85. K2's deduction of 3 names gw_li; K1's 不予追责 names 李娜 (their unique
    # display name) and costs nothing. Score 85 − 3 = 82.
    (3, "gw_li", 85.0, 0.0, 82.0),
    # gw_wang: K3 K4: closure 1/2, on time 1/1, satisfaction 1/1, re-handling 0/1 → 1,
    # recurrence 1/1 (K4) → 0: 0.25×1/2 + 0.20 + 0.30 + 0.10 + 0 = 0.725 → 72.5. K4's 通报
    # names 王强 and gw_wang, both them: one review, penalty 2. Score 70.5.
    (4, "gw_wang", 72.5, 2.0, 70.5),
    # gw_zhao2 reported nothing: listed (active), not scored. gw_old is inactive and idle: not
    # listed; resident_r1 and coord are not grid workers.
    (None, "gw_zhao2", None, 0.0, None),
]


def test_grid_workers_are_scored_and_ranked_by_hand(county: sessionmaker[Session]) -> None:
    with county() as session:
        cards = scorecards(session, START, END, ScorecardKind.GRID_WORKER, GRID_WORKER_RULES)
        by_reporter = {row.key: row for row in kpis(session, START, END, Grouping.GRID_WORKER)}
    assert [summary(card) for card in cards] == GRID_WORKER_RANKING
    cards_of = {card.key: card for card in cards}
    assert cards_of["gw_li"].name == "李娜"
    assert cards_of["gw_zhao2"].name == "赵敏"
    for key in ("gw_sun", "gw_zhao", "gw_li", "gw_wang"):
        assert cards_of[key].kpis == by_reporter[key]
    li, wang = cards_of["gw_li"].kpis, cards_of["gw_wang"].kpis
    assert (li.reported, li.closed, li.closed_on_time) == (2, 2, 1)
    assert (li.rated, li.satisfied, li.rehandled, li.recurred) == (2, 2, 1, 0)
    assert (wang.reported, wang.closed, wang.rated, wang.recurred) == (2, 1, 1, 1)
    # The departments' work on gw_li's cases (A1 A2 A3) is in the figures, not in the score.
    assert (li.assignments, li.signed_on_time, li.avg_handling_hours) == (3, 2, 16.0)
    assert cards_of["gw_li"].reviews == tally(2, no_action=1, deductions=1, points=3)
    assert cards_of["gw_wang"].reviews == tally(1, notices=1)
    assert cards_of["gw_zhao"].reviews == tally()
    assert cards_of["gw_zhao2"].reviews == tally()


def test_the_weights_and_penalties_are_the_settings(
    county: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDLOOP_SCORECARD_DEPARTMENT_WEIGHTS", '{"satisfaction_rate": 1}')
    monkeypatch.setenv("GRIDLOOP_SCORECARD_PENALTIES", '{"notice": 10}')
    rules = Settings().scoring_rules(ScorecardKind.DEPARTMENT)
    assert rules.weights == {ScoreKpi.SATISFACTION_RATE: 1.0}
    assert rules.penalties == {ReviewOutcome.NOTICE: 10.0}
    with county() as session:
        cards = scorecards(session, START, END, ScorecardKind.DEPARTMENT, rules)
    assert [summary(card) for card in cards] == [
        # market: satisfaction 2/2 → 100; 通报 10, 约谈 now free: 90.
        (1, MARKET, 100.0, 10.0, 90.0),
        # enforcement: satisfaction 2/2 → 100; 通报 10, deducted 3: 87.
        (2, ENFORCEMENT, 100.0, 10.0, 87.0),
        # fire has no rated case: its only weighted KPI has no data.
        (None, FIRE, None, 0.0, None),
        (None, HOUSING, None, 0.0, None),
        (None, WATER, None, 0.0, None),
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GRIDLOOP_SCORECARD_DEPARTMENT_WEIGHTS", '{"satisfaction_rate": -1}'),
        ("GRIDLOOP_SCORECARD_DEPARTMENT_WEIGHTS", '{"happiness": 1}'),
        ("GRIDLOOP_SCORECARD_GRID_WORKER_WEIGHTS", '{"closure_rate": 0}'),
        ("GRIDLOOP_SCORECARD_GRID_WORKER_WEIGHTS", "{}"),
        ("GRIDLOOP_SCORECARD_PENALTIES", '{"notice": -2}'),
        ("GRIDLOOP_SCORECARD_PENALTIES", '{"warning": 2}'),
        ("GRIDLOOP_SCORECARD_HANDLING_HOURS", "0"),
    ],
)
def test_weights_that_cannot_score_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        Settings()


def test_the_attainment_of_each_kind_of_kpi() -> None:
    rules = ScoringRules(weights={ScoreKpi.CLOSURE_RATE: 1}, penalties={}, handling_hours_target=15)
    assert rules.attainment(ScoreKpi.CLOSURE_RATE, 0.8) == 0.8  # higher is better
    assert rules.attainment(ScoreKpi.RETURN_RATE, 0.25) == 0.75  # lower is better
    assert rules.attainment(ScoreKpi.AVG_HANDLING_HOURS, 10) == 1.0  # within the target
    assert rules.attainment(ScoreKpi.AVG_HANDLING_HOURS, 30) == 0.5  # 15 / 30
    assert rules.attainment(ScoreKpi.AVG_HANDLING_HOURS, 0) == 1.0
    assert rules.kpi_score({ScoreKpi.CLOSURE_RATE: None}) is None
    assert rules.penalty({ReviewOutcome.NOTICE: 3}) == 0.0  # no penalty configured


def test_a_period_without_anything_lists_the_units_unranked(county: sessionmaker[Session]) -> None:
    with county() as session:
        departments = scorecards(
            session, *Period.month(date(2024, 1, 1)).bounds(SHANGHAI),
            ScorecardKind.DEPARTMENT, DEPARTMENT_RULES,
        )  # fmt: skip
        workers = scorecards(
            session, *Period.month(date(2024, 1, 1)).bounds(SHANGHAI),
            ScorecardKind.GRID_WORKER, GRID_WORKER_RULES,
        )  # fmt: skip
    assert [(c.key, c.rank, c.score) for c in departments] == [
        (key, None, None) for key in sorted(DEPARTMENTS)
    ]
    # The active grid workers only.
    assert [c.key for c in workers] == ["gw_li", "gw_sun", "gw_wang", "gw_zhao", "gw_zhao2"]


# ---- the assessment report ---------------------------------------------------------------

DEPARTMENT_HEADER = [
    "排名", "部门", "部门代码", "主办案件", "承办任务",
    "办结率", "按时办结率", "及时签收率", "满意率", "退单率", "重办率", "复发率", "按时办理率",
    "平均办理时长（工作小时）",
    "倒查次数", "不予追责", "通报", "约谈", "扣分处理", "倒查扣分", "处理扣分", "指标得分",
    "综合得分",
]  # fmt: skip
GRID_WORKER_HEADER = [
    "排名", "网格员", "用户名", "上报案件",
    "办结率", "按时办结率", "满意率", "重办率", "复发率",
    "倒查次数", "不予追责", "通报", "约谈", "扣分处理", "倒查扣分", "处理扣分", "指标得分",
    "综合得分",
]  # fmt: skip
MARCH = "嘉善县网格化管理月度考核表（2025年3月）"


def test_the_period_labels() -> None:
    march_ = Period.month(START.date())
    assert (march_.label(), march_.slug(), march_.last.day) == ("2025年3月", "2025-03", 31)
    first_days = Period(START.date(), march(6).date())
    assert first_days.label() == "2025年3月1日至2025年3月5日"
    assert first_days.slug() == "2025-03-01_2025-03-05"
    assert Period.month(date(2025, 12, 9)).after == date(2026, 1, 1)


@dataclass(frozen=True)
class CountyApp:
    app: FastAPI
    http: httpx.AsyncClient

    async def bearer(self, username: str) -> dict[str, str]:
        response = await self.http.post(
            "/api/v1/auth/token", data={"username": username, "password": username}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    async def get(
        self, path: str, headers: dict[str, str] | None = None, **params: str
    ) -> httpx.Response:
        return await self.http.get(path, params=params, headers=headers)

    async def console(self, username: str) -> Console:
        browser = Console(self.app, "en")
        response = await browser.sign_in(username)
        assert response.url.path != "/login"
        return browser


@pytest_asyncio.fixture
async def county_app(
    fresh_county: sessionmaker[Session], tmp_path: Path
) -> AsyncIterator[CountyApp]:
    """The whole application over the demo county and this fixture, without Temporal: the
    figures are the fixture's alone."""
    with fresh_county.begin() as session:
        session.add_all(people())
    write_activity(fresh_county)
    app = create_app(api_settings("unused", tmp_path), None, fresh_county)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gridloop.test"
    ) as http:
        yield CountyApp(app, http)


async def test_the_api_serves_auditors_and_the_command_centre_only(
    county_app: CountyApp,
) -> None:
    auditor = await county_app.bearer(AUDITOR)
    response = await county_app.get("/api/v1/scorecards", auditor, month="2025-03")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["kind"], body["title"]) == ("department", f"{MARCH}· 部门")
    assert body["start"] == "2025-03-01T00:00:00+08:00"
    assert body["end"] == "2025-04-01T00:00:00+08:00"
    assert body["rules"]["penalties"] == {
        "none": 0.0, "notice": 2.0, "interview": 5.0, "score_deduction": 0.0,
    }  # fmt: skip
    ranked = [(r["rank"], r["key"], r["kpi_score"], r["penalty"], r["score"]) for r in body["rows"]]
    # The hand-counted three first; the demo county's other 16 departments had no work.
    assert ranked[:3] == [row for row in DEPARTMENT_RANKING if row[0] is not None]
    assert len(ranked) == 19
    assert {row[0] for row in ranked[3:]} == {None}
    market = body["rows"][0]
    assert (market["name"], market["kpis"]["return_rate"]) == ("县市场监管局", 0.2)
    assert market["reviews"] == {
        "reviews": 2, "no_action": 0, "notices": 1, "interviews": 1, "deductions": 0,
        "points_deducted": 0.0,
    }  # fmt: skip

    coordinator = await county_app.bearer(COORDINATOR)
    workers = await county_app.get(
        "/api/v1/scorecards",
        coordinator,
        kind="grid_worker",
        **{"from": "2025-03-01", "to": "2025-04-01"},
    )
    assert workers.status_code == 200, workers.text
    rows = workers.json()["rows"]
    assert [(r["rank"], r["key"], r["score"]) for r in rows if r["rank"]] == [
        (rank, key, score) for rank, key, _, _, score in GRID_WORKER_RANKING if rank
    ]
    assert workers.json()["title"] == f"{MARCH}· 网格员"

    # The first five days: K1-K3 for enforcement; A4 (returned) for market.
    days = await county_app.get(
        "/api/v1/scorecards", auditor, **{"from": "2025-03-01", "to": "2025-03-06"}
    )
    assert days.json()["title"] == "嘉善县网格化管理月度考核表（2025年3月1日至2025年3月5日）· 部门"
    first_days = {r["key"]: r for r in days.json()["rows"]}
    assert first_days[ENFORCEMENT]["kpis"]["reported"] == 3
    assert first_days[MARKET]["kpis"]["assignments"] == 1

    for params in (
        {"month": "2025-13"},
        {"month": "2025-03", "from": "2025-03-01"},
        {"from": "2025-03-06", "to": "2025-03-06"},
        {"kind": "town"},
    ):
        invalid = await county_app.get("/api/v1/scorecards", auditor, **params)
        assert (invalid.status_code, invalid.json()["error"]["type"]) == (422, "validation_error")

    for refused_user in (MARKET, GRID_WORKER):
        headers = await county_app.bearer(refused_user)
        for path in ("/api/v1/scorecards", "/api/v1/scorecards.xlsx", "/api/v1/scorecards.csv"):
            refused = await county_app.get(path, headers=headers)
            assert (refused.status_code, refused.json()["error"]["type"]) == (403, "forbidden")
    assert (await county_app.get("/api/v1/scorecards")).status_code == 401


async def test_the_excel_report_cell_by_cell(county_app: CountyApp) -> None:
    auditor = await county_app.bearer(AUDITOR)
    response = await county_app.get("/api/v1/scorecards.xlsx", auditor, month="2025-03")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == assessment.XLSX_TYPE
    assert (
        'filename="gridloop-scorecards-department-2025-03.xlsx"'
        in response.headers["content-disposition"]
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    assert sheet["A1"].value == f"{MARCH}· 部门"
    assert sheet["A1"].font.bold
    assert "A1:W1" in {str(merged) for merged in sheet.merged_cells.ranges}
    assert sheet["A2"].value == "考核期间：2025-03-01 至 2025-03-31"
    assert str(sheet["A3"].value).startswith("生成时间：")
    assert [cell.value for cell in sheet[4]] == DEPARTMENT_HEADER
    assert all(cell.font.bold for cell in sheet[4])
    assert sheet.freeze_panes == "C5"
    assert sheet.column_dimensions["B"].width == 24
    market = [cell.value for cell in sheet[5]]
    assert market[:5] == [1, "县市场监管局", MARKET, 3, 5]
    # 办结率 … 按时办理率 as shares, shown as percentages; hours; the review columns.
    assert market[5:13] == [1.0, 1.0, 0.75, 1.0, 0.2, 0.0, pytest.approx(1 / 3), 1.0]
    assert market[13] == 10.0
    assert market[14:] == [2, 0, 1, 1, 0, 0.0, 7.0, 93.58, 86.58]
    assert sheet["F5"].number_format == "0.0%"
    assert sheet["N5"].number_format == "0.0"
    assert sheet["W5"].number_format == "0.00"
    enforcement = [cell.value for cell in sheet[6]]
    assert enforcement[:3] == [2, "县综合行政执法局", ENFORCEMENT]
    assert enforcement[-2:] == [77.29, 72.29]
    unranked = [cell.value for cell in sheet[8]]  # after fire, the first department without work
    assert (unranked[0], unranked[-2], unranked[-1]) == ("—", "—", "—")
    # The footer: a blank row after the 19 departments, then the formula.
    assert sheet.cell(row=4 + 19 + 1, column=1).value is None
    footer = [sheet.cell(row=row, column=1).value for row in range(25, sheet.max_row + 1)]
    assert footer[0].startswith("计分公式：综合得分 = 指标得分 − 倒查扣分 − 处理扣分")
    assert footer[1].startswith("指标权重：办结率 10%，按时办结率 15%，及时签收率 15%，满意率 20%")
    assert "处理扣分：通报每次 2 分，约谈每次 5 分" in footer[3]


async def test_the_csv_report_opens_in_excel(county_app: CountyApp) -> None:
    coordinator = await county_app.bearer(COORDINATOR)
    response = await county_app.get(
        "/api/v1/scorecards.csv", coordinator, month="2025-03", kind="grid_worker"
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.content.startswith("\ufeff".encode())  # the BOM Excel looks for
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == [f"{MARCH}· 网格员"]
    assert rows[1] == ["考核期间：2025-03-01 至 2025-03-31"]
    assert rows[2][0].startswith("生成时间：")
    assert rows[3] == GRID_WORKER_HEADER
    assert rows[4][:3] == ["1", "孙丽", "gw_sun"]
    assert rows[5][:3] == ["1", "赵敏", "gw_zhao"]
    assert rows[6] == [
        "3", "李娜", "gw_li", "2",
        "100.0%", "50.0%", "100.0%", "50.0%", "0.0%",  # 办结率 按时办结率 满意率 重办率 复发率
        "2", "1", "0", "0", "1", "3.00", "0.00", "85.00", "82.00",
    ]  # fmt: skip
    assert rows[7][:3] == ["4", "王强", "gw_wang"]
    # Then the ones without a score: the demo county's two grid workers and gw_zhao2.
    unscored = rows[8:11]
    assert [(row[0], row[2], row[-1]) for row in unscored] == [
        ("—", "gridworker", "—"), ("—", "gridworker2", "—"), ("—", "gw_zhao2", "—"),
    ]  # fmt: skip
    assert rows[11] == []
    assert rows[12][0].startswith("计分公式：")
    assert any("用户名或（不与他人重名的）姓名" in row[0] for row in rows[12:])


# ---- the console -------------------------------------------------------------------------


async def test_the_console_page_ranks_for_auditors(county_app: CountyApp) -> None:
    auditor = await county_app.console(AUDITOR)
    try:
        page = (await auditor.page("/scorecards?month=2025-03")).text
        assert '<option value="2025-03" selected>' in page
        assert 'href="/scorecards"' in page  # in the navigation
        table = page[page.index('id="scorecards"') :]
        ranked = table[: table.index("</table>")]
        order = [ranked.index(f'id="card-{key}"') for key in (MARKET, ENFORCEMENT, FIRE, WATER)]
        assert order == sorted(order)
        market_row = ranked[ranked.index(f'id="card-{MARKET}"') :]
        market_row = market_row[: market_row.index("</tr>")]
        assert "County Market Supervision Bureau" in market_row
        for figure in ("20.0%", "33.3%", "10.0", "93.58", "86.58", "7.00"):
            assert figure in market_row, figure
        assert "/scorecards/export.xlsx?kind=department&amp;month=2025-03" in page
        assert "/scorecards/export.csv?kind=department&amp;month=2025-03" in page
        assert "10.0%" in page[page.index("How the score is computed") :]  # 办结率's weight

        workers = (await auditor.page("/scorecards?kind=grid_worker&month=2025-03")).text
        assert "李娜" in workers
        assert "82.00" in workers
        assert "gw_old" not in workers

        download = await auditor.http.get("/scorecards/export.xlsx?kind=grid_worker&month=2025-03")
        assert download.status_code == 200
        sheet = load_workbook(io.BytesIO(download.content)).active
        assert sheet is not None
        assert sheet["A1"].value == f"{MARCH}· 网格员"
        assert [cell.value for cell in sheet[4]] == GRID_WORKER_HEADER
        csv_download = await auditor.http.get("/scorecards/export.csv?month=2025-03")
        assert csv_download.content.startswith("\ufeff".encode())
    finally:
        await auditor.close()

    department = await county_app.console(MARKET)
    try:
        for path in ("/scorecards", "/scorecards/export.xlsx", "/scorecards/export.csv"):
            refused = await department.http.get(path)
            assert (refused.status_code, refused.headers["location"]) == (303, "/queue")
    finally:
        await department.close()
