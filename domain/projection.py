"""A case as read-model rows: a pure function of its state, so that projecting a case step by
step and rebuilding it from Temporal in one go give the same rows."""

from pydantic import AwareDatetime

from domain.messages import CaseEvent
from domain.model import (
    AssignmentRole,
    AssignmentState,
    Frozen,
    Rating,
    ReviewTrigger,
    Stage,
    Status,
    Tier,
)
from domain.state import Assignment, CaseState


class CaseRow(Frozen):
    case_no: str
    lookup_code: str | None
    reported_by: str
    category: str
    urgency: str
    grid: str
    town: str
    source: str
    description: str
    address: str
    reporter_name: str | None
    reporter_phone: str | None
    stage: Stage
    status: Status
    tier: Tier
    lead_department: str | None
    suspended: bool
    overdue: bool
    breached: bool
    reported_at: AwareDatetime
    closed_at: AwareDatetime | None
    archived_at: AwareDatetime | None
    rating: Rating | None
    rounds: int
    rehandling_rounds: int
    recurrences: int
    returns: int
    review_triggers: tuple[ReviewTrigger, ...]
    last_event_sequence: int
    updated_at: AwareDatetime


class AssignmentRow(Frozen):
    assignment_id: str
    case_no: str
    round: int
    department: str
    role: AssignmentRole
    state: AssignmentState
    assigned_at: AwareDatetime
    sign_due_at: AwareDatetime
    due_at: AwareDatetime
    signed_at: AwareDatetime | None
    completed_at: AwareDatetime | None
    returned_at: AwareDatetime | None
    withdrawn_at: AwareDatetime | None
    sign_overdue_at: AwareDatetime | None
    overdue_at: AwareDatetime | None
    extension_days: int
    urge_count: int
    supervision_tier: Tier | None


class ReviewRow(Frozen):
    case_no: str
    triggers: tuple[ReviewTrigger, ...]
    opened_at: AwareDatetime
    recorded_at: AwareDatetime | None
    outcome: str | None
    root_cause: str | None
    responsible_departments: tuple[str, ...]
    responsible_people: tuple[str, ...]
    score_deduction: float
    notes: str


class CaseProjection(Frozen):
    """What one projection write carries: the case's current rows and its events after
    `events[0].sequence - 1` (the events already written need not travel again)."""

    case: CaseRow
    assignments: tuple[AssignmentRow, ...]
    review: ReviewRow | None
    events: tuple[CaseEvent, ...]


class ProjectChanges(Frozen):
    """One projection write, and the departments its events notify. The write answers, from
    the same transaction, which of them have a webhook: the case starts deliveries only to
    those, not one per notification."""

    projection: CaseProjection
    notified_departments: tuple[str, ...] = ()


class ChangesProjected(Frozen):
    listening_departments: tuple[str, ...] = ()


def project(case: CaseState, after_sequence: int = 0) -> CaseProjection:
    return CaseProjection(
        case=_case_row(case),
        assignments=tuple(_assignment_row(case.case_no, a) for a in case.assignments),
        review=_review_row(case),
        events=tuple(e for e in case.events if e.sequence > after_sequence),
    )


def _case_row(case: CaseState) -> CaseRow:
    report, flags = case.report, case.flags()
    last: CaseEvent = case.events[-1]
    return CaseRow(
        case_no=case.case_no,
        lookup_code=case.lookup_code,
        reported_by=report.reported_by.user_id,
        category=report.category,
        urgency=report.urgency.value,
        grid=report.grid,
        town=report.town,
        source=report.source.value,
        description=report.description,
        address=report.location.address,
        reporter_name=report.reporter.name,
        reporter_phone=report.reporter.phone,
        stage=case.stage,
        status=case.status,
        tier=case.tier,
        lead_department=case.lead_department,
        suspended=flags.suspended,
        overdue=flags.overdue,
        breached=flags.breached,
        reported_at=report.reported_at,
        closed_at=case.closed_at,
        archived_at=case.archived_at,
        rating=case.rating,
        rounds=len(case.rounds),
        rehandling_rounds=case.rehandling_rounds,
        recurrences=case.recurrences,
        returns=sum(case.returns.values()),
        review_triggers=tuple(case.review_triggers),
        last_event_sequence=last.sequence,
        updated_at=last.at,
    )


def _assignment_row(case_no: str, assignment: Assignment) -> AssignmentRow:
    return AssignmentRow(
        assignment_id=assignment.assignment_id,
        case_no=case_no,
        round=assignment.round,
        department=assignment.department,
        role=assignment.role,
        state=assignment.state,
        assigned_at=assignment.assigned_at,
        sign_due_at=assignment.sign_clock.due_at,
        due_at=assignment.handling_clock.due_at,
        signed_at=assignment.signed_at,
        completed_at=assignment.completed_at,
        returned_at=assignment.returned_at,
        withdrawn_at=assignment.withdrawn_at,
        sign_overdue_at=assignment.sign_clock.overdue_at,
        overdue_at=assignment.handling_clock.overdue_at,
        extension_days=sum(e.extra_days for e in assignment.extensions if e.approved),
        urge_count=assignment.urge_count,
        supervision_tier=assignment.supervision_tier,
    )


def _review_row(case: CaseState) -> ReviewRow | None:
    review = case.review
    if review is None:
        return None
    findings = review.findings
    return ReviewRow(
        case_no=case.case_no,
        triggers=review.triggers,
        opened_at=review.opened_at,
        recorded_at=review.recorded_at,
        outcome=findings.outcome.value if findings else None,
        root_cause=findings.root_cause if findings else None,
        responsible_departments=findings.responsible_departments if findings else (),
        responsible_people=findings.responsible_people if findings else (),
        score_deduction=findings.score_deduction if findings else 0.0,
        notes=findings.notes if findings else "",
    )
