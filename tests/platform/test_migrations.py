"""Migrations from empty on each backend, idempotent, and matching the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from codeforge.platform.db import Base, Database
from codeforge.platform.registry import load_models


def test_migrate_from_empty_and_again(state_url: str) -> None:
    db = Database(state_url)
    try:
        db.migrate()
        db.migrate()  # a restart finds the schema current and changes nothing
        tables = set(inspect(db.engine).get_table_names())
        assert {"organizations", "users", "api_tokens", "projects", "audit_log", "jobs", "env_variables"} <= tables
        load_models()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == [], f"models and migrations disagree; add a revision: {diff}"
    finally:
        db.dispose()
