"""Governance KPIs over a small hand-made read model, on SQLite and on PostgreSQL.

Every expected figure below is counted by hand from the fixture tables in this docstring (the
arithmetic is in the comments), never by re-running the query's logic.

Period: March 2025 in Beijing time, [2025-03-01 00:00+08:00, 2025-04-01 00:00+08:00).

Cases (grid_aN lie in town_a, grid_bN in town_b; "-" = NULL; closed = closed_at set;
late = breached; rh = rehandling_rounds, rc = recurrences):

case grid    category        lead        reporter    reported      closed late rating       rh rc
C1   grid_a1 road_occupation enforcement gw_li       = start (UTC) 03-03  no   satisfied     0  0
C2   grid_a1 road_occupation enforcement gw_li       03-03         03-12  yes  basically_s.  0  0
C3   grid_a2 illegal_parking enforcement gw_wang     03-05         03-25  no   dissatisfied  1  0
C4   grid_a2 environment     market      gw_wang     03-10         -      yes  -             0  0
C5   grid_b1 road_occupation enforcement gw_zhao     03-04         03-28  no   satisfied     0  1
C6   grid_b1 environment     market      gw_zhao     03-06         -      yes  satisfied     0  1
C7   grid_b1 environment     market      resident_r1 03-12         04-03  no   -             0  0
C8   grid_b2 illegal_parking -           resident_r1 end - 1 s     -      no   -             0  0
C9   grid_a3 road_occupation enforcement gw_li       02-27         03-20  no   satisfied     1  0
C10  grid_b2 environment     market      gw_zhao     = end         -      no   -             0  0

(basically_s. = basically_satisfied.)

C9 (before start) and C10 (at end) are outside the case population. C5 recurred and was closed
again; C6 recurred and is re-opened (closed_at cleared); C7 was closed after the period ended.

Assignments (sign: ok = signed in time, late = signed after sign_overdue_at, missed = overdue
and unsigned, - = neither; done: ok = completed without overdue_at, late = completed with it):

id   case round department  state         assigned    sign   done        working hours
A1   C1   1     enforcement completed     03-01       ok     ok          4
A2   C2   1     enforcement completed     03-03       late   late        19
A3   C3   1     enforcement completed     03-05       ok     ok          11
A4   C3   2     enforcement completed     03-09       ok     ok          6
A5   C3   1     fire        returned      03-05       -      -           -
A6   C4   1     market      handling      03-11       late   - (overdue) 50 (stray, ignored)
A7   C4   1     enforcement withdrawn     03-10       late   -           -
A8   C5   1     enforcement completed     03-04       ok     ok          - (not computed)
A9   C5   2     enforcement completed     03-18       ok     ok          19
A10  C6   1     market      completed     03-06       ok     ok          11
A11  C6   2     market      awaiting_sign 03-20       missed -           -
A12  C7   1     market      completed     03-28       ok     ok (04-01)  12
A13  C9   2     enforcement completed     03-02       ok     ok          10
A14  C9   1     enforcement completed     start - 1 s ok     ok          7
A15  C4   1     housing     awaiting_sign = end       -      -           -

A7 (withdrawn), A14 (before start) and A15 (at end) are outside the assignment population, which
is therefore A1-A6 and A8-A13: 12 assignments. A13 is in it although its case C9 is not.
"""

from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from store.models import AssignmentRecord, CaseRecord, ReadModelSetting
from store.stats import Grouping, KpiRow, kpis
from store.tallies import recount

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = datetime(2025, 3, 1, tzinfo=SHANGHAI)
END = datetime(2025, 4, 1, tzinfo=SHANGHAI)
SECOND = timedelta(seconds=1)


def march(day: int, hour: int = 9) -> datetime:
    return datetime(2025, 3, day, hour, tzinfo=SHANGHAI)


def april(day: int, hour: int = 9) -> datetime:
    return datetime(2025, 4, day, hour, tzinfo=SHANGHAI)


