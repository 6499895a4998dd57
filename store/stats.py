"""Governance KPIs (办结率, 按时办结率, 满意率, 重办率, 及时签收率, 退单率…) over the read model,
for any half-open period and one cut (department, town, grid, category, grid worker).

Two populations, counted by the rules of store.tallies and merged here by key:

- cases reported in the period (closure, satisfaction, re-handling, recurrence);
- assignments made in the period, withdrawn ones left out (sign-for, returns, completion,
  handling time).

Whole days come from the daily tallies, so a year's KPIs cost the same for ten thousand cases
as for a million. The definitions are written out for operators and auditors in docs/kpis.md.
"""

from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, computed_field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.model import AssignmentState
from store.models import AssignmentRecord, CaseRecord, DailyTally
from store.tallies import (
    ASSIGNMENT_COLUMNS,
    ASSIGNMENT_COUNTS,
    CASE_COLUMNS,
    CASE_COUNTS,
    COUNTS,
    Grouping,
    assignment_counts,
    assignment_keys,
    case_counts,
    case_keys,
    tally_zone,
)

__all__ = ["Grouping", "KpiRow", "kpis"]

_SECONDS_PER_HOUR = 3600


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
    population, sorted by key; exactly one row (key None) for Grouping.NONE.

    Whole days of the period are read from the daily tallies; the partial days at its edges
    (a period that does not start or end at midnight in the tallies' time zone) are counted
    from the rows, by the same rules."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    if end.tzinfo is None or end.utcoffset() is None:
        raise ValueError("end must be timezone-aware")
    if end <= start:
        raise ValueError("the period is empty: end must be after start")

    totals: defaultdict[str, Counter[str]] = defaultdict(Counter)
    zone = tally_zone(session)
    whole = None if zone is None else _whole_days(start, end, zone)
    if zone is None or whole is None:
        _count_rows(session, totals, group_by, start, end)
    else:
        first, after = whole
        _add_tallies(session, totals, group_by, first, after)
        for edge_start, edge_end in (
            (start, _midnight(first, zone)),
            (_midnight(after, zone), end),
        ):
            if edge_start < edge_end:
                _count_rows(session, totals, group_by, edge_start, edge_end)
    if group_by is Grouping.NONE:
        return [_row(None, totals[""])]
    present = (key for key, counts in totals.items() if counts["reported"] or counts["assignments"])
    return [_row(key, totals[key]) for key in sorted(present)]


def _whole_days(start: datetime, end: datetime, zone: ZoneInfo) -> tuple[date, date] | None:
    """The local days [first, after) that lie wholly within [start, end), if any."""
    first = start.astimezone(zone).date()
    if _midnight(first, zone) < start:
        first += timedelta(days=1)
    after = end.astimezone(zone).date()
    return (first, after) if first < after else None


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def _add_tallies(
    session: Session,
    totals: defaultdict[str, Counter[str]],
    group_by: Grouping,
    first: date,
    after: date,
) -> None:
    sums = [func.sum(getattr(DailyTally, name)).label(name) for name in COUNTS]
    query = (
        select(DailyTally.key, *sums)
        .where(
            DailyTally.grouping == group_by.value, DailyTally.day >= first, DailyTally.day < after
        )
        .group_by(DailyTally.key)
    )
    for row in session.execute(query).mappings():
        totals[row["key"]].update({name: int(row[name] or 0) for name in COUNTS})


def _count_rows(
    session: Session,
    totals: defaultdict[str, Counter[str]],
    group_by: Grouping,
    start: datetime,
    end: datetime,
) -> None:
    """Count the cases reported and the assignments made in [start, end) from their rows."""
    reported = select(*CASE_COLUMNS).where(
        CaseRecord.reported_at >= start, CaseRecord.reported_at < end
    )
    for case in session.execute(reported):
        counts = case_counts(case)
        for grouping, key in case_keys(case):
            if grouping is group_by:
                totals[key].update(counts)
    made = (
        select(*ASSIGNMENT_COLUMNS)
        .join(CaseRecord, CaseRecord.case_no == AssignmentRecord.case_no)
        .where(
            AssignmentRecord.assigned_at >= start,
            AssignmentRecord.assigned_at < end,
            AssignmentRecord.state != AssignmentState.WITHDRAWN.value,
        )
    )
    for assignment in session.execute(made):
        counts = assignment_counts(assignment)
        for grouping, key in assignment_keys(assignment, assignment):
            if grouping is group_by:
                totals[key].update(counts)


def _row(key: str | None, counts: Counter[str]) -> KpiRow:
    handled = counts["handled"]
    return KpiRow(
        key=key,
        avg_handling_hours=counts["handling_seconds"] / handled / _SECONDS_PER_HOUR
        if handled
        else None,
        **{name: counts[name] for name in (*CASE_COUNTS, *ASSIGNMENT_COUNTS)},
    )
