"""Write a case's projection into the read model, idempotently: the same projection twice, or
an older one after a newer one, leaves the rows as the newest made them."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.projection import CaseProjection
from store.models import AssignmentRecord, CaseEventRecord, CaseRecord, ReviewRecord


def write_projection(session: Session, projection: CaseProjection) -> None:
    case_no = projection.case.case_no
    current = session.get(CaseRecord, case_no)
    if current is not None and current.last_event_sequence > projection.case.last_event_sequence:
        return  # a late retry of an older projection: the rows are already newer
    session.merge(CaseRecord(**projection.case.model_dump()))
    for assignment in projection.assignments:
        session.merge(AssignmentRecord(**assignment.model_dump()))
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
