"""Write a case's projection into the read model, idempotently: the same projection twice, or
an older one after a newer one, leaves the rows as the newest made them."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.calendar import CalendarDataMissing, WorkingCalendar
from domain.projection import AssignmentRow, CaseProjection
from store.models import AssignmentRecord, CaseEventRecord, CaseRecord, ReviewRecord


def write_projection(
    session: Session, projection: CaseProjection, calendar: WorkingCalendar
) -> None:
    """`calendar` turns completed assignments into working hours for the KPIs."""
    case_no = projection.case.case_no
    current = session.get(CaseRecord, case_no)
    if current is not None and current.last_event_sequence > projection.case.last_event_sequence:
        return  # a late retry of an older projection: the rows are already newer
    session.merge(CaseRecord(**projection.case.model_dump()))
    for assignment in projection.assignments:
        session.merge(
            AssignmentRecord(
                **assignment.model_dump(),
                handling_working_seconds=_handling_seconds(assignment, calendar),
            )
        )
    if projection.review is not None:
        session.merge(ReviewRecord(**projection.review.model_dump()))
    session.flush()

    sequences = [event.sequence for event in projection.events]
    written = set(
        session.scalars(
            select(CaseEventRecord.sequence).where(
                CaseEventRecord.case_no == case_no, CaseEventRecord.sequence.in_(sequences)
            )
        )
    )
    session.add_all(
        CaseEventRecord(
            case_no=case_no,
            sequence=event.sequence,
            type=event.type,
            at=event.at,
            actor_user_id=event.actor.user_id,
            actor_role=event.actor.role.value,
            actor_department=event.actor.department,
            data=event.data,
        )
        for event in projection.events
        if event.sequence not in written
    )


def _handling_seconds(assignment: AssignmentRow, calendar: WorkingCalendar) -> float | None:
    if assignment.completed_at is None:
        return None
    try:
        handled = calendar.working_time_between(assignment.assigned_at, assignment.completed_at)
    except CalendarDataMissing:
        return None  # a year without a holiday table: left out of the average, never guessed
    return handled.total_seconds()
