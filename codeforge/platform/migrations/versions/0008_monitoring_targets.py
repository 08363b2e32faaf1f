"""monitoring: scrape targets

Revision ID: 0008_monitoring_targets
Revises: 0007_agents
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

import codeforge.platform.db  # noqa: F401


revision: str = '0008_monitoring_targets'
down_revision: str | None = '0007_agents'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
