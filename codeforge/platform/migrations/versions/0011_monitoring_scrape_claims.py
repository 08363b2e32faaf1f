"""monitoring: scrape claims and health on the target's row

Revision ID: 0011_monitoring_scrape_claims
Revises: 0010_monitoring_dashboards
Create Date: 2026-11-30 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import codeforge.platform.db


revision: str = '0011_monitoring_scrape_claims'
down_revision: str | None = '0010_monitoring_dashboards'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('monitoring_targets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_scrape_at', codeforge.platform.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_scrape_at', codeforge.platform.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_up', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('last_duration_s', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('last_error', sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('last_samples', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('monitoring_targets', schema=None) as batch_op:
        batch_op.drop_column('last_samples')
        batch_op.drop_column('last_error')
        batch_op.drop_column('last_duration_s')
        batch_op.drop_column('last_up')
        batch_op.drop_column('last_scrape_at')
        batch_op.drop_column('next_scrape_at')
