"""Where telemetry lives: beside the platform's own state, in its own files or schema.

On SQLite (the embedded default) each kind of telemetry has its own file under
`data_dir/monitoring/` (metrics.db, logs.db, traces.db, errors.db): a log flood then never
holds the write lock the scraper or the platform's own state needs. On PostgreSQL (the
platform's state there; several replicas) every kind lives in the schema `monitoring` of the
platform's database, outside Alembic's view (the telemetry schema is the stores' own and
versioned by them)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from codeforge.platform.settings import Settings

if TYPE_CHECKING:
    import psycopg

__all__ = ["SCHEMA", "StoreHome"]

SCHEMA = "monitoring"


class StoreHome:
    def __init__(self, settings: Settings) -> None:
        url = settings.resolved_database_url
        self.dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
        self.folder = Path(settings.data_dir) / "monitoring"
        self._pg = (
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
            if self.dialect == "postgresql"
            else ""
        )

    @property
    def postgres(self) -> bool:
        return self.dialect == "postgresql"

    def sqlite(self, kind: str) -> sqlite3.Connection:
        """A new connection to `kind`'s file (autocommit: callers open their transactions),
        in WAL mode so readers never wait for the writer."""
        self.folder.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.folder / f"{kind}.db", check_same_thread=False, isolation_level=None, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def pg(self) -> psycopg.Connection[tuple[object, ...]]:
        """A new psycopg connection to the platform's database, with the telemetry schema
        made and first on the search path."""
        import psycopg

        conn = psycopg.connect(self._pg, autocommit=True)
        # Another store (or replica) making it at the same moment: IF NOT EXISTS races.
        with contextlib.suppress(psycopg.errors.UniqueViolation):
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(f"SET search_path TO {SCHEMA}, public")
        return conn
