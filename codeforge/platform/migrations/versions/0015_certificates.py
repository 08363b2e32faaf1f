"""certificates: ACME accounts, certificates with sealed keys, pending challenges

Revision ID: 0015_certificates
Revises: 0014_domains
Create Date: 2026-11-30 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from codeforge.platform.db import UTCDateTime

revision: str = "0015_certificates"
down_revision: str | None = "0014_domains"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "acme_accounts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("directory_url", sa.String(length=500), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("key_sealed", sa.Text(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acme_accounts")),
        sa.UniqueConstraint("directory_url", name=op.f("uq_acme_accounts_directory_url")),
    )
    op.create_table(
        "acme_challenges",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("hostname", sa.String(length=300), nullable=False),
        sa.Column("token", sa.String(length=200), nullable=False),
        sa.Column("validation", sa.Text(), nullable=False),
        sa.Column("fqdn", sa.String(length=320), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_acme_challenges")),
        sa.UniqueConstraint("token", name=op.f("uq_acme_challenges_token")),
    )
    op.create_index(op.f("ix_acme_challenges_expires_at"), "acme_challenges", ["expires_at"], unique=False)
    op.create_index(op.f("ix_acme_challenges_project_id"), "acme_challenges", ["project_id"], unique=False)
    op.create_table(
        "certificates",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("project_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("names", sa.JSON(), nullable=False),
        sa.Column("challenge", sa.String(length=16), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("serial", sa.String(length=80), nullable=False),
        sa.Column("fingerprint", sa.String(length=100), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("not_after", UTCDateTime(), nullable=False),
        sa.Column("chain_pem", sa.Text(), nullable=False),
        sa.Column("key_sealed", sa.Text(), nullable=False),
        sa.Column("renewal_error", sa.Text(), nullable=False),
        sa.Column("renewal_failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(length=200), nullable=False),
        sa.Column("claim_until", UTCDateTime(), nullable=True),
        sa.Column("notified_at", UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.String(length=63), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("renewed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_certificates_project_id_projects"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificates")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_certificates_project_id")),
    )
    op.create_index(op.f("ix_certificates_not_after"), "certificates", ["not_after"], unique=False)
    op.create_index(op.f("ix_certificates_project_id"), "certificates", ["project_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_certificates_project_id"), table_name="certificates")
    op.drop_index(op.f("ix_certificates_not_after"), table_name="certificates")
    op.drop_table("certificates")
    op.drop_index(op.f("ix_acme_challenges_project_id"), table_name="acme_challenges")
    op.drop_index(op.f("ix_acme_challenges_expires_at"), table_name="acme_challenges")
    op.drop_table("acme_challenges")
    op.drop_table("acme_accounts")