def case_row(
    case_no: str,
    town: str,
    grid: str,
    category: str,
    lead: str | None,
    reporter: str,
    reported_at: datetime,
    *,
    closed_at: datetime | None = None,
    breached: bool = False,
    rating: str | None = None,
    rehandling_rounds: int = 0,
    recurrences: int = 0,
) -> CaseRecord:
    return CaseRecord(
        case_no=case_no,
        lookup_code=None,
        reported_by=reporter,
        category=category,
        urgency="normal",
        grid=grid,
        town=town,
        source="grid_patrol",
        description=f"case {case_no}",
        address="Jiashan",
        reporter_name=None,
        reporter_phone=None,
        stage="follow_up" if closed_at else "handle",
        status="follow_up_scheduled" if closed_at else "handling",
        tier="grid",
        lead_department=lead,
        suspended=False,
        overdue=False,
        breached=breached,
        reported_at=reported_at,
        closed_at=closed_at,
        archived_at=None,
        rating=rating,
        rounds=1 + rehandling_rounds + recurrences,
        rehandling_rounds=rehandling_rounds,
        recurrences=recurrences,
        returns=0,
        review_triggers=[],
        last_event_sequence=1,
        updated_at=reported_at,
    )


def assignment_row(
    assignment_id: str,
    case_no: str,
    department: str,
    state: str,
    assigned_at: datetime,
    *,
    round_: int = 1,
    role: str = "lead",
    sign: Literal["ok", "late", "missed", "-"] = "ok",
    completed_at: datetime | None = None,
    late: bool = False,
    hours: float | None = None,
) -> AssignmentRecord:
    sign_due_at, due_at = assigned_at + timedelta(hours=4), assigned_at + timedelta(days=5)
    signed_at = {
        "ok": assigned_at + timedelta(hours=1),
        "late": assigned_at + timedelta(hours=6),
    }.get(sign)
    return AssignmentRecord(
        assignment_id=assignment_id,
        case_no=case_no,
        round=round_,
        department=department,
        role=role,
        state=state,
        assigned_at=assigned_at,
        sign_due_at=sign_due_at,
        due_at=due_at,
        signed_at=signed_at,
        completed_at=completed_at,
        returned_at=assigned_at + timedelta(hours=2) if state == "returned" else None,
        withdrawn_at=assigned_at + timedelta(days=1) if state == "withdrawn" else None,
        sign_overdue_at=sign_due_at if sign in ("late", "missed") else None,
        overdue_at=due_at if late else None,
        handling_working_seconds=None if hours is None else hours * 3600,
        extension_days=0,
        urge_count=0,
        supervision_tier=None,
    )


# fmt: off
def cases() -> list[CaseRecord]:
    return [
        # C1 is reported exactly at START, written in UTC: 2025-02-28 16:00Z = 03-01 00:00+08.
        case_row("C1", "town_a", "grid_a1", "road_occupation", "enforcement", "gw_li",
                 datetime(2025, 2, 28, 16, tzinfo=UTC), closed_at=march(3, 17),
                 rating="satisfied"),
        case_row("C2", "town_a", "grid_a1", "road_occupation", "enforcement", "gw_li", march(3),
                 closed_at=march(12, 17), breached=True, rating="basically_satisfied"),
        case_row("C3", "town_a", "grid_a2", "illegal_parking", "enforcement", "gw_wang", march(5),
                 closed_at=march(25, 17), rating="dissatisfied", rehandling_rounds=1),
        case_row("C4", "town_a", "grid_a2", "environment", "market", "gw_wang", march(10),
                 breached=True),
        case_row("C5", "town_b", "grid_b1", "road_occupation", "enforcement", "gw_zhao", march(4),
                 closed_at=march(28, 17), rating="satisfied", recurrences=1),
        case_row("C6", "town_b", "grid_b1", "environment", "market", "gw_zhao", march(6),
                 breached=True, rating="satisfied", recurrences=1),
        case_row("C7", "town_b", "grid_b1", "environment", "market", "resident_r1", march(12),
                 closed_at=april(3, 17)),
        case_row("C8", "town_b", "grid_b2", "illegal_parking", None, "resident_r1", END - SECOND),
        case_row("C9", "town_a", "grid_a3", "road_occupation", "enforcement", "gw_li",
                 datetime(2025, 2, 27, 9, tzinfo=SHANGHAI), closed_at=march(20, 17),
                 rating="satisfied", rehandling_rounds=1),
        case_row("C10", "town_b", "grid_b2", "environment", "market", "gw_zhao", END),
    ]


