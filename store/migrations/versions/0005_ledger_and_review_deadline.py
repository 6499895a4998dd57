"""hash chain over each case's business events, deadline of post-hoc review work

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Events written before this revision carry no hash: `gridloop rebuild-projection` seals them.
    with op.batch_alter_table("case_events") as batch:
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
    with op.batch_alter_table("reviews") as batch:
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_reviews_recorded_at_due_at", "reviews", ["recorded_at", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_reviews_recorded_at_due_at", table_name="reviews")
    with op.batch_alter_table("reviews") as batch:
        batch.drop_column("due_at")
    with op.batch_alter_table("case_events") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
