"""What the API returns about cases. Built from read-model rows (lists, timelines) or from the
workflow's state (one case in full); neither the ORM nor the domain models go out as they are."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from domain.clocks import ClockKind, ClockPhase, SlaClock
from domain.messages import CaseEvent
from domain.model import (
    AssignmentRole,
    AssignmentState,
    FollowUpOutcome,
    Rating,
    ReviewTrigger,
    RoundReason,
    Source,
    Stage,
    Status,
    Tier,
    Urgency,
)
from domain.state import Assignment, CaseState, Flags
from store.models import CaseEventRecord, CaseRecord


class View(BaseModel):
    model_config = ConfigDict(frozen=True)


class CaseListItem(View):
    case_no: str
    stage: Stage
    status: Status
    category: str
    urgency: Urgency
    grid: str
    town: str
    address: str
    description: str
    lead_department: str | None
    overdue: bool
    suspended: bool
    breached: bool
    reported_at: datetime
    closed_at: datetime | None
    updated_at: datetime

    @classmethod
    def of(cls, row: CaseRecord) -> "CaseListItem":
        return cls.model_validate(row, from_attributes=True)


class CasePage(View):
    items: list[CaseListItem]
    next_cursor: str | None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "case_no": "GL-7Q3K9XM2FD",
                            "stage": "handle",
                            "status": "handling",
                            "category": "occupy_road_business",
                            "urgency": "normal",
                            "grid": "luoxing_xinzhou_g03",
                            "town": "luoxing",
                            "address": "罗星街道解放东路 88 号",
                            "description": "沿街店铺占道经营，货物堆放至人行道",
                            "lead_department": "comprehensive_enforcement",
                            "overdue": False,
                            "suspended": False,
                            "breached": False,
                            "reported_at": "2026-11-23T09:12:00+08:00",
                            "closed_at": None,
                            "updated_at": "2026-11-23T09:40:00+08:00",
                        }
                    ],
                    "next_cursor": "WyIyMDI2LTExLTIzVDAxOjEyOjAwKzAwOjAwIiwgIkdMLTdRM0s5WE0yRkQiXQ",
                }
            ]
        }
    )


class Clock(View):
    kind: ClockKind
    started_at: datetime
    warn_at: datetime
    due_at: datetime
    phase: ClockPhase
    stopped_at: datetime | None
    overdue_at: datetime | None

    @classmethod
    def of(cls, clock: SlaClock) -> "Clock":
        return cls.model_validate(clock, from_attributes=True)


def _clock(clock: SlaClock | None) -> Clock | None:
    return None if clock is None else Clock.of(clock)


class Extension(View):
    requested_at: datetime
    extra_days: int
    reason: str
    decided_at: datetime | None
    approved: bool | None


class AssignmentView(View):
    assignment_id: str
    round: int
    department: str
    role: AssignmentRole
    state: AssignmentState
    assigned_at: datetime
    sign_clock: Clock
    handling_clock: Clock
    signed_at: datetime | None
    completed_at: datetime | None
    returned_at: datetime | None
    withdrawn_at: datetime | None
    result: str | None
    evidence_urls: list[str]
    return_reason: str | None
    withdraw_reason: str | None
    extensions: list[Extension]
    urge_count: int
    supervision_tier: Tier | None

    @classmethod
    def of(cls, assignment: Assignment) -> "AssignmentView":
        data = assignment.model_dump(exclude={"sign_clock", "handling_clock", "extensions"})
        return cls(
            **data,
            sign_clock=Clock.of(assignment.sign_clock),
            handling_clock=Clock.of(assignment.handling_clock),
            extensions=[Extension.model_validate(e.model_dump()) for e in assignment.extensions],
        )


class RoundView(View):
    number: int
    reason: RoundReason
    started_at: datetime
    lead_department: str
    reply_clock: Clock | None
    final_reply: str | None
    replied_at: datetime | None
    verification_clock: Clock | None


class ConsultationView(View):
    convened_at: datetime
    participants: list[str]
    agenda: str
    clock: Clock
    decided_at: datetime | None
    minutes: str | None


class FollowUpView(View):
    due_at: datetime
    announced: bool
    recorded_at: datetime | None
    outcome: FollowUpOutcome | None


class SuspensionView(View):
    suspended_at: datetime
    reason: str
    resumed_at: datetime | None
    paused_working_seconds: float | None


class ReviewView(View):
    triggers: list[ReviewTrigger]
    opened_at: datetime
    recorded_at: datetime | None
    root_cause: str | None
    responsible_departments: list[str]
    responsible_people: list[str]
    outcome: str | None
    score_deduction: float
    notes: str


class Reporter(View):
    """Personal data: shown to coordinators only."""

    name: str | None
    phone: str | None


class CaseDetail(View):
    case_no: str
    version: int = Field(description="sequence of the case's last business event")
    lookup_code: str | None
    stage: Stage
    status: Status
    tier: Tier
    flags: Flags
    category: str
    urgency: Urgency
    source: Source
    grid: str
    town: str
    address: str
    latitude: float | None
    longitude: float | None
    description: str
    evidence_urls: list[str]
    reported_at: datetime
    reported_by: str
    reporter: Reporter | None
    lead_department: str | None
    reply: str | None
    rating: Rating | None
    rehandling_rounds: int
    recurrences: int
    returns: dict[str, int]
    closed_at: datetime | None
    archived_at: datetime | None
    rounds: list[RoundView]
    assignments: list[AssignmentView]
    consultations: list[ConsultationView]
    feedback_clock: Clock | None
    follow_ups: list[FollowUpView]
    suspensions: list[SuspensionView]
    review_triggers: list[ReviewTrigger]
    review: ReviewView | None

    @classmethod
    def of(cls, case: CaseState, flags: Flags, *, with_reporter: bool) -> "CaseDetail":
        report = case.report
        return cls(
            case_no=case.case_no,
            version=case.events[-1].sequence,
            lookup_code=case.lookup_code if with_reporter else None,
            stage=case.stage,
            status=case.status,
            tier=case.tier,
            flags=flags,
            category=report.category,
            urgency=report.urgency,
            source=report.source,
            grid=report.grid,
            town=report.town,
            address=report.location.address,
            latitude=report.location.latitude,
            longitude=report.location.longitude,
            description=report.description,
            evidence_urls=list(report.evidence_urls),
            reported_at=report.reported_at,
            reported_by=report.reported_by.user_id,
            reporter=(
                Reporter(name=report.reporter.name, phone=report.reporter.phone)
                if with_reporter
                else None
            ),
            lead_department=case.lead_department,
            reply=case.reply,
            rating=case.rating,
            rehandling_rounds=case.rehandling_rounds,
            recurrences=case.recurrences,
            returns=dict(case.returns),
            closed_at=case.closed_at,
            archived_at=case.archived_at,
            rounds=[
                RoundView(
                    number=r.number,
                    reason=r.reason,
                    started_at=r.started_at,
                    lead_department=r.lead_department,
                    reply_clock=_clock(r.reply_clock),
                    final_reply=r.final_reply,
                    replied_at=r.replied_at,
                    verification_clock=_clock(r.verification_clock),
                )
                for r in case.rounds
            ],
            assignments=[AssignmentView.of(a) for a in case.assignments],
            consultations=[
                ConsultationView(
                    convened_at=c.convened_at,
                    participants=list(c.participants),
                    agenda=c.agenda,
                    clock=Clock.of(c.clock),
                    decided_at=c.decided_at,
                    minutes=c.minutes,
                )
                for c in case.consultations
            ],
            feedback_clock=_clock(case.feedback_clock),
            follow_ups=[FollowUpView.model_validate(f.model_dump()) for f in case.follow_ups],
            suspensions=[
                SuspensionView(
                    suspended_at=s.suspended_at,
                    reason=s.reason,
                    resumed_at=s.resumed_at,
                    paused_working_seconds=(
                        None
                        if s.paused_working_time is None
                        else s.paused_working_time.total_seconds()
                    ),
                )
                for s in case.suspensions
            ],
            review_triggers=list(case.review_triggers),
            review=_review(case),
        )


def _review(case: CaseState) -> ReviewView | None:
    review = case.review
    if review is None:
        return None
    findings = review.findings
    return ReviewView(
        triggers=list(review.triggers),
        opened_at=review.opened_at,
        recorded_at=review.recorded_at,
        root_cause=findings.root_cause if findings else None,
        responsible_departments=list(findings.responsible_departments) if findings else [],
        responsible_people=list(findings.responsible_people) if findings else [],
        outcome=findings.outcome.value if findings else None,
        score_deduction=findings.score_deduction if findings else 0.0,
        notes=findings.notes if findings else "",
    )


class EventActor(View):
    user_id: str
    role: str
    department: str | None


class CaseEventView(View):
    sequence: int
    type: str
    at: datetime
    actor: EventActor
    data: dict[str, Any]

    @classmethod
    def of(cls, row: CaseEventRecord) -> "CaseEventView":
        return cls(
            sequence=row.sequence,
            type=row.type,
            at=row.at,
            actor=EventActor(
                user_id=row.actor_user_id, role=row.actor_role, department=row.actor_department
            ),
            data=row.data,
        )

    @classmethod
    def of_event(cls, event: CaseEvent) -> "CaseEventView":
        return cls(
            sequence=event.sequence,
            type=event.type,
            at=event.at,
            actor=EventActor(
                user_id=event.actor.user_id,
                role=event.actor.role.value,
                department=event.actor.department,
            ),
            data=event.data,
        )
