"""daily KPI tallies and stage counts, the running deadline of open assignments, the triage
index of the case list

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = (
    "reported",
    "closed",
    "closed_on_time",
    "rated",
    "satisfied",
    "rehandled",
    "recurred",
    "assignments",
    "sign_settled",
    "signed_on_time",
    "returned",
    "completed",
    "completed_on_time",
    "handled",
)


TRIAGE_INDEX = "ix_cases_town_stage_overdue_reported_at"


def upgrade() -> None:
    # The tallies are filled by the first projection after the upgrade (store.tallies.recount
    # needs the county's time zone, which only the worker's settings know).
    op.create_table(
        "daily_tallies",
        sa.Column("grouping", sa.String(16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTS),
        sa.Column("handling_seconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("grouping", "day", "key", name="pk_daily_tallies"),
    )
    op.create_table(
        "stage_tallies",
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("stage", name="pk_stage_tallies"),
    )
    op.create_table(
        "read_model_settings",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_read_model_settings"),
    )
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("running_deadline", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE assignments SET running_deadline = CASE state "
        "WHEN 'awaiting_sign' THEN sign_due_at WHEN 'handling' THEN due_at END"
    )
    op.create_index("ix_assignments_running_deadline", "assignments", ["running_deadline"])
    op.create_index(
        "ix_assignments_department_running_deadline",
        "assignments",
        ["department", "running_deadline"],
    )
    op.create_index(TRIAGE_INDEX, "cases", ["town", "stage", "overdue", "reported_at"])


def downgrade() -> None:
    op.drop_index(TRIAGE_INDEX, table_name="cases")
    op.drop_index("ix_assignments_department_running_deadline", table_name="assignments")
    op.drop_index("ix_assignments_running_deadline", table_name="assignments")
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("running_deadline")
    op.drop_table("read_model_settings")
    op.drop_table("stage_tallies")
    op.drop_table("daily_tallies")
