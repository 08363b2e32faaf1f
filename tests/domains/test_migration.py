"""Migration 0014_domains on SQLite and PostgreSQL: up from 0013, down and up again, matching
the models, and the constraint that makes one owner per verified name."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from codeforge.platform.db import MIGRATIONS, Base, Database
from codeforge.platform.registry import load_models

TABLES = {"domains", "domain_records"}


def _to(db: Database, target: str, *, down: bool = False) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, target)


def test_0014_up_down_up_and_one_owner_per_name(state_url: str) -> None:
    db = Database(state_url)
    try:
        _to(db, "0014_domains")
        assert set(inspect(db.engine).get_table_names()) >= TABLES
        _to(db, "0013_workspace_pools", down=True)
        assert not TABLES & set(inspect(db.engine).get_table_names())
        _to(db, "0014_domains")
        load_models()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        ours = [d for d in diff if any(t in str(d) for t in TABLES)]
        assert ours == [], f"the domains models and 0014_domains disagree: {ours}"

        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO organizations (id, slug, created_at) VALUES ('o', 'o', CURRENT_TIMESTAMP)"))
            for project in ("p1", "p2"):
                conn.execute(
                    text(
                        "INSERT INTO projects (id, org_id, slug, name, created_at) "
                        "VALUES (:id, 'o', :id, :id, CURRENT_TIMESTAMP)"
                    ),
                    {"id": project},
                )
        insert = text(
            "INSERT INTO domains (id, project_id, name, token, owner_name, created_by, created_at) "
            "VALUES (:id, :project, 'shop.example.com', 't', :owner, 'me', CURRENT_TIMESTAMP)"
        )
        with db.engine.begin() as conn:  # unverified claims by two projects: both fine
            conn.execute(insert, {"id": "d1", "project": "p1", "owner": None})
            conn.execute(insert, {"id": "d2", "project": "p2", "owner": None})
            conn.execute(text("UPDATE domains SET owner_name = name WHERE id = 'd1'"))
        with pytest.raises(IntegrityError), db.engine.begin() as conn:  # a second owner: refused
            conn.execute(text("UPDATE domains SET owner_name = name WHERE id = 'd2'"))
    finally:
        db.dispose()
