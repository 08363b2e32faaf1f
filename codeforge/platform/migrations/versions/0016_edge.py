"""edge: routes, edge nodes and the config version

Revision ID: 0016_edge
Revises: 0015_certificates
Create Date: 2026-11-30 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codeforge.platform.db import UTCDateTime

revision: str = "0016_edge"
down_revision: str | None = "0015_certificates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "edge_config",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edge_config")),
    )
    op.create_table(
        "edge_nodes",
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("region", sa.String(length=63), nullable=False),
        sa.Column("admin_url", sa.String(length=200), nullable=False),
        sa.Column("http_address", sa.String(length=200), nullable=False),
        sa.Column("https_address", sa.String(length=200), nullable=False),
        sa.Column("lb_address", sa.String(length=200), nullable=False),
        sa.Column("cache_address", sa.String(length=200), nullable=False),
        sa.Column("access_log", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_edge_nodes")),
    )
    op.create_table(
        "edge_routes",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_edge_routes_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edge_routes")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_edge_routes_project_id")),
    )
    with op.batch_alter_table("edge_routes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_edge_routes_project_id"), ["project_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("edge_routes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_edge_routes_project_id"))
    op.drop_table("edge_routes")
    op.drop_table("edge_nodes")
    op.drop_table("edge_config")
