"""final-reply and verification clocks, withdrawn assignments

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 20:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing policies get the demo county's 一般 (normal) lengths; operators adjust them.
    with op.batch_alter_table("category_policies") as batch:
        batch.add_column(sa.Column("final_reply_hours", sa.Double(), nullable=True))
        batch.add_column(sa.Column("verification_days", sa.Integer(), nullable=True))
    op.execute("UPDATE category_policies SET final_reply_hours = 8, verification_days = 2")
    with op.batch_alter_table("category_policies") as batch:
        batch.alter_column("final_reply_hours", nullable=False)
        batch.alter_column("verification_days", nullable=False)
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("withdrawn_at")
    with op.batch_alter_table("category_policies") as batch:
        batch.drop_column("verification_days")
        batch.drop_column("final_reply_hours")
