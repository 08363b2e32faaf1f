"""A MySQL or MariaDB server CodeForge administers through an admin URL. Each database gets
a user of its own with privileges on that database only."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit

import pymysql

from codeforge.catalog.errors import BadInput, Conflict, ExternalFailure, FieldProblem, NotFound
from codeforge.platform.databases.engines.common import (
    PARTIAL_PREFIX,
    Connection,
    DatabaseSize,
    check_name,
    new_password,
    tail,
)
from codeforge.platform.databases.engines.postgres import EngineAuthFailed, EngineUnreachable

__all__ = ["MySQLEngine"]

_SYSTEM = ("mysql", "information_schema", "performance_schema", "sys")
_ACCESS_DENIED = 1045
_CANNOT_CONNECT = (2003, 2005, 2006, 2013)


def _q(identifier: str) -> str:
    """Backtick-quote an identifier (names are validated first; this is belt and braces)."""
    return "`" + identifier.replace("`", "``") + "`"


class MySQLEngine:
    kind = "mysql"

    def __init__(self, admin_url: str, *, connect_timeout: int = 5) -> None:
        parts = urlsplit(admin_url)
        if parts.scheme not in ("mysql", "mariadb", "mysql+pymysql"):
            raise BadInput(
                "not a MySQL URL",
                errors=[
                    FieldProblem(
                        "admin_url", f"scheme {parts.scheme!r} is not mysql://", "use mysql://USER:PASSWORD@HOST:PORT"
                    )
                ],
            )
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 3306
        self.admin_user = unquote(parts.username or "root")
        self.admin_password = unquote(parts.password or "")
        self.connect_timeout = connect_timeout

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    @contextmanager
    def admin(self, database: str | None = None) -> Iterator[pymysql.connections.Connection]:
        try:
            conn = pymysql.connect(
                host=self.host,
                port=self.port,
                user=self.admin_user,
                password=self.admin_password,
                database=database,
                autocommit=True,
                connect_timeout=self.connect_timeout,
                charset="utf8mb4",
            )
        except pymysql.err.OperationalError as exc:
            code = exc.args[0] if exc.args else 0
            if code == _ACCESS_DENIED:
                raise EngineAuthFailed(
                    f"MySQL at {self.where} rejected the admin credentials ({exc.args[1]})",
                    fix="check the admin URL's user and password",
                ) from None
            raise EngineUnreachable(
                f"cannot reach MySQL at {self.where}: {exc.args[-1]}",
                fix="start the server or correct the admin URL's host and port",
            ) from None
        try:
            yield conn
        finally:
            conn.close()

    def server_version(self) -> str:
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            row = cur.fetchone()
        return str(row[0]) if row else ""

    def connection(self, database: str, user: str, password: str) -> Connection:
        return Connection("mysql", self.host, self.port, database, user, password)

    def database_exists(self, name: str) -> bool:
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (name,))
            return cur.fetchone() is not None

    def _user_exists(self, cur: pymysql.cursors.Cursor, user: str) -> bool:
        cur.execute("SELECT 1 FROM mysql.user WHERE user = %s", (user,))
        return cur.fetchone() is not None

    def create_database(self, name: str, role: str | None = None, password: str | None = None) -> Connection:
        check_name(name)
        role = check_name(role or name, "role")
        if len(role) > 32:  # MySQL's limit (MariaDB allows 80): stay portable
            raise BadInput(
                f"user name {role!r} is too long for MySQL",
                errors=[FieldProblem("name", "at most 32 characters on MySQL", "use a shorter name")],
            )
        password = password or new_password()
        made_db = made_user = False
        try:
            with self.admin() as conn, conn.cursor() as cur:
                cur.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (name,))
                if cur.fetchone():
                    raise Conflict(
                        f"database {name!r} already exists on {self.where}",
                        fix="choose another name, or delete the existing database first",
                    )
                if self._user_exists(cur, role):
                    raise Conflict(
                        f"user {role!r} already exists on {self.where}",
                        fix="choose another database name, or drop the user on the server",
                    )
                cur.execute(f"CREATE DATABASE {_q(name)} CHARACTER SET utf8mb4")
                made_db = True
                cur.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (role, password))
                made_user = True
                cur.execute(f"GRANT ALL PRIVILEGES ON {_q(name)}.* TO %s@'%%'", (role,))
        except BaseException:
            with suppress(Exception):
                self.drop_database(name if made_db else "", role if made_user else None, missing_ok=True)
            raise
        return self.connection(name, role, password)

    def grant(self, database: str, user: str) -> None:
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute(f"GRANT ALL PRIVILEGES ON {_q(database)}.* TO %s@'%%'", (user,))

    def set_password(self, user: str, password: str) -> None:
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute("ALTER USER %s@'%%' IDENTIFIED BY %s", (user, password))

    def drop_database(self, name: str, role: str | None = None, *, missing_ok: bool = False) -> None:
        """Drop the database, then the user once no other database (a branch) is granted to it."""
        with self.admin() as conn, conn.cursor() as cur:
            if name:
                cur.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (name,))
                if cur.fetchone() is None and not missing_ok:
                    raise NotFound(
                        f"database {name!r} does not exist on {self.where}",
                        fix="list the engine's databases with `databases list`",
                    )
                cur.execute(f"DROP DATABASE IF EXISTS {_q(name)}")
                # Grants outlive a dropped database in MySQL: remove them with it.
                cur.execute("SELECT user, host FROM mysql.db WHERE db = %s", (name,))
                for user, host in cur.fetchall():
                    with suppress(pymysql.err.MySQLError):
                        cur.execute(f"REVOKE ALL PRIVILEGES ON {_q(name)}.* FROM %s@%s", (user, host))
            if role and self._user_exists(cur, role):
                cur.execute("SELECT count(*) FROM mysql.db WHERE user = %s", (role,))
                row = cur.fetchone()
                if not row or row[0] == 0:
                    cur.execute("DROP USER IF EXISTS %s@'%%'", (role,))

    def list_databases(self) -> list[DatabaseSize]:
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT s.schema_name, COALESCE(SUM(t.data_length + t.index_length), 0) "
                "FROM information_schema.schemata s LEFT JOIN information_schema.tables t "
                "ON t.table_schema = s.schema_name GROUP BY s.schema_name ORDER BY s.schema_name"
            )
            rows = cur.fetchall()
        return [DatabaseSize(str(n), "", int(s)) for n, s in rows if n not in _SYSTEM]

    def size(self, name: str) -> int:
        for db in self.list_databases():
            if db.name == name:
                return db.size_bytes
        raise NotFound(
            f"database {name!r} does not exist on {self.where}", fix="list the engine's databases with `databases list`"
        )

    # -- dumps -------------------------------------------------------------------------------

    @staticmethod
    def _tool(*names: str) -> str:
        for n in names:
            found = shutil.which(n)
            if found:
                return found
        raise ExternalFailure(f"{names[0]} is not installed", fix="apt-get install mariadb-client")

    @contextmanager
    def _defaults_file(self) -> Iterator[str]:
        # The password goes in a 0600 option file, never on a command line others can read.
        fd, path = tempfile.mkstemp(prefix="cf-my-", suffix=".cnf")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(
                    f'[client]\nuser={self.admin_user}\npassword="{self.admin_password}"\n'
                    f"host={self.host}\nport={self.port}\nprotocol=TCP\n"
                )
            yield path
        finally:
            os.unlink(path)

    def _dump_args(self, defaults: str, database: str) -> list[str]:
        return [
            self._tool("mariadb-dump", "mysqldump"),
            f"--defaults-extra-file={defaults}",
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--no-tablespaces",
            database,
        ]

    def dump(self, database: str, path: Path) -> None:
        with self._defaults_file() as defaults, path.open("wb") as out:
            proc = subprocess.run(self._dump_args(defaults, database), stdout=out, stderr=subprocess.PIPE)
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace")
            raise ExternalFailure(
                f"mariadb-dump of {database!r} failed: {tail(err)}",
                fix="free space in the backup directory"
                if "No space" in err or "Errcode: 28" in err
                else "check that the server is up and the database exists",
            )

    def archive_tables(self, path: Path) -> int:
        count = 0
        with path.open("rb") as fh:
            for line in fh:
                if line.startswith(b"CREATE TABLE "):
                    count += 1
        return count

    def _load(self, source: Path | None, stdin: IO[bytes] | None, database: str) -> None:
        with self._defaults_file() as defaults, source.open("rb") if source else nullcontext(stdin) as feed:
            proc = subprocess.run(
                [self._tool("mariadb", "mysql"), f"--defaults-extra-file={defaults}", database],
                stdin=feed,
                capture_output=True,
            )
        if proc.returncode != 0:
            raise ExternalFailure(
                f"loading into {database!r} failed: {tail(proc.stderr.decode(errors='replace'))}",
                fix="verify the backup; it may be damaged",
            )

    def restore(self, path: Path, target: str, owner: str) -> None:
        self._fill_new(target, owner, lambda partial: self._load(path, None, partial))

    def copy_by_dump(self, source: str, target: str, owner: str) -> None:
        """A branch on MySQL: dump the source and load it into a new database, piped."""

        def fill(partial: str) -> None:
            with self._defaults_file() as defaults:
                dump = subprocess.Popen(
                    self._dump_args(defaults, source), stdout=subprocess.PIPE, stderr=subprocess.PIPE
                )
                try:
                    self._load(None, dump.stdout, partial)
                finally:
                    assert dump.stdout is not None
                    dump.stdout.close()
                    err = dump.stderr.read().decode(errors="replace") if dump.stderr else ""
                    code = dump.wait()
                if code != 0:
                    raise ExternalFailure(
                        f"mariadb-dump of {source!r} failed: {tail(err)}", fix="check that the source database exists"
                    )

        self._fill_new(target, owner, fill)

    def _fill_new(self, target: str, owner: str, fill: object) -> None:
        # MySQL cannot rename a database (and RENAME TABLE across databases breaks triggers),
        # so the copy is loaded under its final name and dropped again on any failure; the
        # platform's record of the operation in progress sweeps it after a crash.
        check_name(target)
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (target,))
            if cur.fetchone():
                raise Conflict(f"database {target!r} already exists on {self.where}", fix="choose another name")
            cur.execute(f"CREATE DATABASE {_q(target)} CHARACTER SET utf8mb4")
        try:
            fill(target)  # type: ignore[operator]
            self.grant(target, owner)
        except BaseException:
            with suppress(Exception), self.admin() as conn, conn.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS {_q(target)}")
            raise

    def sweep_partials(self) -> list[str]:
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
                (PARTIAL_PREFIX.replace("_", "\\_") + "%",),
            )
            names = [str(r[0]) for r in cur.fetchall()]
            for n in names:
                cur.execute(f"DROP DATABASE IF EXISTS {_q(n)}")
        return names

    def table_count(self, database: str) -> int:
        with self.admin() as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s", (database,))
            row = cur.fetchone()
        return int(row[0]) if row else 0
