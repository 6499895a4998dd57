"""Running totals beside the read model, so that the dashboard's stage counts and the KPIs read a
few hundred rows however many cases the county has.

A case contributes to the tallies through its current rows: one to its stage's count, and its
KPI counts to every cut it belongs to (the whole county, its lead department, town, grid,
category and reporter) on the local day it was reported; each of its assignments counts on the
local day the assignment was made, in its department and in the case's other cuts.
`write_projection` measures a case's contribution before and after it writes and adds the
difference. `recount` starts again from the rows: after a bulk load, a rebuild, the upgrade
that added the tallies, or a change of the county's time zone.

The counting rules live here once, in Python. store.stats adds up the tallies of the whole days
of a period and counts the rows of its partial days with the same functions.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from domain.model import AssignmentState, Rating
from store.models import AssignmentRecord, CaseRecord, DailyTally, ReadModelSetting, StageTally

CASE_COUNTS = (
    "reported",
    "closed",
    "closed_on_time",
    "rated",
    "satisfied",
    "rehandled",
    "recurred",
)
ASSIGNMENT_COUNTS = (
    "assignments",
    "sign_settled",
    "signed_on_time",
    "returned",
    "completed",
    "completed_on_time",
)
# The average handling time, kept as its numerator and denominator so that it adds up.
AVERAGE_PARTS = ("handled", "handling_seconds")
COUNTS = CASE_COUNTS + ASSIGNMENT_COUNTS + AVERAGE_PARTS

_SATISFIED = (Rating.SATISFIED.value, Rating.BASICALLY_SATISFIED.value)
_ZONE_SETTING = "tally_zone"
_BATCH = 10_000


class Grouping(StrEnum):
    """The cut: one row for everything, or one row per value of an attribute."""

    NONE = "none"
    DEPARTMENT = "department"  # cases by lead department, assignments by their department
    TOWN = "town"
    GRID = "grid"
    CATEGORY = "category"
    GRID_WORKER = "grid_worker"  # the case's reporter (cases.reported_by)


class CaseCut(Protocol):
    """The attributes of a case that its assignments are also cut by."""

    @property
    def town(self) -> str: ...
    @property
    def grid(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def reported_by(self) -> str: ...


class CaseFacts(CaseCut, Protocol):
    """What the tallies read of a case: a CaseRecord, or a row selecting these columns."""

    @property
    def stage(self) -> str: ...
    @property
    def lead_department(self) -> str | None: ...
    @property
    def reported_at(self) -> datetime: ...
    @property
    def closed_at(self) -> datetime | None: ...
    @property
    def breached(self) -> bool: ...
    @property
    def rating(self) -> str | None: ...
    @property
    def rehandling_rounds(self) -> int: ...
    @property
    def recurrences(self) -> int: ...


class AssignmentFacts(Protocol):
    """What the tallies read of an assignment: an AssignmentRecord, or a row of these columns."""

    @property
    def department(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def assigned_at(self) -> datetime: ...
    @property
    def signed_at(self) -> datetime | None: ...
    @property
    def completed_at(self) -> datetime | None: ...
    @property
    def sign_overdue_at(self) -> datetime | None: ...
    @property
    def overdue_at(self) -> datetime | None: ...
    @property
    def handling_working_seconds(self) -> float | None: ...


CASE_COLUMNS = (
    CaseRecord.stage,
    CaseRecord.lead_department,
    CaseRecord.town,
    CaseRecord.grid,
    CaseRecord.category,
    CaseRecord.reported_by,
    CaseRecord.reported_at,
    CaseRecord.closed_at,
    CaseRecord.breached,
    CaseRecord.rating,
    CaseRecord.rehandling_rounds,
    CaseRecord.recurrences,
)
ASSIGNMENT_COLUMNS = (
    AssignmentRecord.department,
    AssignmentRecord.state,
    AssignmentRecord.assigned_at,
    AssignmentRecord.signed_at,
    AssignmentRecord.completed_at,
    AssignmentRecord.sign_overdue_at,
    AssignmentRecord.overdue_at,
    AssignmentRecord.handling_working_seconds,
    CaseRecord.town,
    CaseRecord.grid,
    CaseRecord.category,
    CaseRecord.reported_by,
)
"""An assignment's columns with its case's cut: a row of these is both facts and cut."""


def case_counts(case: CaseFacts) -> Counter[str]:
    """The case population's counts (docs/kpis.md): re-handling and recurrence over closed cases,
    as their rates are, so a case in a new round counts once it closes again."""
    closed = case.closed_at is not None
    return Counter(
        {
            "reported": 1,
            "closed": closed,
            "closed_on_time": closed and not case.breached,
            "rated": case.rating is not None,
            "satisfied": case.rating in _SATISFIED,
            "rehandled": closed and case.rehandling_rounds > 0,
            "recurred": closed and case.recurrences > 0,
        }
    )


def assignment_counts(assignment: AssignmentFacts) -> Counter[str]:
    """The assignment population's counts; a withdrawn assignment counts for nothing."""
    if assignment.state == AssignmentState.WITHDRAWN.value:
        return Counter()
    signed = assignment.signed_at is not None
    sign_overdue = assignment.sign_overdue_at is not None
    completed = assignment.completed_at is not None
    seconds = assignment.handling_working_seconds
    handled = completed and seconds is not None
    return Counter(
        {
            "assignments": 1,
            "sign_settled": signed or sign_overdue,
            "signed_on_time": signed and not sign_overdue,
            "returned": assignment.state == AssignmentState.RETURNED.value,
            "completed": completed,
            "completed_on_time": completed and assignment.overdue_at is None,
            "handled": handled,
            # Whole seconds keep sums exact under the additions and subtractions of updates.
            "handling_seconds": round(seconds) if handled and seconds is not None else 0,
        }
    )


