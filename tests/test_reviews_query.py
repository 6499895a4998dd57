"""The review search (store/reviews.py) over a small hand-made read model, on SQLite and on
PostgreSQL. Every expected answer is read off the table below, never by re-running the query.

Now is 2025-03-20 10:00 Beijing time; all times are Beijing time in 2025, deadlines at 17:30.

case town   category        description  triggers                         opened due   recorded
R1   town_a road_occupation 占道经营反复 breach                           03-03  03-17 -
R2   town_a illegal_parking 违停         repeated_returns, sampling       03-10  03-24 -
R3   town_b environment     垃圾堆放     sampling                         03-12  -     -
R4   town_b road_occupation 占道         dissatisfaction, rehandling_cap  03-01  03-14 03-05 09:00
R5   town_a environment     噪声扰民     recurrence                       02-20  03-06 03-18 15:00
R6   town_b illegal_parking 油污 a_b     breach                           03-15  03-28 03-19 10:00

Findings: outcome, root cause, responsible departments, notes
R4   notice            派单错误     market_supervision   已通报
R5   score_deduction   整改不彻底   market, a_b          扣分 100%
R6   none              无问题       axb                  -

R1 is the one overdue review: open and past its deadline. R5 was recorded after its deadline, but
a recorded review is never overdue. R3 has no deadline (the calendar had no data for it).
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.orm import Session, sessionmaker

from domain.model import ReviewOutcome, ReviewTrigger
from store.models import CaseRecord, CategoryRecord, DepartmentRecord, ReviewRecord, TownRecord
from store.reviews import (
    ReviewFilters,
    ReviewSort,
    ReviewState,
    count_reviews,
    open_trigger_counts,
    search_reviews,
    unknown_codes,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2025, month, day, hour, minute, tzinfo=SHANGHAI)


NOW = at(3, 20, 10)


def case_row(case_no: str, town: str, category: str, description: str) -> CaseRecord:
    opened = at(2, 1)
    return CaseRecord(
        case_no=case_no,
        lookup_code=None,
        reported_by="gw_li",
        category=category,
        urgency="normal",
        grid=f"{town}_g01",
        town=town,
        source="grid_patrol",
        description=description,
        address="嘉善县",
        reporter_name=None,
        reporter_phone=None,
        stage="review",
        status="awaiting_review",
        tier="grid",
        lead_department="market",
        suspended=False,
        overdue=False,
        breached=False,
        reported_at=opened,
        closed_at=opened,
        archived_at=None,
        rating=None,
        rounds=1,
        rehandling_rounds=0,
        recurrences=0,
        returns=0,
        review_triggers=[],
        last_event_sequence=1,
        updated_at=opened,
    )


def review_row(
    case_no: str,
    triggers: list[str],
    opened_at: datetime,
    due_at: datetime | None,
    recorded: tuple[datetime, str, str, list[str], str] | None = None,
) -> ReviewRecord:
    recorded_at, outcome, root_cause, departments, notes = recorded or (None, None, None, [], "")
    return ReviewRecord(
        case_no=case_no,
        triggers=triggers,
        opened_at=opened_at,
        due_at=due_at,
        recorded_at=recorded_at,
        outcome=outcome,
        root_cause=root_cause,
        responsible_departments=departments,
        responsible_people=[],
        score_deduction=2.0 if outcome == "score_deduction" else 0.0,
        notes=notes,
    )


@pytest.fixture
def reviewed(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    with sessions.begin() as session:
        session.add_all(
            [
                case_row("R1", "town_a", "road_occupation", "占道经营反复"),
                case_row("R2", "town_a", "illegal_parking", "违停"),
                case_row("R3", "town_b", "environment", "垃圾堆放"),
                case_row("R4", "town_b", "road_occupation", "占道"),
                case_row("R5", "town_a", "environment", "噪声扰民"),
                case_row("R6", "town_b", "illegal_parking", "油污 a_b"),
            ]
        )
        session.flush()
        # fmt: off
        session.add_all([
            review_row("R1", ["breach"], at(3, 3), at(3, 17, 17, 30)),
            review_row("R2", ["repeated_returns", "sampling"], at(3, 10), at(3, 24, 17, 30)),
            review_row("R3", ["sampling"], at(3, 12), None),
            review_row("R4", ["dissatisfaction", "rehandling_cap"], at(3, 1), at(3, 14, 17, 30),
                       (at(3, 5), "notice", "派单错误", ["market_supervision"], "已通报")),
            review_row("R5", ["recurrence"], at(2, 20), at(3, 6, 17, 30),
                       (at(3, 18, 15), "score_deduction", "整改不彻底", ["market", "a_b"],
                        "扣分 100%")),
            review_row("R6", ["breach"], at(3, 15), at(3, 28, 17, 30),
                       (at(3, 19, 10), "none", "无问题", ["axb"], "")),
        ])
        # fmt: on
    return sessions


def found(
    sessions: sessionmaker[Session],
    sort: ReviewSort = ReviewSort.DEADLINE,
    **filters: object,
) -> list[str]:
    with sessions() as session:
        page = search_reviews(session, ReviewFilters(**filters), now=NOW, sort=sort)
    return [entry.case_no for entry in page.entries]


def test_open_reviews_come_earliest_deadline_first_without_one_last(
    reviewed: sessionmaker[Session],
) -> None:
    assert found(reviewed, state=ReviewState.OPEN) == ["R1", "R2", "R3"]


def test_recorded_reviews_come_newest_first(reviewed: sessionmaker[Session]) -> None:
    assert found(reviewed, ReviewSort.RECORDED, state=ReviewState.DONE) == ["R6", "R5", "R4"]
    # Open reviews, which have no recording time, follow the recorded ones.
    assert found(reviewed, ReviewSort.RECORDED) == ["R6", "R5", "R4", "R1", "R2", "R3"]
    assert found(reviewed, ReviewSort.OPENED) == ["R6", "R3", "R2", "R1", "R4", "R5"]


def test_overdue_is_open_and_past_the_deadline(reviewed: sessionmaker[Session]) -> None:
    assert found(reviewed, overdue=True) == ["R1"]
    assert sorted(found(reviewed, overdue=False)) == ["R2", "R3", "R4", "R5", "R6"]
    with reviewed() as session:
        entries = search_reviews(session, ReviewFilters(), now=NOW).entries
    assert {e.case_no for e in entries if e.overdue} == {"R1"}
    # A moment later than every deadline: every open review with a deadline is overdue.
    with reviewed() as session:
        later = search_reviews(session, ReviewFilters(overdue=True), now=at(4, 1)).entries
    assert [e.case_no for e in later] == ["R1", "R2"]


def test_trigger_outcome_and_responsible_department(reviewed: sessionmaker[Session]) -> None:
    assert found(reviewed, trigger=ReviewTrigger.SAMPLING) == ["R2", "R3"]
    assert found(reviewed, trigger=ReviewTrigger.BREACH) == ["R1", "R6"]
    assert found(reviewed, trigger=ReviewTrigger.REHANDLING_CAP) == ["R4"]
    assert found(reviewed, outcome=ReviewOutcome.NOTICE) == ["R4"]
    assert found(reviewed, outcome=ReviewOutcome.INTERVIEW) == []
    # A code is matched whole: `market` is not `market_supervision`, and `_` is no wildcard.
    assert found(reviewed, department="market") == ["R5"]
    assert found(reviewed, department="market_supervision") == ["R4"]
    assert found(reviewed, department="a_b") == ["R5"]
    assert found(reviewed, department="axb") == ["R6"]


def test_text_searches_case_number_description_root_cause_and_notes(
    reviewed: sessionmaker[Session],
) -> None:
    assert found(reviewed, text="占道") == ["R4", "R1"]  # descriptions
    assert found(reviewed, text="派单") == ["R4"]  # root cause
    assert found(reviewed, text="已通报") == ["R4"]  # notes
    assert found(reviewed, text="100%") == ["R5"]  # `%` is literal
    assert found(reviewed, text="a_b") == ["R6"]  # responsible departments are not text
    assert found(reviewed, text="r3") == ["R3"]  # case number, any case
    assert found(reviewed, text="无此内容") == []


def test_date_ranges_include_their_start_and_exclude_their_end(
    reviewed: sessionmaker[Session],
) -> None:
    assert found(reviewed, opened_from=at(3, 10), opened_to=at(3, 15)) == ["R2", "R3"]
    recorded = found(
        reviewed, ReviewSort.RECORDED, recorded_from=at(3, 5), recorded_to=at(3, 19, 10)
    )
    assert recorded == ["R5", "R4"]
    assert found(reviewed, recorded_from=at(3, 19, 10)) == ["R6"]


def test_town_category_and_filters_together(reviewed: sessionmaker[Session]) -> None:
    assert found(reviewed, town="town_b") == ["R4", "R6", "R3"]
    assert found(reviewed, town="town_b", category="road_occupation") == ["R4"]
    assert found(reviewed, category="environment", state=ReviewState.DONE) == ["R5"]
    assert found(reviewed, state=ReviewState.OPEN, outcome=ReviewOutcome.NOTICE) == []


def test_pages_and_counts(reviewed: sessionmaker[Session]) -> None:
    with reviewed() as session:
        first = search_reviews(session, ReviewFilters(), now=NOW, limit=4)
        last = search_reviews(session, ReviewFilters(), now=NOW, limit=4, offset=4)
        assert count_reviews(session, ReviewFilters(state=ReviewState.OPEN), now=NOW) == 3
    assert [e.case_no for e in first.entries] == ["R5", "R4", "R1", "R2"]
    assert (first.total, first.next_offset) == (6, 4)
    assert [e.case_no for e in last.entries] == ["R6", "R3"]
    assert (last.total, last.next_offset) == (6, None)


def test_an_entry_carries_its_case_and_findings(reviewed: sessionmaker[Session]) -> None:
    with reviewed() as session:
        (entry,) = search_reviews(session, ReviewFilters(text="噪声"), now=NOW).entries
    assert (entry.case_no, entry.town, entry.category, entry.grid) == (
        "R5",
        "town_a",
        "environment",
        "town_a_g01",
    )
    assert entry.triggers == (ReviewTrigger.RECURRENCE,)
    assert entry.outcome is ReviewOutcome.SCORE_DEDUCTION
    assert (entry.score_deduction, entry.responsible_departments) == (2.0, ("market", "a_b"))
    assert entry.due_at == at(3, 6, 17, 30)
    assert entry.recorded_at == at(3, 18, 15)
    assert entry.overdue is False  # recorded late, but recorded


def test_unknown_codes_are_named(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.add(
            DepartmentRecord(code="market", name="市场监管", name_en="Market", tier="county")
        )
        session.add(TownRecord(code="town_a", name="罗星", name_en="Luoxing", kind="street"))
        session.flush()
        session.add(
            CategoryRecord(
                code="environment",
                name="环境卫生",
                name_en="Environment",
                lead_department="market",
                co_departments=[],
                follow_up_days=[],
            )
        )
    with sessions() as session:
        assert (
            unknown_codes(session, department="market", town="town_a", category="environment") == {}
        )
        assert unknown_codes(session, department="nope", town="town_b", category="environment") == {
            "department": "nope",
            "town": "town_b",
        }
        assert unknown_codes(session) == {}


def test_open_reviews_are_counted_by_trigger(reviewed: sessionmaker[Session]) -> None:
    with reviewed() as session:
        counts = open_trigger_counts(session)
    assert counts == {
        ReviewTrigger.BREACH: 1,
        ReviewTrigger.REPEATED_RETURNS: 1,
        ReviewTrigger.SAMPLING: 2,
    }
