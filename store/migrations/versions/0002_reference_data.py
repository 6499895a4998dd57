"""reference data

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 06:54:31.345583
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "departments",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_departments")),
    )
    op.create_table(
        "towns",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_towns")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["departments.code"],
            name=op.f("fk_api_tokens_department_code_departments"),
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_api_tokens")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_api_tokens_department_code"), ["department_code"], unique=False
        )

    op.create_table(
        "categories",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=False),
        sa.Column("lead_department", sa.String(length=64), nullable=False),
        sa.Column("co_departments", sa.JSON(), nullable=False),
        sa.Column("follow_up_days", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_department"],
            ["departments.code"],
            name=op.f("fk_categories_lead_department_departments"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_categories")),
    )
    op.create_table(
        "communities",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("town_code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["town_code"], ["towns.code"], name=op.f("fk_communities_town_code_towns")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_communities")),
    )
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_communities_town_code"), ["town_code"], unique=False)

    op.create_table(
        "users",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=True),
        sa.Column("grid_codes", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["departments.code"],
            name=op.f("fk_users_department_code_departments"),
        ),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_users")),
    )
    op.create_table(
        "category_policies",
        sa.Column("category_code", sa.String(length=64), nullable=False),
        sa.Column("urgency", sa.String(length=16), nullable=False),
        sa.Column("sign_for_hours", sa.Double(), nullable=False),
        sa.Column("handling_days", sa.Integer(), nullable=False),
        sa.Column("consultation_days", sa.Integer(), nullable=False),
        sa.Column("feedback_days", sa.Integer(), nullable=False),
        sa.Column("warning_ratio", sa.Double(), nullable=False),
        sa.Column("escalation_grace_hours", sa.Double(), nullable=False),
        sa.Column("max_rehandling_rounds", sa.Integer(), nullable=False),
        sa.Column("repeated_return_threshold", sa.Integer(), nullable=False),
        sa.Column("review_sampling_rate", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_code"],
            ["categories.code"],
            name=op.f("fk_category_policies_category_code_categories"),
        ),
        sa.PrimaryKeyConstraint("category_code", "urgency", name=op.f("pk_category_policies")),
    )
    op.create_table(
        "grids",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("community_code", sa.String(length=64), nullable=False),
        sa.Column("town_code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=128), nullable=False),
        sa.Column("leader", sa.String(length=64), nullable=False),
        sa.Column("instructor", sa.String(length=64), nullable=False),
        sa.Column("full_time_worker", sa.String(length=64), nullable=False),
        sa.Column("part_time_workers", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["community_code"],
            ["communities.code"],
            name=op.f("fk_grids_community_code_communities"),
        ),
        sa.ForeignKeyConstraint(
            ["town_code"], ["towns.code"], name=op.f("fk_grids_town_code_towns")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_grids")),
    )
    with op.batch_alter_table("grids", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_grids_community_code"), ["community_code"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_grids_town_code"), ["town_code"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("grids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grids_town_code"))
        batch_op.drop_index(batch_op.f("ix_grids_community_code"))

    op.drop_table("grids")
    op.drop_table("category_policies")
    op.drop_table("users")
    with op.batch_alter_table("communities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_communities_town_code"))

    op.drop_table("communities")
    op.drop_table("categories")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_department_code"))

    op.drop_table("api_tokens")
    op.drop_table("towns")
    op.drop_table("departments")
