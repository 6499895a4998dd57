"""Read-model tables (SQLAlchemy 2.0). Rows are projections of Temporal state, never the truth:
`gridloop rebuild-projection` can recreate every case's rows from Temporal."""

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

CODE = String(64)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (no time zones) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime written to the read model")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_N_name)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class CaseRecord(Base):
    __tablename__ = "cases"

    case_no: Mapped[str] = mapped_column(String(40), primary_key=True)
    lookup_code: Mapped[str | None] = mapped_column(String(8), unique=True)
    reported_by: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(CODE)
    urgency: Mapped[str] = mapped_column(String(16))
    grid: Mapped[str] = mapped_column(CODE)
    town: Mapped[str] = mapped_column(CODE)
    source: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(String(300))
    reporter_name: Mapped[str | None] = mapped_column(String(64))
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    stage: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    tier: Mapped[str] = mapped_column(String(16))
    lead_department: Mapped[str | None] = mapped_column(CODE)
    suspended: Mapped[bool]
    overdue: Mapped[bool]
    breached: Mapped[bool]
    reported_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    rating: Mapped[str | None] = mapped_column(String(32))
    rounds: Mapped[int]
    rehandling_rounds: Mapped[int]
    recurrences: Mapped[int]
    returns: Mapped[int]
    review_triggers: Mapped[list[str]]
    last_event_sequence: Mapped[int]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index(None, "stage", "reported_at"),
        Index(None, "town", "reported_at"),
        # The command centre's triage list: one town's overdue cases in a stage, newest first.
        Index(None, "town", "stage", "overdue", "reported_at"),
        Index(None, "grid", "reported_at"),
        Index(None, "category", "reported_at"),
        Index(None, "lead_department", "reported_at"),
        Index(None, "overdue", "reported_at"),
        Index(None, "reported_at"),
    )


class AssignmentRecord(Base):
    __tablename__ = "assignments"

    assignment_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_no: Mapped[str] = mapped_column(ForeignKey("cases.case_no", ondelete="CASCADE"))
    round: Mapped[int]
    department: Mapped[str] = mapped_column(CODE)
    role: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    assigned_at: Mapped[datetime]
    sign_due_at: Mapped[datetime]
    due_at: Mapped[datetime]
    signed_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    returned_at: Mapped[datetime | None]
    withdrawn_at: Mapped[datetime | None]
    sign_overdue_at: Mapped[datetime | None]
    overdue_at: Mapped[datetime | None]
    handling_working_seconds: Mapped[float | None]
    """Working time from assignment to completion, computed with the calendar when written."""
    running_deadline: Mapped[datetime | None]
    """The deadline that runs now: sign-for while awaiting sign, handling while handling, none
    once the assignment is settled. Indexed, so work at risk is found without a scan."""
    extension_days: Mapped[int]
    urge_count: Mapped[int]
    supervision_tier: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        Index(None, "case_no"),
        Index(None, "department", "state", "due_at"),
        Index(None, "running_deadline"),
        Index(None, "department", "running_deadline"),
    )


class CaseEventRecord(Base):
    """The append-only business timeline: one row per (case, sequence), never updated."""

    __tablename__ = "case_events"

    case_no: Mapped[str] = mapped_column(
        ForeignKey("cases.case_no", ondelete="CASCADE"), primary_key=True
    )
    sequence: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    actor_user_id: Mapped[str] = mapped_column(String(64))
    actor_role: Mapped[str] = mapped_column(String(16))
    actor_department: Mapped[str | None] = mapped_column(CODE)
    data: Mapped[dict[str, Any]]
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    """sha256 over this event's canonical encoding and `prev_hash` (see `store.ledger`)."""

    __table_args__ = (Index(None, "type", "at"),)


class DailyTally(Base):
    """The KPI counts of one local day in one cut (store.tallies keeps them in step with the
    rows): cases by the day they were reported, assignments by the day they were made."""

    __tablename__ = "daily_tallies"

    # Keyed by cut, then day: a period's rows of one cut are one range of the key.
    grouping: Mapped[str] = mapped_column(String(16), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    key: Mapped[str] = mapped_column(CODE, primary_key=True)
    """The group's code; '' for the whole county."""
    reported: Mapped[int] = mapped_column(default=0)
    closed: Mapped[int] = mapped_column(default=0)
    closed_on_time: Mapped[int] = mapped_column(default=0)
    rated: Mapped[int] = mapped_column(default=0)
    satisfied: Mapped[int] = mapped_column(default=0)
    rehandled: Mapped[int] = mapped_column(default=0)
    recurred: Mapped[int] = mapped_column(default=0)
    assignments: Mapped[int] = mapped_column(default=0)
    sign_settled: Mapped[int] = mapped_column(default=0)
    signed_on_time: Mapped[int] = mapped_column(default=0)
    returned: Mapped[int] = mapped_column(default=0)
    completed: Mapped[int] = mapped_column(default=0)
    completed_on_time: Mapped[int] = mapped_column(default=0)
    handled: Mapped[int] = mapped_column(default=0)
    """Completed assignments with a computed working time: the average's denominator."""
    handling_seconds: Mapped[int] = mapped_column(BigInteger, default=0)


class StageTally(Base):
    """How many cases are in each stage now."""

    __tablename__ = "stage_tallies"

    stage: Mapped[str] = mapped_column(String(16), primary_key=True)
    cases: Mapped[int]


class ReadModelSetting(Base):
    """Facts about how the read model was written, e.g. the time zone whose days the tallies
    count in."""

    __tablename__ = "read_model_settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))


class ReviewRecord(Base):
    __tablename__ = "reviews"

    case_no: Mapped[str] = mapped_column(
        ForeignKey("cases.case_no", ondelete="CASCADE"), primary_key=True
    )
    triggers: Mapped[list[str]]
    opened_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    """When the auditors' findings are due; None where the calendar has no data for it."""
    recorded_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(32))
    root_cause: Mapped[str | None] = mapped_column(Text)
    responsible_departments: Mapped[list[str]]
    responsible_people: Mapped[list[str]]
    score_deduction: Mapped[float]
    notes: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index(None, "recorded_at", "due_at"),)


