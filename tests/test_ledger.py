"""Tamper evidence: the hash chain over each case's events, on SQLite and on PostgreSQL.

Rows are written through the projection writer, tampered with in SQL behind its back, and the
verifier must name the case and the first event that no longer holds; `gridloop
rebuild-projection` must then put the chain right from Temporal.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from temporalio.testing import WorkflowEnvironment

from domain.calendar import WorkingCalendar
from domain.messages import CaseEvent
from domain.model import Actor, ReviewTrigger
from domain.projection import project
from domain.state import CaseState, Review
from gridloop.rebuild import rebuild_projection
from gridloop.settings import Settings
from store.db import make_engine
from store.ledger import (
    GENESIS_HASH,
    BreakReason,
    LedgerBreak,
    canonical_event,
    chain_hash,
    record_hash,
    verify_ledger,
)
from store.models import CaseEventRecord, CaseRecord, ReviewRecord
from store.projection import PreviousEventMissing, write_projection
from tests.api_driver import AUDITOR, COORDINATOR, GRID_WORKER, MARKET
from tests.conftest import _seeded, fresh_database, running_api
from tests.histories import HistoryLog
from tests.support import SHANGHAI, case_input, coordinator, department

REVIEW_DAYS = Settings().review_working_days
BIN = Path(sys.executable).parent


# ---- building cases without a workflow --------------------------------------------------------


def a_case(case_no: str, events: int = 6) -> CaseState:
    """A reported case with `events` events in all, whose data exercise the encoding: Chinese
    text, floats with and without a fraction, a large float, booleans, null, lists, and times
    in Shanghai time with and without microseconds."""
    start = datetime(2026, 3, 2, 9, 0, 0, 123456, tzinfo=SHANGHAI)
    state = CaseState.open(case_input(start, case_no=case_no), sampled_for_review=False)
    for n in range(2, events + 1):
        add_event(
            state,
            start + timedelta(hours=n, microseconds=0 if n % 2 else 654321 - start.microsecond),
            coordinator() if n % 2 else department(MARKET),
            note=f"第{n}步：占道经营已处置 ✓",
            hours=2.0,
            ratio=n / 10,
            big=1e20,
            count=n,
            passed=n % 2 == 0,
            nothing=None,
            departments=["乙", "a", "甲"],
        )
    return state


def add_event(state: CaseState, at: datetime, actor: Actor, **data: Any) -> None:
    state.events.append(
        CaseEvent(sequence=len(state.events) + 1, type="noted", at=at, actor=actor, data=data)
    )


def write(
    sessions: sessionmaker[Session],
    state: CaseState,
    calendar: WorkingCalendar,
    after_sequence: int = 0,
) -> None:
    with sessions.begin() as session:
        write_projection(session, project(state, after_sequence), calendar, REVIEW_DAYS)


def event_rows(sessions: sessionmaker[Session], case_no: str) -> list[dict[str, Any]]:
    columns = CaseEventRecord.__table__.columns
    with sessions() as session:
        return [
            {c.key: getattr(row, c.key) for c in columns}
            for row in session.scalars(
                select(CaseEventRecord)
                .where(CaseEventRecord.case_no == case_no)
                .order_by(CaseEventRecord.sequence)
            )
        ]


def verify(sessions: sessionmaker[Session], case_no: str | None = None) -> Any:
    with sessions() as session:
        return verify_ledger(session, case_no, batch_size=4)  # small: batches cross cases


# ---- the encoding -----------------------------------------------------------------------------


def test_the_canonical_encoding_is_fixed_and_ignores_representation() -> None:
    fields: dict[str, Any] = {
        "case_no": "GL-1",
        "sequence": 2,
        "type": "dispatched",
        "at": datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI),
        "actor_user_id": "zhihuishi-01",
        "actor_role": "coordinator",
        "actor_department": None,
        "data": {"z": 2.0, "a": ["甲", 0.5], "b": True},
    }
    assert (
        canonical_event(**fields)
        == (
            '{"actor":{"department":null,"role":"coordinator","user_id":"zhihuishi-01"},'
            '"at":"2026-03-02T01:00:00.000000+00:00","case_no":"GL-1",'
            '"data":{"a":["甲",0.5],"b":true,"z":2},"sequence":2,"type":"dispatched"}'
        ).encode()
    )
    # The same event as a database gives it back: UTC, keys in another order, 2.0 as 2.
    same = fields | {
        "at": datetime(2026, 3, 2, 1, 0, tzinfo=UTC),
        "data": {"b": True, "a": ["甲", 0.5], "z": 2},
    }
    assert canonical_event(**same) == canonical_event(**fields)
    assert canonical_event(**fields | {"data": {"z": 2.0, "a": ["甲", 0.5], "b": 1}}) != (
        canonical_event(**fields)
    )
    digest = chain_hash(GENESIS_HASH, canonical_event(**fields))
    assert len(digest) == 64
    assert digest != chain_hash("1" * 64, canonical_event(**fields))
    with pytest.raises(ValueError, match="aware"):
        canonical_event(**fields | {"at": datetime(2026, 3, 2, 9, 0)})  # noqa: DTZ001


# ---- written through the projection ---------------------------------------------------------


def test_events_written_by_the_projection_form_an_intact_chain(
    sessions: sessionmaker[Session], calendar: WorkingCalendar
) -> None:
    first, second = a_case("LEDGER-A", events=7), a_case("LEDGER-B", events=3)
    # One case in three projections, as the workflow writes it; the other in one go.
    write(sessions, first.model_copy(update={"events": first.events[:2]}), calendar)
    write(sessions, first.model_copy(update={"events": first.events[:5]}), calendar, 2)
    write(sessions, first, calendar, 5)
    write(sessions, second, calendar)

    rows = event_rows(sessions, "LEDGER-A")
    assert [r["sequence"] for r in rows] == list(range(1, 8))
    assert rows[0]["prev_hash"] == GENESIS_HASH
    for previous, row in pairwise(rows):
        assert row["prev_hash"] == previous["hash"]
    report = verify(sessions)
    assert (report.intact, report.cases_checked, report.events_checked) == (True, 2, 10)
    assert report.breaks == []

    # Written step by step or at once, the chain is the same: it depends on the events only.
    with sessions.begin() as session:
        session.execute(delete(CaseEventRecord).where(CaseEventRecord.case_no == "LEDGER-A"))
    write(sessions, first, calendar)
    assert event_rows(sessions, "LEDGER-A") == rows

    # Replaying projections, whole or partial, changes nothing.
    write(sessions, first, calendar)
    write(sessions, first, calendar, 4)
    assert event_rows(sessions, "LEDGER-A") == rows
    assert verify(sessions).intact


def test_an_event_whose_predecessor_is_missing_is_refused(
    sessions: sessionmaker[Session], calendar: WorkingCalendar
) -> None:
    state = a_case("LEDGER-GAP", events=5)
    write(sessions, state.model_copy(update={"events": state.events[:2]}), calendar)
    with pytest.raises(PreviousEventMissing, match="event 3 is not in the read model"):
        write(sessions, state, calendar, 3)  # events 4 and 5 only: 3 was never written
    # The whole transaction rolled back: nothing half-written.
    assert [r["sequence"] for r in event_rows(sessions, "LEDGER-GAP")] == [1, 2]
    with sessions() as session:
        case_row = session.get(CaseRecord, "LEDGER-GAP")
        assert case_row is not None
        assert case_row.last_event_sequence == 2
    # The retry that carries event 3 goes through.
    write(sessions, state, calendar, 2)
    assert verify(sessions).intact


def test_a_review_gets_its_deadline_in_working_days(
    sessions: sessionmaker[Session], calendar: WorkingCalendar
) -> None:
    opened = datetime(2026, 3, 6, 16, 0, tzinfo=SHANGHAI)
    reviewed = a_case("LEDGER-REVIEW", events=2)
    reviewed.review = Review(triggers=(ReviewTrigger.SAMPLING,), opened_at=opened)
    uncovered = a_case("LEDGER-FAR", events=2)  # a year no holiday table covers
    uncovered.review = Review(
        triggers=(ReviewTrigger.SAMPLING,), opened_at=datetime(2099, 3, 6, tzinfo=SHANGHAI)
    )
    write(sessions, reviewed, calendar)
    write(sessions, uncovered, calendar)
    with sessions() as session:
        due = {r.case_no: r.due_at for r in session.scalars(select(ReviewRecord))}
    assert due["LEDGER-REVIEW"] == calendar.add_working_days(opened, REVIEW_DAYS)
    assert due["LEDGER-FAR"] is None


# ---- tampering --------------------------------------------------------------------------------


@pytest.fixture
def two_cases(sessions: sessionmaker[Session], calendar: WorkingCalendar) -> None:
    for case_no in ("LEDGER-A", "LEDGER-B"):
        write(sessions, a_case(case_no, events=6), calendar)
    assert verify(sessions).intact


def only_break(sessions: sessionmaker[Session]) -> LedgerBreak:
    report = verify(sessions)
    assert (report.intact, report.cases_checked) == (False, 2)
    (found,) = report.breaks
    return found


def where(case_no: str, sequence: int) -> Any:
    return (CaseEventRecord.case_no == case_no) & (CaseEventRecord.sequence == sequence)


@pytest.mark.usefixtures("two_cases")
def test_an_edited_row_is_detected(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.execute(
            update(CaseEventRecord).where(where("LEDGER-B", 3)).values(data={"note": "改过了"})
        )
    found = only_break(sessions)
    assert (found.case_no, found.sequence, found.reason) == (
        "LEDGER-B",
        3,
        BreakReason.HASH_MISMATCH,
    )
    assert verify(sessions, "LEDGER-A").intact


@pytest.mark.usefixtures("two_cases")
def test_an_edit_in_plain_sql_to_a_column_outside_data_is_detected(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        session.execute(
            text(
                "UPDATE case_events SET actor_user_id = 'someone-else' "
                "WHERE case_no = 'LEDGER-A' AND sequence = 1"
            )
        )
    found = only_break(sessions)
    assert (found.case_no, found.sequence, found.reason) == (
        "LEDGER-A",
        1,
        BreakReason.HASH_MISMATCH,
    )


@pytest.mark.usefixtures("two_cases")
def test_an_edited_row_whose_hash_was_recomputed_breaks_the_next_link(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        row = session.scalars(select(CaseEventRecord).where(where("LEDGER-A", 4))).one()
        row.data = {"note": "改过了"}
        assert row.prev_hash is not None
        row.hash = record_hash(row.prev_hash, row)
    found = only_break(sessions)
    assert (found.case_no, found.sequence, found.reason) == (
        "LEDGER-A",
        5,
        BreakReason.PREV_HASH_MISMATCH,
    )


@pytest.mark.usefixtures("two_cases")
def test_a_deleted_middle_row_is_detected(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.execute(delete(CaseEventRecord).where(where("LEDGER-A", 3)))
    found = only_break(sessions)
    assert (found.case_no, found.sequence, found.reason) == (
        "LEDGER-A",
        3,
        BreakReason.SEQUENCE_GAP,
    )


@pytest.mark.usefixtures("two_cases")
def test_a_deleted_middle_row_with_the_rest_renumbered_is_detected(
    sessions: sessionmaker[Session],
) -> None:
    with sessions.begin() as session:
        session.execute(delete(CaseEventRecord).where(where("LEDGER-A", 3)))
        for sequence in (4, 5, 6):
            session.execute(
                update(CaseEventRecord)
                .where(where("LEDGER-A", sequence))
                .values(sequence=sequence - 1)
            )
        session.execute(
            update(CaseRecord).where(CaseRecord.case_no == "LEDGER-A").values(last_event_sequence=5)
        )
    found = only_break(sessions)
    assert (found.case_no, found.sequence, found.reason) == (
        "LEDGER-A",
        3,
        BreakReason.PREV_HASH_MISMATCH,
    )


@pytest.mark.usefixtures("two_cases")
def test_a_deleted_last_row_is_detected(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.execute(delete(CaseEventRecord).where(where("LEDGER-B", 6)))
    found = only_break(sessions)
    assert (found.case_no, found.sequence, found.reason) == (
        "LEDGER-B",
        6,
        BreakReason.TRUNCATED,
    )


@pytest.mark.usefixtures("two_cases")
def test_an_appended_row_is_detected(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        last = session.scalars(select(CaseEventRecord).where(where("LEDGER-B", 6))).one()
        forged = CaseEventRecord(
            case_no="LEDGER-B",
            sequence=7,
            type="archived",
            at=last.at,
            actor_user_id="system",
            actor_role="system",
            actor_department=None,
            data={},
            prev_hash=last.hash,
        )
        assert last.hash is not None
        forged.hash = record_hash(last.hash, forged)
        session.add(forged)
    found = only_break(sessions)
    assert (found.case_no, found.sequence, found.reason) == (
        "LEDGER-B",
        7,
        BreakReason.BEYOND_LAST_EVENT,
    )


@pytest.mark.usefixtures("two_cases")
def test_unsealed_rows_are_reported_and_stay_unsealed_until_rebuilt(
    sessions: sessionmaker[Session], calendar: WorkingCalendar
) -> None:
    # As a database migrated to 0005 holds the rows written before it.
    with sessions.begin() as session:
        session.execute(
            update(CaseEventRecord)
            .where(CaseEventRecord.case_no == "LEDGER-A")
            .values(prev_hash=None, hash=None)
        )
    found = only_break(sessions)
    assert (found.case_no, found.sequence, found.reason) == (
        "LEDGER-A",
        1,
        BreakReason.MISSING_HASH,
    )
    # A new event after unsealed ones is not chained to rows nobody vouched for.
    state = a_case("LEDGER-A", events=6)
    add_event(state, datetime(2026, 3, 3, tzinfo=UTC), coordinator(), note="后续")
    write(sessions, state, calendar, 6)
    assert event_rows(sessions, "LEDGER-A")[-1]["hash"] is None
    assert only_break(sessions).reason is BreakReason.MISSING_HASH


@pytest.mark.usefixtures("two_cases")
def test_one_case_can_be_checked_alone(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        session.execute(delete(CaseEventRecord).where(where("LEDGER-A", 2)))
    alone = verify(sessions, "LEDGER-B")
    assert (alone.intact, alone.cases_checked, alone.events_checked) == (True, 1, 6)
    assert verify(sessions, "LEDGER-A").breaks[0].sequence == 2
    assert verify(sessions, "NO-SUCH-CASE").cases_checked == 0


# ---- the command ------------------------------------------------------------------------------


def verify_ledger_command(
    database: str, tmp_path: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "GRIDLOOP_DATABASE_URL": database,
        "GRIDLOOP_DATA_DIR": str(tmp_path),
        "GRIDLOOP_LOG_FORMAT": "console",
    }
    return subprocess.run(
        [str(BIN / "gridloop"), "verify-ledger", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.usefixtures("two_cases")
def test_the_command_exits_1_on_a_break_and_names_it(database: str, tmp_path: Path) -> None:
    intact = verify_ledger_command(database, tmp_path)
    assert intact.returncode == 0, intact.stderr
    assert "checked 2 cases, 12 events" in intact.stdout

    engine = make_engine(database)
    with engine.begin() as connection:
        connection.execute(delete(CaseEventRecord).where(where("LEDGER-B", 4)))
    engine.dispose()
    broken = verify_ledger_command(database, tmp_path)
    assert broken.returncode == 1, broken.stderr
    assert "BROKEN LEDGER-B at event 4: sequence_gap" in broken.stdout
    assert "LEDGER-A" not in broken.stdout
    assert "1 broken case;" in broken.stdout

    one = verify_ledger_command(database, tmp_path, "--case", "LEDGER-A")
    assert (one.returncode, "checked 1 case, 6 events" in one.stdout) == (0, True)
    unknown = verify_ledger_command(database, tmp_path, "--case", "NO-SUCH-CASE")
    assert unknown.returncode == 2
    assert "no case 'NO-SUCH-CASE'" in unknown.stderr


# ---- end to end: the worker writes, someone tampers, the API tells, a rebuild repairs -----------


@pytest.fixture(params=["sqlite", "postgresql"])
def county(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """The demo county in a database of this test's own: it is tampered with."""
    with fresh_database(request.param, tmp_path / "county") as url:
        sessions = _seeded(url)
        yield sessions
        sessions.kw["bind"].dispose()


