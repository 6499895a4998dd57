"""Reads of the case read model: lists with filters and cursors, timelines, lookups.

Who may see what is decided by the caller and passed in as a `Visibility`.
"""

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, and_, case, exists, false, func, or_, select, true
from sqlalchemy.orm import Session

from store.models import AssignmentRecord, CaseEventRecord, CaseRecord


@dataclass(frozen=True)
class Visibility:
    """Everything, or the cases of a department's assignments, or of a set of grids."""

    everything: bool = False
    department: str | None = None
    grids: frozenset[str] = field(default_factory=frozenset)

    def condition(self) -> ColumnElement[bool]:
        if self.everything:
            return true()
        conditions: list[ColumnElement[bool]] = []
        if self.department is not None:
            conditions.append(_has_assignment(self.department))
        if self.grids:
            conditions.append(CaseRecord.grid.in_(sorted(self.grids)))
        return or_(*conditions) if conditions else false()


@dataclass(frozen=True)
class CaseFilters:
    stage: str | None = None
    status: str | None = None
    category: str | None = None
    town: str | None = None
    grid: str | None = None
    department: str | None = None
    urgency: str | None = None
    overdue: bool | None = None
    text: str | None = None
    reported_from: datetime | None = None
    reported_to: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        equal = {
            CaseRecord.stage: self.stage,
            CaseRecord.status: self.status,
            CaseRecord.category: self.category,
            CaseRecord.town: self.town,
            CaseRecord.grid: self.grid,
            CaseRecord.urgency: self.urgency,
            CaseRecord.overdue: self.overdue,
        }
        conditions = [column == value for column, value in equal.items() if value is not None]
        if self.department is not None:
            conditions.append(_has_assignment(self.department))
        if self.text:
            pattern = f"%{_escape_like(self.text)}%"
            conditions.append(
                or_(
                    CaseRecord.case_no.ilike(pattern, escape="\\"),
                    CaseRecord.description.ilike(pattern, escape="\\"),
                    CaseRecord.address.ilike(pattern, escape="\\"),
                )
            )
        if self.reported_from is not None:
            conditions.append(CaseRecord.reported_at >= self.reported_from)
        if self.reported_to is not None:
            conditions.append(CaseRecord.reported_at < self.reported_to)
        return conditions


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class CasePage:
    cases: Sequence[CaseRecord]
    next_cursor: str | None


def list_cases(
    session: Session,
    visibility: Visibility,
    filters: CaseFilters,
    *,
    limit: int,
    cursor: str | None = None,
) -> CasePage:
    """Newest first; `next_cursor` continues after the last case of this page."""
    query = (
        select(CaseRecord)
        .where(visibility.condition(), *filters.conditions())
        .order_by(CaseRecord.reported_at.desc(), CaseRecord.case_no.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        reported_at, case_no = _decode_cursor(cursor)
        query = query.where(
            or_(
                CaseRecord.reported_at < reported_at,
                and_(CaseRecord.reported_at == reported_at, CaseRecord.case_no < case_no),
            )
        )
    rows = list(session.scalars(query))
    if len(rows) <= limit:
        return CasePage(rows, None)
    last = rows[limit - 1]
    return CasePage(rows[:limit], _encode_cursor(last.reported_at, last.case_no))


def visible_case(session: Session, visibility: Visibility, case_no: str) -> CaseRecord | None:
    return session.scalar(
        select(CaseRecord).where(CaseRecord.case_no == case_no, visibility.condition())
    )


def case_by_lookup_code(session: Session, lookup_code: str) -> CaseRecord | None:
    return session.scalar(select(CaseRecord).where(CaseRecord.lookup_code == lookup_code))


def case_events(session: Session, case_no: str) -> Sequence[CaseEventRecord]:
    return session.scalars(
        select(CaseEventRecord)
        .where(CaseEventRecord.case_no == case_no)
        .order_by(CaseEventRecord.sequence)
    ).all()


def open_assignment(session: Session, case_no: str, department: str) -> AssignmentRecord | None:
    """The department's open assignment on the case, as last projected."""
    return session.scalar(
        select(AssignmentRecord).where(
            AssignmentRecord.case_no == case_no,
            AssignmentRecord.department == department,
            AssignmentRecord.state.in_(("awaiting_sign", "handling")),
        )
    )


def _has_assignment(department: str) -> ColumnElement[bool]:
    return exists().where(
        AssignmentRecord.case_no == CaseRecord.case_no, AssignmentRecord.department == department
    )


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _encode_cursor(reported_at: datetime, case_no: str) -> str:
    raw = json.dumps([reported_at.isoformat(), case_no]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        reported_at, case_no = json.loads(raw)
        moment = datetime.fromisoformat(reported_at)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as bad:
        raise BadCursor(cursor) from bad
    if moment.tzinfo is None or not isinstance(case_no, str):
        raise BadCursor(cursor)
    return moment, case_no


def stage_counts(session: Session) -> dict[str, int]:
    """How many cases are in each stage now."""
    rows = session.execute(select(CaseRecord.stage, func.count()).group_by(CaseRecord.stage))
    return {stage: count for stage, count in rows}


def count_reported(session: Session, start: datetime, end: datetime) -> int:
    query = select(func.count()).where(
        CaseRecord.reported_at >= start, CaseRecord.reported_at < end
    )
    return session.scalar(query) or 0


@dataclass(frozen=True)
class OpenWork:
    """A department's open assignment and the deadline that runs now: sign-for until it is
    signed, then handling."""

    assignment_id: str
    case_no: str
    department: str
    role: str
    state: str
    deadline: datetime
    overdue: bool
    category: str
    grid: str
    urgency: str
    description: str
    extension_days: int
    urge_count: int


def open_work(
    session: Session,
    *,
    department: str | None = None,
    due_before: datetime | None = None,
    limit: int = 200,
) -> list[OpenWork]:
    """Open assignments, the most urgent deadline first."""
    awaiting_sign = AssignmentRecord.state == "awaiting_sign"
    deadline = case((awaiting_sign, AssignmentRecord.sign_due_at), else_=AssignmentRecord.due_at)
    overdue = case(
        (awaiting_sign, AssignmentRecord.sign_overdue_at.is_not(None)),
        else_=AssignmentRecord.overdue_at.is_not(None),
    )
    query = (
        select(AssignmentRecord, CaseRecord, deadline.label("deadline"), overdue.label("overdue"))
        .join(CaseRecord, CaseRecord.case_no == AssignmentRecord.case_no)
        .where(AssignmentRecord.state.in_(("awaiting_sign", "handling")))
        .order_by(deadline, AssignmentRecord.assignment_id)
        .limit(limit)
    )
    if department is not None:
        query = query.where(AssignmentRecord.department == department)
    if due_before is not None:
        query = query.where(deadline < due_before)
    return [
        OpenWork(
            assignment_id=assignment.assignment_id,
            case_no=assignment.case_no,
            department=assignment.department,
            role=assignment.role,
            state=assignment.state,
            deadline=_aware(when),
            overdue=bool(late),
            category=row.category,
            grid=row.grid,
            urgency=row.urgency,
            description=row.description,
            extension_days=assignment.extension_days,
            urge_count=assignment.urge_count,
        )
        for assignment, row, when, late in session.execute(query)
    ]


def _aware(moment: datetime) -> datetime:
    """A computed column bypasses the UTC type decorator: SQLite hands it back naive."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
