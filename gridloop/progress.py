"""A case as its reporter may follow it (进度查询) and rate it, by lookup code: the public API and
the public pages show exactly this. No contact details, no description or address, no staff
names: only the stage, the category and place names, the milestones and the reply."""

from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy.orm import Session

from domain.messages import ActionAccepted, RateFeedback
from domain.model import FeedbackChannel, Rating, Role, Stage, Status
from gridloop.access import Principal
from gridloop.intake import normalise_code
from gridloop.service import CaseService, RefusalKind, Refused
from store import queries
from store.models import (
    CaseEventRecord,
    CaseRecord,
    CategoryRecord,
    DepartmentRecord,
    GridRecord,
    TownRecord,
)

RESIDENT = Principal(user_id="public", role=Role.REPORTER)
"""Who reports without an account."""

# The milestones a reporter sees; the rest of the timeline is the departments' business.
MILESTONES = (
    "reported",
    "resolved_on_site",
    "dispatched",
    "consultation_convened",
    "consultation_decided",
    "signed",
    "final_reply",
    "verified",
    "verification_failed",
    "awaiting_feedback",
    "feedback_rated",
    "feedback_not_given",
    "closed",
    "recurred",
    "archived",
)
REPLIED_STAGES = (Stage.FEEDBACK, Stage.FOLLOW_UP, Stage.REVIEW, Stage.ARCHIVED)


class Milestone(BaseModel):
    type: str
    at: datetime
    department: str | None = None
    department_name: str | None = None


class CaseProgress(BaseModel):
    case_no: str
    lookup_code: str
    stage: Stage
    status: Status
    category: str
    category_name: str
    town_name: str
    grid_name: str
    reported_at: datetime
    closed_at: datetime | None
    reply: str | None
    rating: Rating | None
    awaiting_feedback: bool
    milestones: list[Milestone]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "case_no": "GL-7Q3K9XM2FD",
                    "lookup_code": "K7M2QX9D",
                    "stage": "feedback",
                    "status": "awaiting_feedback",
                    "category": "occupy_road_business",
                    "category_name": "占道经营",
                    "town_name": "罗星街道",
                    "grid_name": "新洲社区第1网格",
                    "reported_at": "2026-11-23T09:12:00+08:00",
                    "closed_at": None,
                    "reply": "经综合执法、市场监管联合处置，占道货物已清理。",
                    "rating": None,
                    "awaiting_feedback": True,
                    "milestones": [
                        {"type": "reported", "at": "2026-11-23T09:12:00+08:00"},
                        {
                            "type": "signed",
                            "at": "2026-11-23T09:40:00+08:00",
                            "department": "comprehensive_enforcement",
                            "department_name": "县综合行政执法局",
                        },
                    ],
                }
            ]
        }
    }


def progress(session: Session, lookup_code: str, language: str) -> CaseProgress | None:
    """The case behind a lookup code (as typed: case, dashes and look-alikes forgiven), with
    names in `language` (zh-CN or en); None if no case has it."""
    row = queries.case_by_lookup_code(session, normalise_code(lookup_code))
    if row is None:
        return None
    names = _Names(session, language)
    events = queries.case_events(session, row.case_no)
    return CaseProgress(
        case_no=row.case_no,
        lookup_code=row.lookup_code or "",
        stage=Stage(row.stage),
        status=Status(row.status),
        category=row.category,
        category_name=names.category(row.category),
        town_name=names.town(row.town),
        grid_name=names.grid(row.grid),
        reported_at=row.reported_at,
        closed_at=row.closed_at,
        reply=_reply(events) if row.stage in REPLIED_STAGES else None,
        rating=Rating(row.rating) if row.rating else None,
        awaiting_feedback=row.status == Status.AWAITING_FEEDBACK,
        milestones=[
            Milestone(
                type=event.type,
                at=event.at,
                department=_department_of(event.data),
                department_name=names.department(_department_of(event.data)),
            )
            for event in events
            if event.type in MILESTONES
        ],
    )


async def rate(
    service: CaseService,
    lookup_code: str,
    rating: Rating,
    comment: str,
    idempotency_key: str | None,
) -> ActionAccepted:
    """The reporter's rating, accepted while the case awaits feedback (不满意 sends it back for
    re-handling). The rater is known by the lookup code, never by name."""
    with service.sessions() as session:
        row: CaseRecord | None = queries.case_by_lookup_code(session, normalise_code(lookup_code))
    if row is None or row.lookup_code is None:
        raise Refused(RefusalKind.NOT_FOUND, "lookup_code_not_found")
    reporter = Principal(user_id=f"public:{row.lookup_code}", role=Role.REPORTER)
    fields = {"rating": rating, "channel": FeedbackChannel.DIRECT, "comment": comment}
    return await service.act(reporter, row.case_no, RateFeedback, fields, idempotency_key)


def _reply(events: Sequence[CaseEventRecord]) -> str | None:
    for event in reversed(events):
        if event.type in ("final_reply", "completed", "resolved_on_site"):
            text = event.data.get("reply") or event.data.get("result")
            return str(text) if text else None
    return None


def _department_of(data: dict[str, object]) -> str | None:
    department = data.get("department")
    return department if isinstance(department, str) else None


Named = CategoryRecord | TownRecord | GridRecord | DepartmentRecord


class _Names:
    """Display names of reference codes in one language, looked up as needed."""

    def __init__(self, session: Session, language: str) -> None:
        self._session = session
        self._english = language == "en"

    def category(self, code: str) -> str:
        return self._name(self._session.get(CategoryRecord, code), code)

    def town(self, code: str) -> str:
        return self._name(self._session.get(TownRecord, code), code)

    def grid(self, code: str) -> str:
        return self._name(self._session.get(GridRecord, code), code)

    def department(self, code: str | None) -> str | None:
        if code is None:
            return None
        return self._name(self._session.get(DepartmentRecord, code), code)

    def _name(self, found: Named | None, code: str) -> str:
        if found is None:
            return code
        return found.name_en if self._english else found.name
