"""workspaces: the database branches and bridge token each workspace owns, and warm pools

Revision ID: 0013_workspace_pools
Revises: 0012_workspaces
Create Date: 2026-11-30 18:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0013_workspace_pools"
down_revision: str | None = "0012_workspaces"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.add_column(sa.Column("databases", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("bridge_token_id", sa.String(length=32), nullable=True))
    op.create_table(
        "workspace_pools",
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("template", sa.String(length=63), nullable=False),
        sa.Column("runtime", sa.String(length=16), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=63), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_workspace_pools_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("project_id", "template", name=op.f("pk_workspace_pools")),
    )


def downgrade() -> None:
    op.drop_table("workspace_pools")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_column("bridge_token_id")
        batch_op.drop_column("databases")
