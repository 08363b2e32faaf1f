"""Connection pooling through PgBouncer, which CodeForge configures, starts and reloads.

Clients authenticate to PgBouncer with SCRAM against the same verifier the server stores,
so PgBouncer can log in to the server on their behalf (SCRAM pass-through) without any
plain password on disk. Without PgBouncer installed, `available()` says so and callers
hand out the direct URL."""

from __future__ import annotations

import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from codeforge.catalog.errors import ExternalFailure
from codeforge.platform.databases.engines.common import (
    Connection,
    grant_traversal,
    os_user,
    run_tool,
    scram_sha256_verifier,
    tail,
)

__all__ = ["ADMIN_USER", "PgBouncer", "PoolEntry", "PoolStats", "find_pgbouncer"]

ADMIN_USER = "codeforge_pool_admin"
_CANDIDATES = ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer", "/usr/local/bin/pgbouncer")


def find_pgbouncer() -> str | None:
    return shutil.which("pgbouncer") or next((p for p in _CANDIDATES if os.path.exists(p)), None)


@dataclass(frozen=True)
class PoolEntry:
    alias: str  # the database name clients ask PgBouncer for
    host: str
    port: int
    database: str
    user: str
    verifier: str  # the role's SCRAM-SHA-256 verifier, as the server stores it
    pool_size: int = 20
    pool_mode: str = "session"


@dataclass(frozen=True)
class PoolStats:
    alias: str
    user: str
    clients_active: int
    clients_waiting: int
    servers_active: int
    servers_idle: int
    pool_mode: str
    total_queries: int
    total_transactions: int
    avg_query_us: int


def _quote_ini(value: str) -> str:
    if any(c in value for c in " ='\""):
        raise ValueError(f"unsafe value for pgbouncer.ini: {value!r}")
    return value


class PgBouncer:
    def __init__(
        self, root: Path, *, port: int, admin_password: str, user: str = "codeforge", binary: str | None = None
    ) -> None:
        self.root = root
        self.port = port
        self.admin_password = admin_password
        self.user_name = user
        self.binary = binary or find_pgbouncer()
        self.ini = root / "pgbouncer.ini"
        self.userlist = root / "userlist.txt"
        self.pidfile = root / "pgbouncer.pid"
        self.logfile = root / "pgbouncer.log"

    def available(self) -> bool:
        return self.binary is not None

    def unavailable_reason(self) -> str:
        return "PgBouncer is not installed on the platform host (apt-get install pgbouncer); use the direct URL"

    def pooled_url(self, conn: Connection, alias: str) -> str:
        return f"postgresql://{quote(conn.user, safe='')}:{quote(conn.password, safe='')}@127.0.0.1:{self.port}/{alias}"

    def configure(self, entries: list[PoolEntry]) -> None:
        """Write the configuration (atomically) and reload a running PgBouncer."""
        user = os_user(self.user_name)
        self.root.mkdir(parents=True, exist_ok=True)
        os.chown(self.root, user.pw_uid, user.pw_gid)
        grant_traversal(self.root, user.pw_uid)
        dbs = [
            f"{_quote_ini(e.alias)} = host={_quote_ini(e.host)} port={e.port} dbname={_quote_ini(e.database)} "
            f"pool_size={e.pool_size} pool_mode={_quote_ini(e.pool_mode)}"
            for e in entries
        ]
        ini = "\n".join(
            [
                "; written by CodeForge: edits are overwritten",
                "[databases]",
                *dbs,
                "",
                "[pgbouncer]",
                "listen_addr = 127.0.0.1",
                f"listen_port = {self.port}",
                "unix_socket_dir =",
                "auth_type = scram-sha-256",
                f"auth_file = {self.userlist}",
                f"admin_users = {ADMIN_USER}",
                f"stats_users = {ADMIN_USER}",
                "pool_mode = session",
                "default_pool_size = 20",
                "max_client_conn = 1000",
                f"pidfile = {self.pidfile}",
                f"logfile = {self.logfile}",
                "ignore_startup_parameters = extra_float_digits,options,search_path",
                "",
            ]
        )
        users = {ADMIN_USER: scram_sha256_verifier(self.admin_password)}
        for e in entries:
            users[e.user] = e.verifier
        userlist = "".join(f'"{u}" "{v}"\n' for u, v in sorted(users.items()))
        for path, text in ((self.ini, ini), (self.userlist, userlist)):
            tmp = path.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            os.chown(tmp, user.pw_uid, user.pw_gid)
            os.replace(tmp, path)
        if self.running():
            self.reload()

    def _pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        return self._pid() is not None

    def start(self, timeout: float = 15.0) -> None:
        if not self.binary:
            raise ExternalFailure(self.unavailable_reason())
        if self.running():
            return
        if not self.ini.exists():
            self.configure([])
        user = os_user(self.user_name)
        grant_traversal(self.root, user.pw_uid)
        run_tool(
            [self.binary, "-d", "-q", str(self.ini)],
            what="starting PgBouncer failed",
            fix=f"see {self.logfile}; the port {self.port} may be taken",
            user=user.pw_uid,
            group=user.pw_gid,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with self._admin():
                    return
            except psycopg.OperationalError:
                time.sleep(0.02)
        log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
        raise ExternalFailure(f"PgBouncer did not start on port {self.port}: {tail(log)}", fix=f"see {self.logfile}")

    def stop(self) -> None:
        pid = self._pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGINT)
        for _ in range(500):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.01)

    def reload(self) -> None:
        """Re-read pgbouncer.ini and the auth file; RELOAD on the admin console returns only
        once done (a SIGHUP would race the next client)."""
        try:
            with self._admin() as conn:
                conn.execute("RELOAD")
        except psycopg.OperationalError:
            pid = self._pid()
            if pid is not None:
                os.kill(pid, signal.SIGHUP)

    def _admin(self) -> psycopg.Connection:
        # The admin console speaks only the simple query protocol: ClientCursor uses it.
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            dbname="pgbouncer",
            user=ADMIN_USER,
            password=self.admin_password,
            autocommit=True,
            connect_timeout=3,
            cursor_factory=psycopg.ClientCursor,
        )

    def stats(self) -> list[PoolStats]:
        if not self.running():
            return []
        with self._admin() as conn:
            pools = _rows(conn, "SHOW POOLS")
            stats = {r["database"]: r for r in _rows(conn, "SHOW STATS")}
        out = []
        for p in pools:
            if p["database"] == "pgbouncer":
                continue
            s = stats.get(p["database"], {})
            out.append(
                PoolStats(
                    alias=p["database"],
                    user=p["user"],
                    clients_active=int(p.get("cl_active", 0)),
                    clients_waiting=int(p.get("cl_waiting", 0)),
                    servers_active=int(p.get("sv_active", 0)),
                    servers_idle=int(p.get("sv_idle", 0)),
                    pool_mode=str(p.get("pool_mode", "")),
                    total_queries=int(s.get("total_query_count", 0)),
                    total_transactions=int(s.get("total_xact_count", 0)),
                    avg_query_us=int(s.get("avg_query_time", 0)),
                )
            )
        return out


def _rows(conn: psycopg.Connection, query: str) -> list[dict[str, Any]]:
    cur = conn.execute(query)
    names = [d.name for d in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
