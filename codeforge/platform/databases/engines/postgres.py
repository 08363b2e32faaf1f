"""A PostgreSQL server CodeForge administers through an admin URL: its own cluster or any
external server. Each database gets a role of its own that can reach nothing else."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from codeforge.catalog.errors import Conflict, ExternalFailure, NotFound
from codeforge.platform.databases.engines.common import (
    PARTIAL_PREFIX,
    Connection,
    DatabaseSize,
    check_name,
    new_password,
    pg_bin_dir,
    scram_sha256_verifier,
    tail,
)

__all__ = ["EngineAuthFailed", "EngineUnreachable", "PostgresEngine"]


class EngineUnreachable(ExternalFailure):
    """The server did not answer."""


class EngineAuthFailed(ExternalFailure):
    """The server answered and refused the admin credentials."""


def translate_connect_error(exc: psycopg.OperationalError, where: str, kind: str = "PostgreSQL") -> ExternalFailure:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lowered = str(exc).lower()
    if (
        "password authentication failed" in lowered
        or "no password supplied" in lowered
        or ("role" in lowered and "does not exist" in lowered)
    ):
        return EngineAuthFailed(
            f"{kind} at {where} rejected the admin credentials ({text})",
            fix="check the admin URL's user and password (`databases engines_register` with the right URL)",
        )
    return EngineUnreachable(
        f"cannot reach {kind} at {where}: {text}",
        fix="start the server or correct the admin URL's host and port",
    )


class PostgresEngine:
    """Databases and roles on one PostgreSQL server, administered with a superuser URL."""

    kind = "postgresql"

    def __init__(self, admin_url: str, *, bin_dir: Path | None = None, connect_timeout: int = 5) -> None:
        self.admin_url = admin_url
        params = conninfo_to_dict(admin_url)
        self.host = str(params.get("host") or "127.0.0.1")
        self.port = int(params.get("port") or 5432)
        self.admin_user = str(params.get("user") or "postgres")
        self.admin_password = str(params.get("password") or "")
        self.connect_timeout = connect_timeout
        self._bin_dir = bin_dir

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    # -- connections -------------------------------------------------------------------------

    @contextmanager
    def admin(self, database: str | None = None) -> Iterator[psycopg.Connection]:
        """An autocommit admin connection (CREATE DATABASE cannot run in a transaction)."""
        kwargs: dict[str, object] = {"autocommit": True, "connect_timeout": self.connect_timeout}
        if database:
            kwargs["dbname"] = database
        try:
            conn = psycopg.connect(self.admin_url, **kwargs)  # type: ignore[arg-type]
        except psycopg.OperationalError as exc:
            raise translate_connect_error(exc, self.where) from None
        try:
            yield conn
        finally:
            conn.close()

    def server_major(self) -> int:
        with self.admin() as conn:
            return conn.info.server_version // 10000

    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = pg_bin_dir(self.server_major())
        return self._bin_dir

    def connection(self, database: str, user: str, password: str) -> Connection:
        return Connection("postgresql", self.host, self.port, database, user, password)

    # -- inspection --------------------------------------------------------------------------

    def database_exists(self, name: str) -> bool:
        with self.admin() as conn:
            return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None

    def role_exists(self, role: str) -> bool:
        with self.admin() as conn:
            return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None

    def list_databases(self) -> list[DatabaseSize]:
        with self.admin() as conn:
            rows = conn.execute(
                "SELECT d.datname, r.rolname, pg_database_size(d.oid) FROM pg_database d "
                "JOIN pg_roles r ON r.oid = d.datdba WHERE NOT d.datistemplate AND d.datallowconn "
                "ORDER BY d.datname"
            ).fetchall()
        return [DatabaseSize(n, o, int(s)) for n, o, s in rows]

    def size(self, name: str) -> int:
        with self.admin() as conn:
            row = conn.execute("SELECT pg_database_size(oid) FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if row is None:
            raise NotFound(
                f"database {name!r} does not exist on {self.where}",
                fix="list the engine's databases with `databases list`",
            )
        return int(row[0])

    # -- provisioning ------------------------------------------------------------------------

    def create_database(self, name: str, role: str | None = None, password: str | None = None) -> Connection:
        """A database owned by a new login role that only it may connect to. On any failure
        what was made is removed again."""
        check_name(name)
        role = check_name(role or name, "role")
        password = password or new_password()
        made_role = made_db = False
        try:
            with self.admin() as conn:
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                    raise Conflict(
                        f"database {name!r} already exists on {self.where}",
                        fix="choose another name, or delete the existing database first",
                    )
                if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                    raise Conflict(
                        f"role {role!r} already exists on {self.where}",
                        fix="choose another database name, or drop the role on the server",
                    )
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
                        sql.Identifier(role), sql.Literal(scram_sha256_verifier(password))
                    )
                )
                made_role = True
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(role)))
                made_db = True
                self._lock_down(conn, name, role)
        except BaseException:
            self._undo(name if made_db else None, role if made_role else None)
            raise
        return self.connection(name, role, password)

    def _lock_down(self, conn: psycopg.Connection, name: str, role: str) -> None:
        # Every database is CONNECT-able by PUBLIC by default: take that away so other
        # projects' roles cannot even open a session on it.
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(name)))
        conn.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(sql.Identifier(name), sql.Identifier(role))
        )

    def role_verifier(self, role: str) -> str | None:
        """The role's stored SCRAM verifier (PgBouncer's auth file needs the very same one);
        None where the admin may not read pg_authid."""
        try:
            with self.admin() as conn:
                row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()
        except psycopg.errors.InsufficientPrivilege:
            return None
        return str(row[0]) if row and row[0] else None

    def set_password(self, role: str, password: str) -> None:
        with self.admin() as conn:
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(scram_sha256_verifier(password))
                )
            )

    def _undo(self, name: str | None, role: str | None) -> None:
        with suppress(Exception):
            self.drop_database(name or "", role, missing_ok=True)

    def drop_database(self, name: str, role: str | None = None, *, missing_ok: bool = False) -> None:
        """Drop a database (disconnecting its sessions) and then its role, if it owns nothing else."""
        with self.admin() as conn:
            if name:
                exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
                if not exists and not missing_ok:
                    raise NotFound(
                        f"database {name!r} does not exist on {self.where}",
                        fix="list the engine's databases with `databases list`",
                    )
                if exists:
                    self._drop(conn, name)
            if role and conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                owned = conn.execute(
                    "SELECT count(*) FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE r.rolname = %s",
                    (role,),
                ).fetchone()
                if owned and owned[0] == 0:  # branches made by TEMPLATE still use it
                    conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))

    def _drop(self, conn: psycopg.Connection, name: str) -> None:
        if conn.info.server_version >= 130000:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            return
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))

    # -- copies ------------------------------------------------------------------------------

    def open_sessions(self, name: str) -> int:
        with self.admin() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,)
            ).fetchone()
        return int(row[0]) if row else 0

    def copy_database(
        self, source: str, target: str, owner: str, *, force: bool = False, replace: bool = False
    ) -> None:
        """`CREATE DATABASE target TEMPLATE source` (FILE_COPY strategy where the server has it).
        PostgreSQL refuses while anyone is connected to the source: with `force` their sessions
        are ended, otherwise the error says so. The copy is made under a temporary name and
        renamed when complete, so an interrupted copy is recognisable and swept; with
        `replace`, the complete copy takes the place of an existing `target` (a reset)."""
        check_name(target)
        partial = self._partial_name(target)
        with self._claim(partial) as conn:
            if not replace and conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target,)).fetchone():
                raise Conflict(f"database {target!r} already exists on {self.where}", fix="choose another name")
            strategy = sql.SQL(" STRATEGY FILE_COPY") if conn.info.server_version >= 150000 else sql.SQL("")
            stmt = (
                sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                    sql.Identifier(partial), sql.Identifier(source), sql.Identifier(owner)
                )
                + strategy
            )
            renamed = False
            try:
                for attempt in range(5):
                    if force:
                        conn.execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = %s AND pid <> pg_backend_pid()",
                            (source,),
                        )
                    try:
                        conn.execute(stmt)
                        break
                    except psycopg.errors.ObjectInUse:
                        busy = conn.execute(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                            (source,),
                        ).fetchone()
                        if not force or attempt == 4:
                            raise Conflict(
                                f"database {source!r} has {busy[0] if busy else 'some'} open session(s); "
                                "PostgreSQL copies a database only while nobody is connected to it",
                                fix="close the app's connections, or branch with force=true to disconnect them "
                                "(a data dir on btrfs gives copy-on-write branches that need neither)",
                            ) from None
                        time.sleep(0.05 * (attempt + 1))  # an app reconnected in between: try again
                if replace:
                    self._drop(conn, target)
                conn.execute(
                    sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(partial), sql.Identifier(target))
                )
                renamed = True
                self._lock_down(conn, target, owner)
            except BaseException:
                with suppress(Exception):
                    self._drop(conn, target if renamed else partial)
                raise

    @contextmanager
    def _claim(self, partial: str) -> Iterator[psycopg.Connection]:
        """An admin connection holding the advisory lock of a temporary copy's name for as
        long as the copy is being made. The sweep drops a `cfpartial_` database only when it
        can take that lock: its maker is gone (a killed platform's CREATE DATABASE that
        commits later leaves it unlocked too), never while a live operation fills it."""
        with self.admin() as conn:
            conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (partial,))
            self._drop(conn, partial)  # a leftover of a killed copy of the same name
            yield conn

    def copy_by_dump(self, source: str, target: str, owner: str) -> None:
        """`pg_dump -Fc | pg_restore` into a new database: works on any server, and is the
        baseline the benchmark compares copy-on-write branches against."""
        check_name(target)
        partial = self._partial_name(target)
        with self._claim(partial):
            self._create_empty(partial, owner)
            self._fill_by_dump(source, partial, target, owner)

    def _fill_by_dump(self, source: str, partial: str, target: str, owner: str) -> None:
        try:
            dump = subprocess.Popen(
                [str(self.bin_dir / "pg_dump"), "-Fc", "-d", source],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._tool_env(),
            )
            restore = self._tool(
                "pg_restore", "--no-owner", f"--role={owner}", "--exit-on-error", "-d", partial, stdin=dump.stdout
            )
            assert dump.stdout is not None
            dump.stdout.close()
            dump_err = dump.stderr.read().decode() if dump.stderr else ""
            if dump.wait() != 0 or restore.returncode != 0:
                raise ExternalFailure(
                    f"copying {source!r} by dump and restore failed: {tail(dump_err + restore.stderr)}",
                    fix="check the server log; the source database must be readable",
                )
            self._rename_and_lock(partial, target, owner)
        except BaseException:
            self.drop_database(partial, missing_ok=True)
            raise

    def _create_empty(self, name: str, owner: str) -> None:
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner)))

    def replace_database(self, source: str, target: str, owner: str) -> None:
        """Drop `target` (ending its sessions) and rename `source` to it: the last step of a
        reset or an in-place restore, once the new contents are complete."""
        with self.admin() as conn:
            self._drop(conn, target)
        self._rename_and_lock(source, target, owner)

    def _rename_and_lock(self, partial: str, target: str, owner: str) -> None:
        with self.admin() as conn:
            conn.execute(
                sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(partial), sql.Identifier(target))
            )
            self._lock_down(conn, target, owner)

    @staticmethod
    def _partial_name(target: str) -> str:
        return (PARTIAL_PREFIX + target)[:63]

    def sweep_partials(self) -> list[str]:
        """Drop databases an interrupted copy or restore left under their temporary name:
        those whose advisory lock is free (see `_claim`); one being made is left alone."""
        dropped = []
        with self.admin() as conn:
            names = [
                r[0]
                for r in conn.execute(
                    "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (PARTIAL_PREFIX,)
                ).fetchall()
            ]
            for name in names:
                got = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (name,)).fetchone()
                if not got or not got[0]:
                    continue  # its maker is alive and still filling it
                try:
                    self._drop(conn, name)
                    dropped.append(name)
                finally:
                    conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (name,))
        return dropped

    # -- dump and restore --------------------------------------------------------------------

    def _tool_env(self) -> dict[str, str]:
        # The password travels in the environment, never on a command line others can read.
        return {
            **os.environ,
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.admin_user,
            "PGPASSWORD": self.admin_password,
            "PGCONNECT_TIMEOUT": str(self.connect_timeout),
            "PGAPPNAME": "codeforge",
        }

    def _tool(self, name: str, *args: str, stdin: IO[bytes] | None = None) -> subprocess.CompletedProcess[str]:
        """Run one of the server's client tools (pg_dump, pg_restore) against it, output captured."""
        return subprocess.run(
            [str(self.bin_dir / name), *args], stdin=stdin, capture_output=True, text=True, env=self._tool_env()
        )

    def dump(self, database: str, path: Path) -> None:
        """A custom-format archive of `database` at `path` (the caller makes it atomic)."""
        proc = self._tool("pg_dump", "-Fc", "-f", str(path), "-d", database)
        if proc.returncode != 0:
            raise ExternalFailure(
                f"pg_dump of {database!r} failed: {tail(proc.stderr)}",
                fix=_disk_fix(proc.stderr) or "check that the server is up and the database exists",
            )

    def archive_tables(self, path: Path) -> int:
        """How many tables an archive holds, read from its table of contents."""
        out = self._tool("pg_restore", "--list", str(path))
        if out.returncode != 0:
            raise ExternalFailure(
                f"cannot read backup archive {path.name}: {tail(out.stderr)}",
                fix="the file is damaged; restore another backup",
            )
        return sum(
            1
            for ln in out.stdout.splitlines()
            if not ln.startswith(";") and " TABLE " in ln and " TABLE DATA " not in ln
        )

    def restore(self, path: Path, target: str, owner: str, *, replace: bool = False) -> None:
        """Restore an archive into a new database owned by `owner` (objects too); with
        `replace`, the complete restore then takes the place of `target` (in place)."""
        check_name(target)
        if not replace:
            with self.admin() as conn:
                if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (target,)).fetchone():
                    raise Conflict(f"database {target!r} already exists on {self.where}", fix="choose another name")
        partial = self._partial_name(target)
        with self._claim(partial):
            self._create_empty(partial, owner)
            try:
                proc = self._tool(
                    "pg_restore", "--no-owner", f"--role={owner}", "--exit-on-error", "-d", partial, str(path)
                )
                if proc.returncode != 0:
                    raise ExternalFailure(
                        f"pg_restore into {target!r} failed: {tail(proc.stderr)}",
                        fix="verify the backup; it may be damaged or from a newer server",
                    )
                if replace:
                    with self.admin() as conn:
                        self._drop(conn, target)
                self._rename_and_lock(partial, target, owner)
            except BaseException:
                self.drop_database(partial, missing_ok=True)
                raise

    def table_count(self, database: str) -> int:
        with self.admin(database) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            ).fetchone()
        return int(row[0]) if row else 0


def _disk_fix(stderr: str) -> str:
    if "No space left on device" in stderr:
        return "the backup directory's disk is full: free space or delete old backups"
    return ""
