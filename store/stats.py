"""Governance KPIs (办结率, 按时办结率, 满意率, 重办率, 及时签收率, 退单率…) over the read model,
for any half-open period and one cut (department, town, grid, category, grid worker).

Two populations, counted in SQL and merged here by key:

- cases reported in the period (closure, satisfaction, re-handling, recurrence);
- assignments made in the period, withdrawn ones left out (sign-for, returns, completion,
  handling time).

The definitions are written out for operators and auditors in docs/kpis.md.
"""

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field
from sqlalchemy import ColumnElement, Executable, and_, case, func, not_, or_, select
from sqlalchemy.orm import QueryableAttribute, Session

from domain.model import AssignmentState, Rating
from store.models import AssignmentRecord, CaseRecord

_SECONDS_PER_HOUR = 3600
_SATISFIED = (Rating.SATISFIED.value, Rating.BASICALLY_SATISFIED.value)

_CASE_COUNTS = (
    "reported",
    "closed",
    "closed_on_time",
    "rated",
    "satisfied",
    "rehandled",
    "recurred",
)
_ASSIGNMENT_COUNTS = (
    "assignments",
    "sign_settled",
    "signed_on_time",
    "returned",
    "completed",
    "completed_on_time",
)


class Grouping(StrEnum):
    """The cut: one row for everything, or one row per value of an attribute."""

    NONE = "none"
    DEPARTMENT = "department"  # cases by lead department, assignments by their department
    TOWN = "town"
    GRID = "grid"
    CATEGORY = "category"
    GRID_WORKER = "grid_worker"  # the case's reporter (cases.reported_by)


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


class KpiRow(BaseModel):
    """The counts of one group, and the rates derived from them (0..1, None without a
    denominator)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str | None
    """The group's code, or the reporter's user id for GRID_WORKER; None for Grouping.NONE."""

    # case population: cases reported in the period
    reported: int
    closed: int
    closed_on_time: int
    rated: int
    satisfied: int
    rehandled: int
    recurred: int

    # assignment population: assignments made in the period, except withdrawn ones
    assignments: int
    sign_settled: int
    signed_on_time: int
    returned: int
    completed: int
    completed_on_time: int
    avg_handling_hours: float | None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def closure_rate(self) -> float | None:
        """办结率: closed / reported."""
        return _rate(self.closed, self.reported)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def on_time_closure_rate(self) -> float | None:
        """按时办结率: closed_on_time / closed."""
        return _rate(self.closed_on_time, self.closed)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def satisfaction_rate(self) -> float | None:
        """满意率: satisfied / rated."""
        return _rate(self.satisfied, self.rated)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rehandling_rate(self) -> float | None:
        """重办率: rehandled / closed."""
        return _rate(self.rehandled, self.closed)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def recurrence_rate(self) -> float | None:
        """Recurrence rate (复发率): recurred / closed."""
        return _rate(self.recurred, self.closed)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def timely_sign_rate(self) -> float | None:
        """及时签收率: signed_on_time / sign_settled."""
        return _rate(self.signed_on_time, self.sign_settled)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def return_rate(self) -> float | None:
        """退单率: returned / assignments."""
        return _rate(self.returned, self.assignments)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def on_time_completion_rate(self) -> float | None:
        """On-time completion rate (按时办理率): completed_on_time / completed."""
        return _rate(self.completed_on_time, self.completed)


def kpis(session: Session, start: datetime, end: datetime, group_by: Grouping) -> list[KpiRow]:
    """The KPIs of [start, end) cut by `group_by`: one row per key present in either
    population, sorted by key; exactly one row (key None) for Grouping.NONE."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    if end.tzinfo is None or end.utcoffset() is None:
        raise ValueError("end must be timezone-aware")
    if end <= start:
        raise ValueError("the period is empty: end must be after start")

    case_counts = _fetch(session, _case_query(start, end, group_by), _CASE_COUNTS)
    assignment_counts = _fetch(
        session, _assignment_query(start, end, group_by), (*_ASSIGNMENT_COUNTS, "avg_seconds")
    )
    keys: set[str | None] = set(case_counts) | set(assignment_counts)
    if group_by is Grouping.NONE:
        keys = {None}
    return [
        _row(key, case_counts.get(key), assignment_counts.get(key))
        for key in sorted(keys, key=lambda key: key or "")
    ]


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """COUNT of the group's rows that satisfy `condition` (0, never NULL, for no rows)."""
    return func.count(case((condition, 1)))


