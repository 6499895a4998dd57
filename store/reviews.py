"""Searching post-hoc reviews (事后倒查): open work with its deadline, and recorded findings, each
joined with its case. The API's `GET /reviews` and the console's audit page both read here."""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    String,
    and_,
    cast,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from domain.model import ReviewOutcome, ReviewTrigger
from store.models import CaseRecord, CategoryRecord, DepartmentRecord, ReviewRecord, TownRecord

# Every query joins each review to its case.
_CASE = CaseRecord.case_no == ReviewRecord.case_no


class ReviewState(StrEnum):
    OPEN = "open"
    """Awaiting the auditor's findings."""
    DONE = "done"
    """Findings recorded (the case is then archived)."""


class ReviewSort(StrEnum):
    DEADLINE = "deadline"
    """Earliest deadline first; reviews without one (no calendar data) last."""
    RECORDED = "recorded"
    """Most recently recorded first; open reviews last."""
    OPENED = "opened"
    """Most recently opened first."""


@dataclass(frozen=True)
class ReviewFilters:
    """Every filter is optional; those given must all hold. Ranges are [from, to)."""

    state: ReviewState | None = None
    overdue: bool | None = None
    """True: open and past its deadline at `now` (see `search_reviews`); False: anything else."""
    trigger: ReviewTrigger | None = None
    outcome: ReviewOutcome | None = None
    department: str | None = None
    """A responsible department named in the findings."""
    text: str | None = None
    """In the case number, the case's description, the root cause or the notes."""
    opened_from: datetime | None = None
    opened_to: datetime | None = None
    recorded_from: datetime | None = None
    recorded_to: datetime | None = None
    town: str | None = None
    category: str | None = None

    def conditions(self, now: datetime) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.state is ReviewState.OPEN:
            conditions.append(ReviewRecord.recorded_at.is_(None))
        elif self.state is ReviewState.DONE:
            conditions.append(ReviewRecord.recorded_at.is_not(None))
        if self.overdue is not None:
            late = _overdue(now)
            conditions.append(late if self.overdue else not_(late))
        if self.trigger is not None:
            conditions.append(_json_list_has(ReviewRecord.triggers, self.trigger.value))
        if self.outcome is not None:
            conditions.append(ReviewRecord.outcome == self.outcome.value)
        if self.department is not None:
            conditions.append(_json_list_has(ReviewRecord.responsible_departments, self.department))
        if self.text:
            pattern = f"%{_escape_like(self.text)}%"
            conditions.append(
                or_(
                    *(
                        column.ilike(pattern, escape="\\")
                        for column in (
                            CaseRecord.case_no,
                            CaseRecord.description,
                            ReviewRecord.root_cause,
                            ReviewRecord.notes,
                        )
                    )
                )
            )
        ranges = (
            (ReviewRecord.opened_at, self.opened_from, self.opened_to),
            (ReviewRecord.recorded_at, self.recorded_from, self.recorded_to),
        )
        for column, start, end in ranges:
            if start is not None:
                conditions.append(column >= start)
            if end is not None:
                conditions.append(column < end)
        if self.town is not None:
            conditions.append(CaseRecord.town == self.town)
        if self.category is not None:
            conditions.append(CaseRecord.category == self.category)
        return conditions


@dataclass(frozen=True)
class ReviewEntry:
    """One review with what the auditor needs of its case."""

    case_no: str
    category: str
    town: str
    grid: str
    description: str
    lead_department: str | None
    rounds: int
    returns: int
    recurrences: int
    breached: bool
    rating: str | None
    triggers: tuple[ReviewTrigger, ...]
    opened_at: datetime
    due_at: datetime | None
    overdue: bool
    recorded_at: datetime | None
    outcome: ReviewOutcome | None
    root_cause: str | None
    responsible_departments: tuple[str, ...]
    responsible_people: tuple[str, ...]
    score_deduction: float
    notes: str


@dataclass(frozen=True)
class ReviewPage:
    entries: list[ReviewEntry]
    total: int
    """How many reviews match, on every page."""
    offset: int

    @property
    def next_offset(self) -> int | None:
        following = self.offset + len(self.entries)
        return following if following < self.total else None


