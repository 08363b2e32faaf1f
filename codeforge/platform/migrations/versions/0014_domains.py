"""domains: each project's domains with their verification, and the DNS records kept for them

Revision ID: 0014_domains
Revises: 0013_workspace_pools
Create Date: 2026-11-30 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import codeforge.platform.db

revision: str = "0014_domains"
down_revision: str | None = "0013_workspace_pools"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "domains",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=True),
        sa.Column("verified_at", codeforge.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("owner_name", sa.String(length=253), nullable=True),
        sa.Column("created_by", sa.String(length=63), nullable=False),
        sa.Column("created_at", codeforge.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_domains_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domains")),
        sa.UniqueConstraint("owner_name", name=op.f("uq_domains_owner_name")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_domains_project_id")),
    )
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_domains_name"), ["name"], unique=False)
        batch_op.create_index(batch_op.f("ix_domains_project_id"), ["project_id"], unique=False)

    op.create_table(
        "domain_records",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("domain_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=253), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("ttl", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(length=63), nullable=False),
        sa.Column("updated_at", codeforge.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domains.id"], name=op.f("fk_domain_records_domain_id_domains"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domain_records")),
        sa.UniqueConstraint("domain_id", "name", "type", name=op.f("uq_domain_records_domain_id")),
    )
    with op.batch_alter_table("domain_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_domain_records_domain_id"), ["domain_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("domain_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_domain_records_domain_id"))
    op.drop_table("domain_records")
    with op.batch_alter_table("domains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_domains_project_id"))
        batch_op.drop_index(batch_op.f("ix_domains_name"))
    op.drop_table("domains")
