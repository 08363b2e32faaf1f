"""monitoring: alert rules, states, silences, channels, notifications

Revision ID: 0009_monitoring_alerts
Revises: 0008_monitoring_targets
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import codeforge.platform.db  # noqa: F401


revision: str = '0009_monitoring_alerts'
down_revision: str | None = '0008_monitoring_targets'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
