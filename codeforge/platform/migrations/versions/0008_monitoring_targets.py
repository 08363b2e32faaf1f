"""monitoring: scrape targets

Revision ID: 0008_monitoring_targets
Revises: 0007_agents
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import codeforge.platform.db


revision: str = "0008_monitoring_targets"
down_revision: str | None = "0007_agents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "monitoring_targets",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("interval_s", sa.Float(), nullable=True),
        sa.Column("timeout_s", sa.Float(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=63), nullable=False),
        sa.Column("created_at", codeforge.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_monitoring_targets_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_targets")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_monitoring_targets_project_id")),
    )
    with op.batch_alter_table("monitoring_targets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_monitoring_targets_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("monitoring_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitoring_targets_project_id"))

    op.drop_table("monitoring_targets")