def assignments() -> list[AssignmentRecord]:
    return [
        assignment_row("A1", "C1", "enforcement", "completed", march(1, 10),
                       completed_at=march(2, 10), hours=4),
        assignment_row("A2", "C2", "enforcement", "completed", march(3, 10), sign="late",
                       completed_at=march(10, 10), late=True, hours=19),
        assignment_row("A3", "C3", "enforcement", "completed", march(5, 10),
                       completed_at=march(7, 10), hours=11),
        assignment_row("A4", "C3", "enforcement", "completed", march(9, 10), round_=2,
                       completed_at=march(11, 10), hours=6),
        assignment_row("A5", "C3", "fire", "returned", march(5, 10), role="co_handler", sign="-"),
        # A6 carries a working time although not completed (the projection never writes one):
        # it must not enter the average.
        assignment_row("A6", "C4", "market", "handling", march(11, 10), sign="late", late=True,
                       hours=50),
        assignment_row("A7", "C4", "enforcement", "withdrawn", march(10, 10), sign="late"),
        assignment_row("A8", "C5", "enforcement", "completed", march(4, 10),
                       completed_at=march(6, 10), hours=None),
        assignment_row("A9", "C5", "enforcement", "completed", march(18, 10), round_=2,
                       completed_at=march(20, 10), hours=19),
        assignment_row("A10", "C6", "market", "completed", march(6, 10),
                       completed_at=march(8, 10), hours=11),
        assignment_row("A11", "C6", "market", "awaiting_sign", march(20, 10), round_=2,
                       sign="missed"),
        assignment_row("A12", "C7", "market", "completed", march(28, 10),
                       completed_at=april(1, 10), hours=12),
        assignment_row("A13", "C9", "enforcement", "completed", march(2, 10), round_=2,
                       completed_at=march(4, 10), hours=10),
        # A14 is assigned one second before START.
        assignment_row("A14", "C9", "enforcement", "completed", START - SECOND,
                       completed_at=march(1, 16), hours=7),
        assignment_row("A15", "C4", "housing", "awaiting_sign", END, role="co_handler", sign="-"),
    ]
# fmt: on


@pytest.fixture(params=["from rows", "from tallies"])
def county(
    request: pytest.FixtureRequest, sessions: sessionmaker[Session]
) -> sessionmaker[Session]:
    """The tables above; their whole days counted from the rows, or from the daily tallies (as
    the projection keeps them, counted here in one go)."""
    with sessions.begin() as session:
        # Fresh objects for every database: the rows are the same, the instances are not shared.
        session.add_all(cases())
        session.flush()
        session.add_all(assignments())
        if request.param == "from tallies":
            recount(session, SHANGHAI)
    return sessions


def kpi(
    key: str | None,
    cases: tuple[int, int, int, int, int, int, int],
    assignments: tuple[int, int, int, int, int, int],
    avg_handling_hours: float | None,
) -> KpiRow:
    """cases = (reported, closed, closed_on_time, rated, satisfied, rehandled, recurred);
    assignments = (assignments, sign_settled, signed_on_time, returned, completed,
    completed_on_time)."""
    reported, closed, closed_on_time, rated, satisfied, rehandled, recurred = cases
    count, sign_settled, signed_on_time, returned, completed, completed_on_time = assignments
    return KpiRow(
        key=key,
        reported=reported,
        closed=closed,
        closed_on_time=closed_on_time,
        rated=rated,
        satisfied=satisfied,
        rehandled=rehandled,
        recurred=recurred,
        assignments=count,
        sign_settled=sign_settled,
        signed_on_time=signed_on_time,
        returned=returned,
        completed=completed,
        completed_on_time=completed_on_time,
        avg_handling_hours=avg_handling_hours,
    )


