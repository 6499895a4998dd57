"""lookup code and reporter of a case, working-time handling duration of an assignment

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 20:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows written before this revision are rewritten by `gridloop rebuild-projection`.
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("lookup_code", sa.String(length=8), nullable=True))
        batch.add_column(
            sa.Column("reported_by", sa.String(length=64), nullable=False, server_default="")
        )
        batch.create_unique_constraint(op.f("uq_cases_lookup_code"), ["lookup_code"])
    with op.batch_alter_table("cases") as batch:
        batch.alter_column("reported_by", server_default=None)
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(sa.Column("handling_working_seconds", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("handling_working_seconds")
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint(op.f("uq_cases_lookup_code"), type_="unique")
        batch.drop_column("reported_by")
        batch.drop_column("lookup_code")
