"""workspaces: workspaces, snapshots, ports and intents

Revision ID: 0012_workspaces
Revises: 0011_monitoring_scrape_claims
Create Date: 2026-11-30 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import codeforge.platform.db


revision: str = '0012_workspaces'
down_revision: str | None = '0011_monitoring_scrape_claims'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('workspace_intents',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('operation', sa.String(length=63), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('made', sa.JSON(), nullable=False),
    sa.Column('lease_until', codeforge.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', codeforge.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workspace_intents'))
    )
    with op.batch_alter_table('workspace_intents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workspace_intents_project_id'), ['project_id'], unique=False)

    op.create_table('workspaces',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('runtime', sa.String(length=16), nullable=False),
    sa.Column('template', sa.String(length=63), nullable=True),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('handle', sa.JSON(), nullable=True),
    sa.Column('tree', sa.Text(), nullable=False),
    sa.Column('env_sealed', sa.Text(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=63), nullable=False),
    sa.Column('created_at', codeforge.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', codeforge.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_workspaces_project_id_projects'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workspaces')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_workspaces_project_id'))
    )
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workspaces_project_id'), ['project_id'], unique=False)

    op.create_table('workspace_ports',
    sa.Column('host_port', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('workspace_id', sa.String(length=32), nullable=False),
    sa.Column('service', sa.String(length=63), nullable=False),
    sa.Column('inside', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_workspace_ports_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('host_port', name=op.f('pk_workspace_ports'))
    )
    with op.batch_alter_table('workspace_ports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workspace_ports_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('workspace_snapshots',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('project_id', sa.String(length=32), nullable=False),
    sa.Column('workspace_id', sa.String(length=32), nullable=True),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('tree', sa.Text(), nullable=False),
    sa.Column('contents', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=63), nullable=False),
    sa.Column('created_at', codeforge.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['project_id'], ['projects.id'], name=op.f('fk_workspace_snapshots_project_id_projects'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_workspace_snapshots_workspace_id_workspaces'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workspace_snapshots')),
    sa.UniqueConstraint('project_id', 'name', name=op.f('uq_workspace_snapshots_project_id'))
    )
    with op.batch_alter_table('workspace_snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workspace_snapshots_project_id'), ['project_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_workspace_snapshots_workspace_id'), ['workspace_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('workspace_snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workspace_snapshots_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_workspace_snapshots_project_id'))
    op.drop_table('workspace_snapshots')
    with op.batch_alter_table('workspace_ports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workspace_ports_workspace_id'))
    op.drop_table('workspace_ports')
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workspaces_project_id'))
    op.drop_table('workspaces')
    with op.batch_alter_table('workspace_intents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workspace_intents_project_id'))
    op.drop_table('workspace_intents')