ZERO_CASES = (0, 0, 0, 0, 0, 0, 0)
ZERO_ASSIGNMENTS = (0, 0, 0, 0, 0, 0)

TOTAL = KpiRow(
    key=None,
    reported=8,  # C1-C8 (C9 before start, C10 at end)
    closed=5,  # C1 C2 C3 C5 C7 (C7 closed after the period still counts)
    closed_on_time=4,  # C1 C3 C5 C7 (C2 breached)
    rated=5,  # C1 C2 C3 C5 C6
    satisfied=4,  # C1 C2 C5 C6 (satisfied or basically); C3 dissatisfied
    rehandled=1,  # C3 (C9 is out of the period)
    recurred=1,  # C5 (C6 recurred too, but is re-opened: not closed)
    assignments=12,  # A1-A6, A8-A13 (A7 withdrawn, A14 before start, A15 at end)
    sign_settled=11,  # the 12 but A5 (returned unsigned, never overdue)
    signed_on_time=8,  # 11 settled - late A2, A6 - missed A11 = 8
    returned=1,  # A5
    completed=9,  # A1 A2 A3 A4 A8 A9 A10 A12 A13
    completed_on_time=8,  # 9 - A2 (overdue)
    avg_handling_hours=11.5,  # A1 4 + A2 19 + A3 11 + A4 6 + A9 19 + A10 11 + A12 12 + A13 10
    # = 92 h over 8 (A8 has no working time) = 11.5
)