def case_keys(case: CaseFacts) -> Iterator[tuple[Grouping, str]]:
    yield Grouping.NONE, ""
    if case.lead_department is not None:
        yield Grouping.DEPARTMENT, case.lead_department
    yield from _cut_keys(case)


def assignment_keys(assignment: AssignmentFacts, case: CaseCut) -> Iterator[tuple[Grouping, str]]:
    yield Grouping.NONE, ""
    yield Grouping.DEPARTMENT, assignment.department
    yield from _cut_keys(case)


def _cut_keys(case: CaseCut) -> Iterator[tuple[Grouping, str]]:
    yield Grouping.TOWN, case.town
    yield Grouping.GRID, case.grid
    yield Grouping.CATEGORY, case.category
    yield Grouping.GRID_WORKER, case.reported_by


DayKey = tuple[Grouping, str, date]


@dataclass
class Contribution:
    """What some cases add to the tallies: counts by (cut, key, local day), and stage counts."""

    zone: ZoneInfo
    days: defaultdict[DayKey, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    stages: Counter[str] = field(default_factory=Counter)

    def add_case(self, case: CaseFacts) -> None:
        self.stages[case.stage] += 1
        counts, day = case_counts(case), self._day(case.reported_at)
        for grouping, key in case_keys(case):
            self.days[grouping, key, day].update(counts)

    def add_assignment(self, assignment: AssignmentFacts, case: CaseCut) -> None:
        counts = assignment_counts(assignment)
        if not counts:
            return
        day = self._day(assignment.assigned_at)
        for grouping, key in assignment_keys(assignment, case):
            self.days[grouping, key, day].update(counts)

    def minus(self, other: "Contribution") -> "Contribution":
        """self - other, keeping zeros and negatives (Counter's `-` would drop them)."""
        difference = Contribution(self.zone)
        for source, sign in ((self, 1), (other, -1)):
            for stage, n in source.stages.items():
                difference.stages[stage] += sign * n
            for day_key, counts in source.days.items():
                for name, n in counts.items():
                    difference.days[day_key][name] += sign * n
        return difference

    def _day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()


def tally_zone(session: Session) -> ZoneInfo | None:
    """The time zone whose days the tallies count, or None before they were first counted."""
    setting = session.get(ReadModelSetting, _ZONE_SETTING)
    return None if setting is None else ZoneInfo(setting.value)


def contribution_of(session: Session, case_no: str, zone: ZoneInfo) -> Contribution:
    """The case's contribution as its rows stand in this session (nothing if it has none)."""
    contribution = Contribution(zone)
    case = session.get(CaseRecord, case_no)
    if case is None:
        return contribution
    contribution.add_case(case)
    for assignment in session.scalars(
        select(AssignmentRecord).where(AssignmentRecord.case_no == case_no)
    ):
        contribution.add_assignment(assignment, case)
    return contribution


def record_change(session: Session, case_no: str, before: Contribution) -> None:
    """Bring the tallies in step with the case's rows, which were `before` until now."""
    if not _counted_in(session, before.zone):
        # First write since the upgrade, or the county's time zone changed: count afresh.
        recount(session, before.zone)
        return
    add(session, contribution_of(session, case_no, before.zone).minus(before))


def forget(session: Session, case_no: str, zone: ZoneInfo) -> None:
    """Take the case's contribution out, before its rows are deleted."""
    if _counted_in(session, zone):
        add(session, Contribution(zone).minus(contribution_of(session, case_no, zone)))


def _counted_in(session: Session, zone: ZoneInfo) -> bool:
    counted = tally_zone(session)
    return counted is not None and counted.key == zone.key


def add(session: Session, change: Contribution) -> None:
    """Add `change` (one case's, a few rows) to the stored tallies, atomically per row:
    concurrent writers share rows, as every case reported today adds to today's county row."""
    session.flush()
    connection = session.connection()
    dialect = connection.dialect.name
    stage_rows, day_rows = _rows(change)
    if stage_rows:
        connection.execute(_adding(dialect, StageTally, ("stage",), ("cases",)), stage_rows)
        # Rows counted down to nothing go, so the tallies stay exactly what a recount makes.
        touched_stages = [row["stage"] for row in stage_rows]
        connection.execute(
            delete(StageTally).where(StageTally.stage.in_(touched_stages), StageTally.cases == 0)
        )
    if day_rows:
        keys = ("grouping", "day", "key")
        connection.execute(_adding(dialect, DailyTally, keys, COUNTS), day_rows)
        touched = [(row["grouping"], row["day"], row["key"]) for row in day_rows]
        connection.execute(
            delete(DailyTally).where(
                tuple_(DailyTally.grouping, DailyTally.day, DailyTally.key).in_(touched),
                *(getattr(DailyTally, name) == 0 for name in COUNTS),
            )
        )


def _rows(change: Contribution) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rows to write, in key order: writers that lock rows in one order never deadlock."""
    stage_rows = [{"stage": stage, "cases": n} for stage, n in sorted(change.stages.items()) if n]
    day_rows = [
        {"grouping": grouping.value, "key": key, "day": day} | {n: counts[n] for n in COUNTS}
        for (grouping, key, day), counts in sorted(
            change.days.items(), key=lambda item: (item[0][0].value, item[0][2], item[0][1])
        )
        if any(counts.values())
    ]
    return stage_rows, day_rows


def _adding(
    dialect: str,
    record: type[StageTally] | type[DailyTally],
    keys: Iterable[str],
    sums: Iterable[str],
) -> Any:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET sum = sum + excluded.sum (SQLite, PostgreSQL)."""
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(record)
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: getattr(record, name) + statement.excluded[name] for name in sums},
    )


def recount(session: Session, zone: ZoneInfo) -> None:
    """Replace the tallies by a count of every row, in `zone`'s days."""
    session.flush()
    if session.get_bind().dialect.name == "postgresql":
        # Writers that change rows meanwhile wait, then add their change to the new count.
        session.execute(text("LOCK TABLE daily_tallies, stage_tallies IN EXCLUSIVE MODE"))
    session.execute(delete(DailyTally))
    session.execute(delete(StageTally))
    total = Contribution(zone)
    for case in session.execute(select(*CASE_COLUMNS).execution_options(yield_per=_BATCH)):
        total.add_case(case)
    assignments = select(*ASSIGNMENT_COLUMNS).join(
        CaseRecord, CaseRecord.case_no == AssignmentRecord.case_no
    )
    for row in session.execute(assignments.execution_options(yield_per=_BATCH)):
        total.add_assignment(row, row)
    stage_rows, day_rows = _rows(total)
    for record, rows in ((StageTally, stage_rows), (DailyTally, day_rows)):
        if rows:
            session.execute(insert(record), rows)
    session.merge(ReadModelSetting(name=_ZONE_SETTING, value=zone.key))
    session.flush()
