"""cache: rules per route, and the purges a node still owes

Revision ID: 0017_cache
Revises: 0016_edge
Create Date: 2026-11-30 22:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import codeforge.platform.db

revision: str = "0017_cache"
down_revision: str | None = "0016_edge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cache_rules",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("route", sa.String(length=63), nullable=False),
        sa.Column("path", sa.String(length=2000), nullable=False),
        sa.Column("match", sa.String(length=8), nullable=False),
        sa.Column("ttl_s", sa.Integer(), nullable=False),
        sa.Column("grace_s", sa.Integer(), nullable=False),
        sa.Column("vary_headers", sa.JSON(), nullable=False),
        sa.Column("query_string", sa.Boolean(), nullable=False),
        sa.Column("bypass_cookie", sa.Boolean(), nullable=False),
        sa.Column("bypass_authorization", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("updated_at", codeforge.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_cache_rules_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_rules")),
        sa.UniqueConstraint("project_id", "route", "match", "path", name="uq_cache_rules_key"),
    )
    with op.batch_alter_table("cache_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cache_rules_project_id"), ["project_id"], unique=False)

    op.create_table(
        "cache_pending_purges",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("node", sa.String(length=63), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("expression", sa.JSON(), nullable=False),
        sa.Column("what", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("created_at", codeforge.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_cache_pending_purges_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cache_pending_purges")),
    )
    with op.batch_alter_table("cache_pending_purges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cache_pending_purges_node"), ["node"], unique=False)
        batch_op.create_index(batch_op.f("ix_cache_pending_purges_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cache_pending_purges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cache_pending_purges_project_id"))
        batch_op.drop_index(batch_op.f("ix_cache_pending_purges_node"))
    op.drop_table("cache_pending_purges")
    with op.batch_alter_table("cache_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cache_rules_project_id"))
    op.drop_table("cache_rules")