EXPECTED: dict[Grouping, list[KpiRow]] = {
    Grouping.NONE: [TOTAL],
    Grouping.DEPARTMENT: [
        # enforcement leads C1 C2 C3 C5: closed all 4, on time C1 C3 C5 = 3 (C2 breached),
        # rated 4, satisfied C1 C2 C5 = 3, rehandled C3 = 1, recurred C5 = 1.
        # Its assignments A1 A2 A3 A4 A8 A9 A13 = 7 (A7 withdrawn, A14 before start):
        # settled 7, in time 7 - A2 = 6, returned 0, completed 7, on time 7 - A2 = 6,
        # hours A1 4 + A2 19 + A3 11 + A4 6 + A9 19 + A13 10 = 69 over 6 = 11.5 (A8 none).
        kpi("enforcement", (4, 4, 3, 4, 3, 1, 1), (7, 7, 6, 0, 7, 6), 11.5),
        # fire leads no case; A5 is its only assignment: returned before signing.
        kpi("fire", ZERO_CASES, (1, 0, 0, 1, 0, 0), None),
        # market leads C4 C6 C7: closed C7 = 1, on time 1, rated C6 = 1, satisfied C6 = 1,
        # rehandled 0, recurred 0 (C6 re-opened). Assignments A6 A10 A11 A12 = 4: settled 4, in time
        # A10 A12 = 2 (A6 late, A11 missed), completed A10 A12 = 2, both on time,
        # hours (A10 11 + A12 12) / 2 = 11.5. C8 (no lead) and housing's A15 (at end) absent.
        kpi("market", (3, 1, 1, 1, 1, 0, 0), (4, 4, 2, 0, 2, 2), 11.5),
    ],
    Grouping.TOWN: [
        # town_a: C1-C4; closed C1 C2 C3 = 3, on time C1 C3 = 2, rated C1 C2 C3 = 3,
        # satisfied C1 C2 = 2, rehandled C3 = 1, recurred 0.
        # Assignments A1 A2 A3 A4 A5 A6 A13 = 7 (A13 via C9): settled 7 - A5 = 6,
        # in time A1 A3 A4 A13 = 4, returned A5 = 1, completed A1 A2 A3 A4 A13 = 5,
        # on time 5 - A2 = 4, hours (4 + 19 + 11 + 6 + 10) / 5 = 50 / 5 = 10.
        kpi("town_a", (4, 3, 2, 3, 2, 1, 0), (7, 6, 4, 1, 5, 4), 10.0),
        # town_b: C5-C8; closed C5 C7 = 2, on time 2, rated C5 C6 = 2, satisfied 2,
        # rehandled 0, recurred C5 = 1 (C6 open). Assignments A8 A9 A10 A11 A12 = 5: settled 5,
        # in time 5 - A11 = 4, completed A8 A9 A10 A12 = 4, on time 4,
        # hours (A9 19 + A10 11 + A12 12) / 3 = 42 / 3 = 14.
        kpi("town_b", (4, 2, 2, 2, 2, 0, 1), (5, 5, 4, 0, 4, 4), 14.0),
    ],
    Grouping.GRID: [
        # grid_a1: C1 C2 both closed, on time C1 = 1, both rated and satisfied.
        # A1 A2: settled 2, in time A1 = 1, completed 2, on time A1 = 1, (4 + 19) / 2 = 11.5.
        kpi("grid_a1", (2, 2, 1, 2, 2, 0, 0), (2, 2, 1, 0, 2, 1), 11.5),
        # grid_a2: C3 C4; closed C3 = 1 on time, rated C3 (dissatisfied), rehandled C3.
        # A3 A4 A5 A6 = 4: settled 3 (not A5), in time A3 A4 = 2, returned A5 = 1,
        # completed A3 A4 = 2, on time 2, (11 + 6) / 2 = 8.5.
        kpi("grid_a2", (2, 1, 1, 1, 0, 1, 0), (4, 3, 2, 1, 2, 2), 8.5),
        # grid_a3: its case C9 is before start; A13 alone: signed and completed on time, 10 h.
        kpi("grid_a3", ZERO_CASES, (1, 1, 1, 0, 1, 1), 10.0),
        # grid_b1: C5 C6 C7; closed C5 C7 = 2, on time 2, rated C5 C6 = 2, satisfied 2,
        # recurred C5 = 1 (C6 open). A8-A12 = 5: settled 5, in time 4 (A11 missed), completed
        # A8 A9 A10 A12 = 4, on time 4, (19 + 11 + 12) / 3 = 14.
        kpi("grid_b1", (3, 2, 2, 2, 2, 0, 1), (5, 5, 4, 0, 4, 4), 14.0),
        # grid_b2: C8 reported, nothing else (C10 at end is out); no assignments.
        kpi("grid_b2", (1, 0, 0, 0, 0, 0, 0), ZERO_ASSIGNMENTS, None),
    ],
    Grouping.CATEGORY: [
        # environment: C4 C6 C7; closed C7 = 1 on time, rated C6 = 1 satisfied,
        # recurred 0 (C6 open). A6 A10 A11 A12 = 4: settled 4, in time A10 A12 = 2,
        # completed 2 on time, (11 + 12) / 2 = 11.5.
        kpi("environment", (3, 1, 1, 1, 1, 0, 0), (4, 4, 2, 0, 2, 2), 11.5),
        # illegal_parking: C3 C8; closed C3 = 1 on time, rated 1, satisfied 0, rehandled 1.
        # A3 A4 A5 = 3: settled 2, in time 2, returned A5 = 1, completed 2 on time, 8.5.
        kpi("illegal_parking", (2, 1, 1, 1, 0, 1, 0), (3, 2, 2, 1, 2, 2), 8.5),
        # road_occupation: C1 C2 C5 all closed, on time C1 C5 = 2, all rated and satisfied,
        # recurred C5 = 1. A1 A2 A8 A9 A13 = 5: settled 5, in time 5 - A2 = 4,
        # completed 5, on time 4, (4 + 19 + 19 + 10) / 4 = 52 / 4 = 13 (A8 none).
        kpi("road_occupation", (3, 3, 2, 3, 3, 0, 1), (5, 5, 4, 0, 5, 4), 13.0),
    ],
    Grouping.GRID_WORKER: [
        # gw_li: C1 C2 (C9 before start); closed 2, on time C1 = 1, rated and satisfied 2.
        # A1 A2 A13 = 3: settled 3, in time A1 A13 = 2, completed 3, on time 2,
        # (4 + 19 + 10) / 3 = 33 / 3 = 11.
        kpi("gw_li", (2, 2, 1, 2, 2, 0, 0), (3, 3, 2, 0, 3, 2), 11.0),
        # gw_wang: C3 C4; closed C3 = 1 on time, rated 1, satisfied 0, rehandled 1.
        # A3 A4 A5 A6 = 4: settled 3, in time 2, returned 1, completed 2 on time, 8.5.
        kpi("gw_wang", (2, 1, 1, 1, 0, 1, 0), (4, 3, 2, 1, 2, 2), 8.5),
        # gw_zhao: C5 C6 (C10 at end); closed C5 = 1 on time, rated and satisfied C5 C6 = 2,
        # recurred C5 = 1 (C6 open). A8 A9 A10 A11 = 4: settled 4, in time 3, completed
        # A8 A9 A10 = 3 on time, (19 + 11) / 2 = 15 (A8 none).
        kpi("gw_zhao", (2, 1, 1, 2, 2, 0, 1), (4, 4, 3, 0, 3, 3), 15.0),
        # resident_r1: C7 C8; closed C7 = 1 on time, unrated. A12 = 1: in time, on time, 12 h.
        kpi("resident_r1", (2, 1, 1, 0, 0, 0, 0), (1, 1, 1, 0, 1, 1), 12.0),
    ],
}


