"""case read model

Revision ID: 0001
Revises:
Create Date: 2026-11-23 06:44:12.795771
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "cases",
        sa.Column("case_no", sa.String(length=40), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("grid", sa.String(length=64), nullable=False),
        sa.Column("town", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("reporter_name", sa.String(length=64), nullable=True),
        sa.Column("reporter_phone", sa.String(length=32), nullable=True),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("lead_department", sa.String(length=64), nullable=True),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.String(length=32), nullable=True),
        sa.Column("rounds", sa.Integer(), nullable=False),
        sa.Column("rehandling_rounds", sa.Integer(), nullable=False),
        sa.Column("recurrences", sa.Integer(), nullable=False),
        sa.Column("returns", sa.Integer(), nullable=False),
        sa.Column("review_triggers", sa.JSON(), nullable=False),
        sa.Column("last_event_sequence", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_no", name=op.f("pk_cases")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_cases_category_reported_at"), ["category", "reported_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cases_grid_reported_at"), ["grid", "reported_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cases_lead_department_reported_at"),
            ["lead_department", "reported_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_cases_overdue_reported_at"), ["overdue", "reported_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_cases_reported_at"), ["reported_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_cases_stage_reported_at"), ["stage", "reported_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_cases_town_reported_at"), ["town", "reported_at"], unique=False
        )

    op.create_table(
        "assignments",
        sa.Column("assignment_id", sa.String(length=64), nullable=False),
        sa.Column("case_no", sa.String(length=40), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sign_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sign_overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("extension_days", sa.Integer(), nullable=False),
        sa.Column("urge_count", sa.Integer(), nullable=False),
        sa.Column("supervision_tier", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_no"],
            ["cases.case_no"],
            name=op.f("fk_assignments_case_no_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("assignment_id", name=op.f("pk_assignments")),
    )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assignments_case_no"), ["case_no"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_assignments_department_state_due_at"),
            ["department", "state", "due_at"],
            unique=False,
        )

    op.create_table(
        "case_events",
        sa.Column("case_no", sa.String(length=40), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_user_id", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("actor_department", sa.String(length=64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_no"],
            ["cases.case_no"],
            name=op.f("fk_case_events_case_no_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_no", "sequence", name=op.f("pk_case_events")),
    )
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_events_type_at"), ["type", "at"], unique=False)

    op.create_table(
        "reviews",
        sa.Column("case_no", sa.String(length=40), nullable=False),
        sa.Column("triggers", sa.JSON(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("root_cause", sa.Text(), nullable=True),
        sa.Column("responsible_departments", sa.JSON(), nullable=False),
        sa.Column("responsible_people", sa.JSON(), nullable=False),
        sa.Column("score_deduction", sa.Double(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_no"],
            ["cases.case_no"],
            name=op.f("fk_reviews_case_no_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("case_no", name=op.f("pk_reviews")),
    )


def downgrade() -> None:

    op.drop_table("reviews")
    with op.batch_alter_table("case_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_events_type_at"))

    op.drop_table("case_events")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assignments_department_state_due_at"))
        batch_op.drop_index(batch_op.f("ix_assignments_case_no"))

    op.drop_table("assignments")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_town_reported_at"))
        batch_op.drop_index(batch_op.f("ix_cases_stage_reported_at"))
        batch_op.drop_index(batch_op.f("ix_cases_reported_at"))
        batch_op.drop_index(batch_op.f("ix_cases_overdue_reported_at"))
        batch_op.drop_index(batch_op.f("ix_cases_lead_department_reported_at"))
        batch_op.drop_index(batch_op.f("ix_cases_grid_reported_at"))
        batch_op.drop_index(batch_op.f("ix_cases_category_reported_at"))

    op.drop_table("cases")