async def test_tampering_is_reported_over_the_api_and_a_rebuild_repairs_it(
    dev_env: WorkflowEnvironment,
    task_queue: str,
    calendar: WorkingCalendar,
    county: sessionmaker[Session],
    tmp_path: Path,
    history_log: HistoryLog,
) -> None:
    async with running_api(dev_env, task_queue, calendar, county, tmp_path, history_log) as api:
        handled = (await api.report(GRID_WORKER))["case_no"]
        await api.act(COORDINATOR, handled, "dispatch", {"lead_department": MARKET})
        await api.act(MARKET, handled, "sign", {})
        reported = (await api.report(GRID_WORKER))["case_no"]
        await api.act(COORDINATOR, reported, "dispatch", {"lead_department": MARKET})
        for case_no in (handled, reported):
            await api.wait_projected(case_no)

        whole = await api.call("GET", "/api/v1/audit/ledger", AUDITOR)
        assert whole.status_code == 200, whole.text
        assert whole.json() | {"events_checked": None} == {
            "intact": True,
            "cases_checked": 2,
            "events_checked": None,
            "broken_cases": 0,
            "breaks": [],
        }
        chain = (await api.call("GET", f"/api/v1/cases/{handled}/ledger", COORDINATOR)).json()
        assert (chain["intact"], chain["first_break"]) == (True, None)
        events = chain["events"]
        assert len(events) >= 3
        assert events[0]["prev_hash"] == GENESIS_HASH
        assert all(e["prev_hash"] == p["hash"] for p, e in pairwise(events))

        # Not for departments, even on a case they work on, nor for grid workers.
        for user, path in [
            (MARKET, "/api/v1/audit/ledger"),
            (MARKET, f"/api/v1/cases/{handled}/ledger"),
            (GRID_WORKER, f"/api/v1/cases/{handled}/ledger"),
        ]:
            refused = await api.call("GET", path, user)
            assert refused.status_code == 403, (user, path, refused.text)
            assert refused.json()["error"]["type"] == "forbidden"
        missing = await api.call("GET", "/api/v1/cases/GL-NOSUCHCASE/ledger", AUDITOR)
        assert missing.status_code == 404

        # Behind the application's back: one event's data edited, the other case's last event
        # deleted.
        with county() as session:
            last = session.scalar(
                select(CaseRecord.last_event_sequence).where(CaseRecord.case_no == reported)
            )
            original = session.scalars(select(CaseEventRecord).where(where(handled, 2))).one().data
        with county.begin() as session:
            session.execute(
                update(CaseEventRecord)
                .where(where(handled, 2))
                .values(data={"lead_department": "health"})
            )
            session.execute(delete(CaseEventRecord).where(where(reported, last)))

        whole = (await api.call("GET", "/api/v1/audit/ledger", AUDITOR)).json()
        assert (whole["intact"], whole["broken_cases"]) == (False, 2)
        breaks = {b["case_no"]: (b["sequence"], b["reason"]) for b in whole["breaks"]}
        assert breaks == {handled: (2, "hash_mismatch"), reported: (last, "truncated")}
        chain = (await api.call("GET", f"/api/v1/cases/{handled}/ledger", AUDITOR)).json()
        assert chain["intact"] is False
        assert chain["first_break"]["sequence"] == 2
        assert chain["first_break"]["reason"] == "hash_mismatch"

        rebuilt = await rebuild_projection(
            dev_env.client, county, task_queue, calendar, review_working_days=REVIEW_DAYS
        )
        assert rebuilt == 2

        whole = (await api.call("GET", "/api/v1/audit/ledger", AUDITOR)).json()
        assert (whole["intact"], whole["cases_checked"], whole["breaks"]) == (True, 2, [])
        with county() as session:
            restored = session.scalars(select(CaseEventRecord).where(where(handled, 2))).one()
            assert restored.data == original
            assert (
                session.scalar(select(CaseEventRecord.sequence).where(where(reported, last)))
                == last
            )