@pytest.mark.parametrize("group_by", list(Grouping))
def test_each_cut_matches_the_hand_count(county: sessionmaker[Session], group_by: Grouping) -> None:
    with county() as session:
        assert kpis(session, START, END, group_by) == EXPECTED[group_by]


def test_the_rates_of_the_whole_county() -> None:
    rates = TOTAL.model_dump(exclude=set(KpiRow.model_fields))
    assert rates == {
        "closure_rate": 0.625,  # 5 closed / 8 reported
        "on_time_closure_rate": 0.8,  # 4 / 5 closed
        "satisfaction_rate": 0.8,  # 4 satisfied / 5 rated
        "rehandling_rate": 0.2,  # 1 / 5 closed
        "recurrence_rate": 0.2,  # C5 / 5 closed
        "timely_sign_rate": 8 / 11,  # 8 in time / 11 settled
        "return_rate": 1 / 12,  # 1 returned / 12 assignments
        "on_time_completion_rate": 8 / 9,  # 8 on time / 9 completed
    }


def test_a_rate_without_a_denominator_is_none() -> None:
    fire = EXPECTED[Grouping.DEPARTMENT][1]
    assert fire.key == "fire"
    assert fire.closure_rate is None  # no case reported
    assert fire.on_time_closure_rate is None
    assert fire.satisfaction_rate is None
    assert fire.rehandling_rate is None
    assert fire.recurrence_rate is None
    assert fire.timely_sign_rate is None  # A5 was never signed nor overdue
    assert fire.return_rate == 1.0  # 1 returned / 1 assignment
    assert fire.on_time_completion_rate is None


