"""Reads of the case read model: lists with filters and cursors, timelines, lookups.

Who may see what is decided by the caller and passed in as a `Visibility`.
"""

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import (
    ColumnElement,
    and_,
    exists,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from domain.model import AssignmentState
from store.models import (
    AssignmentRecord,
    CaseEventRecord,
    CaseRecord,
    CommunityRecord,
    GridRecord,
    StageTally,
)


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
    """How many cases are in each stage now (from the tallies: no scan of the cases)."""
    rows = session.execute(select(StageTally.stage, StageTally.cases))
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
    query = (
        select(AssignmentRecord, CaseRecord)
        .join(CaseRecord, CaseRecord.case_no == AssignmentRecord.case_no)
        .where(AssignmentRecord.running_deadline.is_not(None))
        .order_by(AssignmentRecord.running_deadline, AssignmentRecord.assignment_id)
        .limit(limit)
    )
    if department is not None:
        query = query.where(AssignmentRecord.department == department)
    if due_before is not None:
        query = query.where(AssignmentRecord.running_deadline < due_before)
    return [_open_work(assignment, row) for assignment, row in session.execute(query)]


def _open_work(assignment: AssignmentRecord, case: CaseRecord) -> OpenWork:
    awaiting_sign = assignment.state == AssignmentState.AWAITING_SIGN.value
    late = assignment.sign_overdue_at if awaiting_sign else assignment.overdue_at
    assert assignment.running_deadline is not None  # selected for it
    return OpenWork(
        assignment_id=assignment.assignment_id,
        case_no=assignment.case_no,
        department=assignment.department,
        role=assignment.role,
        state=assignment.state,
        deadline=assignment.running_deadline,
        overdue=late is not None,
        category=case.category,
        grid=case.grid,
        urgency=case.urgency,
        description=case.description,
        extension_days=assignment.extension_days,
        urge_count=assignment.urge_count,
    )


# ---- the work lists of the console's role pages ------------------------------------------------


@dataclass(frozen=True)
class QueueItem:
    """A department's open assignment with its case (for the department's work queue)."""

    work: OpenWork
    case: CaseRecord


def department_queue(session: Session, department: str, *, limit: int = 500) -> list[QueueItem]:
    """The department's open assignments, the most urgent running deadline first."""
    work = open_work(session, department=department, limit=limit)
    records = {
        row.case_no: row
        for row in session.scalars(
            select(CaseRecord).where(CaseRecord.case_no.in_({w.case_no for w in work}))
        )
    }
    return [QueueItem(w, records[w.case_no]) for w in work if w.case_no in records]


EXTENSION_EVENTS = ("extension_requested", "extension_approved", "extension_rejected")


def pending_extensions(session: Session, department: str, case_nos: Sequence[str]) -> set[str]:
    """Of these cases, those where the department's last extension request awaits a decision."""
    if not case_nos:
        return set()
    rows = session.execute(
        select(CaseEventRecord.case_no, CaseEventRecord.type, CaseEventRecord.data)
        .where(
            CaseEventRecord.case_no.in_(set(case_nos)),
            CaseEventRecord.type.in_(EXTENSION_EVENTS),
        )
        .order_by(CaseEventRecord.case_no, CaseEventRecord.sequence)
    )
    last: dict[str, str] = {}
    for case_no, kind, data in rows:
        if (data or {}).get("department") == department:
            last[case_no] = kind
    return {case_no for case_no, kind in last.items() if kind == "extension_requested"}


@dataclass(frozen=True)
class CaseTask:
    """A case waiting in a status, with the timeline event that started the wait: its time and
    data (a deadline `due_at`, participants, a reason…)."""

    case: CaseRecord
    since: datetime | None
    data: dict[str, object]

    @property
    def due_at(self) -> datetime | None:
        """The deadline the event set, if it set a single one."""
        value = self.data.get("due_at")
        if not isinstance(value, str):
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return _aware(moment)


def cases_waiting(
    session: Session,
    statuses: Sequence[str],
    events: Sequence[str],
    *,
    grids: frozenset[str] | None = None,
    lead_department: str | None = None,
    limit: int = 200,
) -> list[CaseTask]:
    """Cases in one of `statuses` (in these grids, with this lead department), each with the
    latest of its `events`; the earliest deadline first, then the longest waiting."""
    query = select(CaseRecord).where(CaseRecord.status.in_(statuses))
    if grids is not None:
        query = query.where(CaseRecord.grid.in_(sorted(grids)))
    if lead_department is not None:
        query = query.where(CaseRecord.lead_department == lead_department)
    rows = list(session.scalars(query.order_by(CaseRecord.reported_at).limit(limit)))
    latest = _latest_events(session, [row.case_no for row in rows], events)
    tasks = [
        CaseTask(
            case=row,
            since=latest[row.case_no].at if row.case_no in latest else None,
            data=dict(latest[row.case_no].data or {}) if row.case_no in latest else {},
        )
        for row in rows
    ]
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(tasks, key=lambda t: (t.due_at or far, t.since or far, t.case.case_no))


def _latest_events(
    session: Session, case_nos: Sequence[str], events: Sequence[str]
) -> dict[str, CaseEventRecord]:
    if not case_nos:
        return {}
    latest: dict[str, CaseEventRecord] = {}
    for event in session.scalars(
        select(CaseEventRecord)
        .where(CaseEventRecord.case_no.in_(set(case_nos)), CaseEventRecord.type.in_(events))
        .order_by(CaseEventRecord.sequence)
    ):
        latest[event.case_no] = event
    return latest


REPLY_EVENTS = ("final_reply", "completed", "resolved_on_site")


def latest_replies(session: Session, case_nos: Sequence[str]) -> dict[str, str]:
    """The latest reply (a final reply, else a completion result) of each of these cases."""
    replies: dict[str, str] = {}
    for case_no, event in _latest_events(session, case_nos, REPLY_EVENTS).items():
        text = event.data.get("reply") or event.data.get("result")
        if text:
            replies[case_no] = str(text)
    return replies


def reported_by(session: Session, user_id: str, *, limit: int = 10) -> Sequence[CaseRecord]:
    """The user's own reports, newest first."""
    return session.scalars(
        select(CaseRecord)
        .where(CaseRecord.reported_by == user_id)
        .order_by(CaseRecord.reported_at.desc(), CaseRecord.case_no.desc())
        .limit(limit)
    ).all()


def town_grids(session: Session, town: str) -> list[tuple[GridRecord, CommunityRecord]]:
    """The grids of a town with their village or community, in order."""
    return [
        (grid, community)
        for grid, community in session.execute(
            select(GridRecord, CommunityRecord)
            .join(CommunityRecord, CommunityRecord.code == GridRecord.community_code)
            .where(GridRecord.town_code == town)
            .order_by(CommunityRecord.code, GridRecord.code)
        )
    ]


def _aware(moment: datetime) -> datetime:
    """A moment from an event's data without a zone is UTC (events store aware ISO times)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
