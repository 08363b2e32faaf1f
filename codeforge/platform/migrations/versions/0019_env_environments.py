"""env: variables per deployment environment (a shared value, or production's, preview's or
development's own); existing variables become the shared ones ("all")

Revision ID: 0019_env_environments
Revises: 0018_deployments
Create Date: 2026-11-30 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_env_environments"
down_revision: str | None = "0018_deployments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The server default fills every existing row: what was one value per name is the shared one.
    with op.batch_alter_table("env_variables", schema=None) as batch_op:
        batch_op.add_column(sa.Column("environment", sa.String(length=16), nullable=False, server_default="all"))
        batch_op.drop_constraint("uq_env_variables_project_id", type_="unique")
        batch_op.create_unique_constraint(
            "uq_env_variables_project_id_name_environment", ["project_id", "name", "environment"]
        )


def downgrade() -> None:
    # One value per name again: the environments' own values go, the shared ones stay.
    op.execute(sa.text("DELETE FROM env_variables WHERE environment <> 'all'"))
    with op.batch_alter_table("env_variables", schema=None) as batch_op:
        batch_op.drop_constraint("uq_env_variables_project_id_name_environment", type_="unique")
        batch_op.create_unique_constraint("uq_env_variables_project_id", ["project_id", "name"])
        batch_op.drop_column("environment")
