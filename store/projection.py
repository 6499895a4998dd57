"""Write a case's projection into the read model, idempotently: the same projection twice, or
an older one after a newer one, leaves the rows as the newest made them.

New events are sealed into the case's hash chain as they are inserted (see store.ledger)."""

from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from domain.calendar import CalendarDataMissing, WorkingCalendar
from domain.messages import CaseEvent
from domain.model import AssignmentState
from domain.projection import AssignmentRow, CaseProjection, ReviewRow
from store import tallies
from store.ledger import GENESIS_HASH, record_hash
from store.models import AssignmentRecord, CaseEventRecord, CaseRecord, ReviewRecord


class PreviousEventMissing(RuntimeError):
    """An event arrived whose predecessor is in neither the database nor the same projection.

    Raised rather than writing a chain with a hole in it: the transaction rolls back and the
    projection activity retries (after `gridloop rebuild-projection`, if the rows were lost).
    """

    def __init__(self, case_no: str, sequence: int) -> None:
        super().__init__(
            f"case {case_no}: event {sequence - 1} is not in the read model, so event "
            f"{sequence} cannot be chained to it; `gridloop rebuild-projection` restores the "
            "case's rows from Temporal"
        )
        self.case_no = case_no
        self.sequence = sequence


def write_projection(
    session: Session,
    projection: CaseProjection,
    calendar: WorkingCalendar,
    review_working_days: int,
) -> None:
    """`calendar` turns completed assignments into working hours for the KPIs, and a review's
    opening into its deadline, `review_working_days` later (Settings.review_working_days); the
    tallies count in its time zone's days.

    Raises PreviousEventMissing if the first new event's predecessor is not stored.
    """
    case_no = projection.case.case_no
    _hold_case(session, case_no)
    current = session.get(CaseRecord, case_no)
    if current is not None and current.last_event_sequence > projection.case.last_event_sequence:
        return  # a late retry of an older projection: the rows are already newer
    before = tallies.contribution_of(session, case_no, calendar.zone)
    session.merge(CaseRecord(**projection.case.model_dump()))
    for assignment in projection.assignments:
        session.merge(
            AssignmentRecord(
                **assignment.model_dump(),
                handling_working_seconds=_handling_seconds(assignment, calendar),
                running_deadline=_running_deadline(assignment),
            )
        )
    if projection.review is not None:
        session.merge(
            ReviewRecord(
                **projection.review.model_dump(),
                due_at=_review_due(projection.review, calendar, review_working_days),
            )
        )
    session.flush()
    tallies.record_change(session, case_no, before)
    _append_events(session, case_no, projection.events)


def _hold_case(session: Session, case_no: str) -> None:
    """Keep other writers of this case waiting until commit, before anything is read: an attempt
    that timed out may still be running beside its retry, and both would otherwise add the same
    change to the tallies. SQLite: take the database's write lock now (BEGIN IMMEDIATE);
    PostgreSQL: a transaction lock on the case number, which holds before its row exists."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:case_no))"), {"case_no": case_no}
        )
    elif not getattr(connection.connection.dbapi_connection, "in_transaction", True):
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _append_events(session: Session, case_no: str, events: tuple[CaseEvent, ...]) -> None:
    """Insert the events not yet stored, each chained to its predecessor's hash."""
    if not events:
        return
    ordered = sorted(events, key=lambda event: event.sequence)
    # The stored hashes of these events and of the one just before them: sequence -> hash.
    wanted = [ordered[0].sequence - 1, *(event.sequence for event in ordered)]
    stored = session.execute(
        select(CaseEventRecord.sequence, CaseEventRecord.hash).where(
            CaseEventRecord.case_no == case_no, CaseEventRecord.sequence.in_(wanted)
        )
    )
    hashes: dict[int, str | None] = {sequence: hash_ for sequence, hash_ in stored}
    for event in ordered:
        if event.sequence in hashes:
            continue  # written by an earlier attempt or projection: rows are never rewritten
        if event.sequence == 1:
            prev_hash: str | None = GENESIS_HASH
        elif event.sequence - 1 in hashes:
            prev_hash = hashes[event.sequence - 1]
        else:
            raise PreviousEventMissing(case_no, event.sequence)
        record = CaseEventRecord(
            case_no=case_no,
            sequence=event.sequence,
            type=event.type,
            at=event.at,
            actor_user_id=event.actor.user_id,
            actor_role=event.actor.role.value,
            actor_department=event.actor.department,
            data=event.data,
        )
        # After an unsealed row (written before migration 0005) the case stays unsealed: a hash
        # chained to nothing would vouch for rows nobody checked. Rebuilding seals it whole.
        if prev_hash is not None:
            record.prev_hash, record.hash = prev_hash, record_hash(prev_hash, record)
        hashes[event.sequence] = record.hash
        session.add(record)


def _running_deadline(assignment: AssignmentRow) -> datetime | None:
    match assignment.state:
        case AssignmentState.AWAITING_SIGN:
            return assignment.sign_due_at
        case AssignmentState.HANDLING:
            return assignment.due_at
        case _:
            return None


def _review_due(review: ReviewRow, calendar: WorkingCalendar, days: int) -> datetime | None:
    try:
        return calendar.add_working_days(review.opened_at, days)
    except CalendarDataMissing:
        return None  # a year without a holiday table: no deadline rather than a guessed one


def _handling_seconds(assignment: AssignmentRow, calendar: WorkingCalendar) -> float | None:
    if assignment.completed_at is None:
        return None
    try:
        handled = calendar.working_time_between(assignment.assigned_at, assignment.completed_at)
    except CalendarDataMissing:
        return None  # a year without a holiday table: left out of the average, never guessed
    return handled.total_seconds()