def search_reviews(
    session: Session,
    filters: ReviewFilters,
    *,
    now: datetime,
    sort: ReviewSort = ReviewSort.DEADLINE,
    limit: int = 50,
    offset: int = 0,
) -> ReviewPage:
    """Matching reviews in `sort` order; `now` decides what is overdue. Offset pagination: the
    sort orders include nullable columns, and auditors page through hundreds, not millions."""
    matching = (
        select(ReviewRecord, CaseRecord).join(CaseRecord, _CASE).where(*filters.conditions(now))
    )
    total = count_reviews(session, filters, now=now)
    rows = session.execute(
        matching.order_by(*_ORDER[sort], ReviewRecord.case_no).limit(limit).offset(offset)
    )
    entries = [_entry(review, case, now) for review, case in rows]
    return ReviewPage(entries=entries, total=total, offset=offset)


def unknown_codes(
    session: Session,
    *,
    department: str | None = None,
    town: str | None = None,
    category: str | None = None,
) -> dict[str, str]:
    """Of the reference codes given, those that name nothing: {filter name: code}."""
    tables = {
        "department": (DepartmentRecord.code, department),
        "town": (TownRecord.code, town),
        "category": (CategoryRecord.code, category),
    }
    unknown: dict[str, str] = {}
    for name, (column, code) in tables.items():
        if code is not None and session.scalar(select(column).where(column == code)) is None:
            unknown[name] = code
    return unknown


def count_reviews(session: Session, filters: ReviewFilters, *, now: datetime) -> int:
    query = select(func.count()).select_from(ReviewRecord).join(CaseRecord, _CASE)
    return session.scalar(query.where(*filters.conditions(now))) or 0


def open_trigger_counts(session: Session) -> dict[ReviewTrigger, int]:
    """How many open reviews each trigger opened (a review may have several)."""
    counts: dict[ReviewTrigger, int] = {}
    for triggers in session.scalars(
        select(ReviewRecord.triggers).where(ReviewRecord.recorded_at.is_(None))
    ):
        for trigger in triggers or ():
            counts[ReviewTrigger(trigger)] = counts.get(ReviewTrigger(trigger), 0) + 1
    return counts


# ---- helpers ---------------------------------------------------------------------------------


def _overdue(now: datetime) -> ColumnElement[bool]:
    return and_(
        ReviewRecord.recorded_at.is_(None),
        ReviewRecord.due_at.is_not(None),
        ReviewRecord.due_at < now,
    )


_ORDER: dict[ReviewSort, tuple[ColumnExpressionArgument[Any], ...]] = {
    # Missing times go last by an explicit `IS NULL` key (false sorts before true): SQLite and
    # PostgreSQL put NULLs at opposite ends by default.
    ReviewSort.DEADLINE: (
        ReviewRecord.due_at.is_(None),
        ReviewRecord.due_at,
        ReviewRecord.opened_at,
    ),
    ReviewSort.RECORDED: (ReviewRecord.recorded_at.is_(None), ReviewRecord.recorded_at.desc()),
    ReviewSort.OPENED: (ReviewRecord.opened_at.desc(),),
}


def _json_list_has(column: InstrumentedAttribute[list[str]], value: str) -> ColumnElement[bool]:
    # The lists hold plain codes: match the quoted code in the JSON text, on both databases.
    quoted = f'%"{_escape_like(value)}"%'
    return cast(column, String).like(quoted, escape="\\")


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _entry(review: ReviewRecord, case: CaseRecord, now: datetime) -> ReviewEntry:
    return ReviewEntry(
        case_no=case.case_no,
        category=case.category,
        town=case.town,
        grid=case.grid,
        description=case.description,
        lead_department=case.lead_department,
        rounds=case.rounds,
        returns=case.returns,
        recurrences=case.recurrences,
        breached=case.breached,
        rating=case.rating,
        triggers=tuple(ReviewTrigger(t) for t in review.triggers or ()),
        opened_at=review.opened_at,
        due_at=review.due_at,
        overdue=review.recorded_at is None and review.due_at is not None and review.due_at < now,
        recorded_at=review.recorded_at,
        outcome=ReviewOutcome(review.outcome) if review.outcome else None,
        root_cause=review.root_cause,
        responsible_departments=tuple(review.responsible_departments or ()),
        responsible_people=tuple(review.responsible_people or ()),
        score_deduction=review.score_deduction,
        notes=review.notes,
    )