class Open311KeyRecord(Base):
    """An Open311 client's key for posting requests (`gridloop open311-key`); only its hash is
    stored."""

    __tablename__ = "open311_keys"

    key_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


# ---- reference data: the organisation, departments, categories and people -------------------


class TownRecord(Base):
    __tablename__ = "towns"

    code: Mapped[str] = mapped_column(CODE, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))


class CommunityRecord(Base):
    __tablename__ = "communities"

    code: Mapped[str] = mapped_column(CODE, primary_key=True)
    town_code: Mapped[str] = mapped_column(ForeignKey("towns.code"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))


class GridRecord(Base):
    """A grid with its 一长三员: leader, instructor, full-time and part-time grid workers."""

    __tablename__ = "grids"

    code: Mapped[str] = mapped_column(CODE, primary_key=True)
    community_code: Mapped[str] = mapped_column(ForeignKey("communities.code"), index=True)
    town_code: Mapped[str] = mapped_column(ForeignKey("towns.code"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128))
    leader: Mapped[str] = mapped_column(String(64))
    instructor: Mapped[str] = mapped_column(String(64))
    full_time_worker: Mapped[str] = mapped_column(String(64))
    part_time_workers: Mapped[list[str]]


class DepartmentRecord(Base):
    __tablename__ = "departments"

    code: Mapped[str] = mapped_column(CODE, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128))
    tier: Mapped[str] = mapped_column(String(16))


class CategoryRecord(Base):
    """A kind of issue and its routing rule: the lead and co-handling departments."""

    __tablename__ = "categories"

    code: Mapped[str] = mapped_column(CODE, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(128))
    lead_department: Mapped[str] = mapped_column(ForeignKey("departments.code"))
    co_departments: Mapped[list[str]]
    follow_up_days: Mapped[list[int]] = mapped_column(JSON)


class CategoryPolicyRecord(Base):
    """The SLA policy of one category at one urgency; snapshotted into each case it opens."""

    __tablename__ = "category_policies"

    category_code: Mapped[str] = mapped_column(ForeignKey("categories.code"), primary_key=True)
    urgency: Mapped[str] = mapped_column(String(16), primary_key=True)
    sign_for_hours: Mapped[float]
    handling_days: Mapped[int]
    consultation_days: Mapped[int]
    feedback_days: Mapped[int]
    final_reply_hours: Mapped[float]
    verification_days: Mapped[int]
    warning_ratio: Mapped[float]
    escalation_grace_hours: Mapped[float]
    max_rehandling_rounds: Mapped[int]
    repeated_return_threshold: Mapped[int]
    review_sampling_rate: Mapped[float]


class UserRecord(Base):
    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    department_code: Mapped[str | None] = mapped_column(ForeignKey("departments.code"))
    grid_codes: Mapped[list[str]]
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool]


class ApiTokenRecord(Base):
    """A department's long-lived API token; only its hash is stored."""

    __tablename__ = "api_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    department_code: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class WebhookRecord(Base):
    """A URL a department registered for notifications of its work (docs/webhooks.md).
    Configuration, written by the API; the secret is kept in clear, since every delivery is
    signed with it."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    department: Mapped[str] = mapped_column(ForeignKey("departments.code"), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(String(100))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class WebhookDeliveryRecord(Base):
    """One notification to one webhook: the delivery log, written only by the delivery
    activities."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(160))
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id"))
    department: Mapped[str] = mapped_column(CODE)
    case_no: Mapped[str] = mapped_column(String(40))
    event: Mapped[str] = mapped_column(String(32))
    sequence: Mapped[int]
    status: Mapped[str] = mapped_column(String(16))
    """`pending` while attempts go on, then `delivered` or `failed`."""
    attempts: Mapped[int]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("notification_id", "webhook_id"),
        Index(None, "created_at"),
        Index(None, "department", "created_at"),
        Index(None, "status", "created_at"),
        Index(None, "case_no"),
    )


class WebhookAttemptRecord(Base):
    """Every request a delivery made, with its answer."""

    __tablename__ = "webhook_attempts"

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), primary_key=True
    )
    attempt: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    status_code: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(300))
    duration_ms: Mapped[int]