def _case_key(group_by: Grouping) -> QueryableAttribute[Any] | None:
    """The attribute of the case that keys a group, for every cut but NONE."""
    match group_by:
        case Grouping.NONE:
            return None
        case Grouping.DEPARTMENT:
            return CaseRecord.lead_department
        case Grouping.TOWN:
            return CaseRecord.town
        case Grouping.GRID:
            return CaseRecord.grid
        case Grouping.CATEGORY:
            return CaseRecord.category
        case Grouping.GRID_WORKER:
            return CaseRecord.reported_by


def _case_query(start: datetime, end: datetime, group_by: Grouping) -> Executable:
    closed = CaseRecord.closed_at.is_not(None)
    columns: list[ColumnElement[Any]] = [
        func.count().label("reported"),
        _count(closed).label("closed"),
        _count(and_(closed, not_(CaseRecord.breached))).label("closed_on_time"),
        _count(CaseRecord.rating.is_not(None)).label("rated"),
        _count(CaseRecord.rating.in_(_SATISFIED)).label("satisfied"),
        # Over closed cases, as their rates are: a case still in a re-handling round or re-opened
        # by a recurrence counts once it closes again.
        _count(and_(closed, CaseRecord.rehandling_rounds > 0)).label("rehandled"),
        _count(and_(closed, CaseRecord.recurrences > 0)).label("recurred"),
    ]
    key = _case_key(group_by)
    if key is None:
        # No GROUP BY: an aggregate over no rows is still one row, of zeros.
        return select(*columns).where(*_period(CaseRecord.reported_at, start, end))
    query = select(key.label("key"), *columns).where(*_period(CaseRecord.reported_at, start, end))
    if group_by is Grouping.DEPARTMENT:
        query = query.where(CaseRecord.lead_department.is_not(None))
    return query.group_by(key)


def _assignment_query(start: datetime, end: datetime, group_by: Grouping) -> Executable:
    completed = AssignmentRecord.completed_at.is_not(None)
    signed = AssignmentRecord.signed_at.is_not(None)
    sign_overdue = AssignmentRecord.sign_overdue_at.is_not(None)
    handling_seconds = AssignmentRecord.handling_working_seconds
    columns: list[ColumnElement[Any]] = [
        func.count().label("assignments"),
        _count(or_(signed, sign_overdue)).label("sign_settled"),
        _count(and_(signed, not_(sign_overdue))).label("signed_on_time"),
        _count(AssignmentRecord.state == AssignmentState.RETURNED.value).label("returned"),
        _count(completed).label("completed"),
        _count(and_(completed, AssignmentRecord.overdue_at.is_(None))).label("completed_on_time"),
        # AVG skips the NULLs of the CASE: only completed rows with a computed working time.
        func.avg(case((and_(completed, handling_seconds.is_not(None)), handling_seconds))).label(
            "avg_seconds"
        ),
    ]
    population = (
        *_period(AssignmentRecord.assigned_at, start, end),
        AssignmentRecord.state != AssignmentState.WITHDRAWN.value,
    )
    key = AssignmentRecord.department if group_by is Grouping.DEPARTMENT else _case_key(group_by)
    if key is None:
        return select(*columns).where(*population)
    query = select(key.label("key"), *columns).select_from(AssignmentRecord)
    if group_by is not Grouping.DEPARTMENT:
        # Every other cut is an attribute of the assignment's case.
        query = query.join(CaseRecord, CaseRecord.case_no == AssignmentRecord.case_no)
    return query.where(*population).group_by(key)


def _period(
    column: QueryableAttribute[datetime], start: datetime, end: datetime
) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return column >= start, column < end


def _fetch(
    session: Session, query: Executable, columns: tuple[str, ...]
) -> dict[str | None, dict[str, Any]]:
    return {
        row.get("key"): {column: row[column] for column in columns}
        for row in session.execute(query).mappings()
    }


def _row(
    key: str | None, cases: dict[str, Any] | None, assignments: dict[str, Any] | None
) -> KpiRow:
    counts = {name: int(cases[name]) if cases else 0 for name in _CASE_COUNTS}
    counts |= {name: int(assignments[name]) if assignments else 0 for name in _ASSIGNMENT_COUNTS}
    avg_seconds = assignments["avg_seconds"] if assignments else None
    return KpiRow(
        key=key,
        avg_handling_hours=None if avg_seconds is None else float(avg_seconds) / _SECONDS_PER_HOUR,
        **counts,
    )