def test_a_period_starts_at_its_start_and_stops_before_its_end(
    county: sessionmaker[Session],
) -> None:
    april_ = (END, datetime(2025, 5, 1, tzinfo=SHANGHAI))
    with county() as session:
        total = kpis(session, *april_, Grouping.NONE)
        departments = kpis(session, *april_, Grouping.DEPARTMENT)
        towns = kpis(session, *april_, Grouping.TOWN)
        # The same March, written in UTC: the same figures.
        in_utc = kpis(session, START.astimezone(UTC), END.astimezone(UTC), Grouping.NONE)
    # April holds C10 (reported at END, open) and A15 (assigned at END, unsigned).
    assert total == [kpi(None, (1, 0, 0, 0, 0, 0, 0), (1, 0, 0, 0, 0, 0), None)]
    assert total[0].closure_rate == 0.0  # 0 closed / 1 reported: zero, not None
    assert total[0].on_time_closure_rate is None  # nothing closed
    assert total[0].return_rate == 0.0  # 0 / 1 assignment
    assert departments == [
        kpi("housing", ZERO_CASES, (1, 0, 0, 0, 0, 0), None),  # A15 only
        kpi("market", (1, 0, 0, 0, 0, 0, 0), ZERO_ASSIGNMENTS, None),  # C10 only
    ]
    assert towns == [
        kpi("town_a", ZERO_CASES, (1, 0, 0, 0, 0, 0), None),  # A15, through its case C4
        kpi("town_b", (1, 0, 0, 0, 0, 0, 0), ZERO_ASSIGNMENTS, None),  # C10
    ]
    assert in_utc == [TOTAL]


@pytest.mark.parametrize("group_by", list(Grouping))
def test_an_empty_period(county: sessionmaker[Session], group_by: Grouping) -> None:
    with county() as session:
        rows = kpis(
            session,
            datetime(2024, 1, 1, tzinfo=SHANGHAI),
            datetime(2024, 2, 1, tzinfo=SHANGHAI),
            group_by,
        )
    if group_by is Grouping.NONE:
        assert rows == [kpi(None, ZERO_CASES, ZERO_ASSIGNMENTS, None)]
        rates = rows[0].model_dump(exclude=set(KpiRow.model_fields))
        assert len(rates) == 8
        assert set(rates.values()) == {None}  # every denominator is 0
    else:
        assert rows == []


def test_an_empty_database_still_has_a_total(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        assert kpis(session, START, END, Grouping.NONE) == [
            kpi(None, ZERO_CASES, ZERO_ASSIGNMENTS, None)
        ]
        assert kpis(session, START, END, Grouping.TOWN) == []


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (START.replace(tzinfo=None), END, "start must be timezone-aware"),
        (START, END.replace(tzinfo=None), "end must be timezone-aware"),
        (START, START, "end must be after start"),
        (END, START, "end must be after start"),
    ],
    ids=["naive-start", "naive-end", "empty", "reversed"],
)
def test_a_period_must_be_aware_and_forward(
    sessions: sessionmaker[Session], start: datetime, end: datetime, message: str
) -> None:
    with sessions() as session, pytest.raises(ValueError, match=message):
        kpis(session, start, end, Grouping.NONE)


# hypothesis takes naive bounds and makes the drawn moments aware with `timezones`.
MOMENTS = st.datetimes(
    min_value=datetime(2025, 2, 25),  # noqa: DTZ001
    max_value=datetime(2025, 4, 5),  # noqa: DTZ001
    timezones=st.just(SHANGHAI),
)


@given(start=MOMENTS, length=st.timedeltas(min_value=SECOND, max_value=timedelta(days=40)))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@pytest.mark.parametrize("group_by", [Grouping.NONE, Grouping.DEPARTMENT, Grouping.GRID])
def test_any_period_counts_the_same_from_tallies_and_from_rows(
    sessions: sessionmaker[Session], group_by: Grouping, start: datetime, length: timedelta
) -> None:
    """Periods that start and end mid-day take their partial days from the rows and the rest
    from the tallies; the sum must be what the rows alone give."""
    with sessions.begin() as session:
        if session.get(ReadModelSetting, "tally_zone") is None:  # once per database
            session.add_all(cases())
            session.flush()
            session.add_all(assignments())
            recount(session, SHANGHAI)
    with sessions() as session:
        with_tallies = kpis(session, start, start + length, group_by)
        # Without the zone setting the tallies are not used (as before they were ever counted).
        session.delete(session.get(ReadModelSetting, "tally_zone"))
        session.flush()
        from_rows = kpis(session, start, start + length, group_by)
        session.rollback()
    assert with_tallies == from_rows
