"""The platform's API under concurrent load, against a minimal FastAPI + SQLAlchemy app.

N closed-loop clients (default 1, 10 and 50), each on its own keep-alive connection,
alternate `env.set` (an upsert of one of 20 shared names, so writers collide) and
`env.list` (the project's variables) on one project. The same run loads, point by point,
`codeforge serve` and a minimal FastAPI + SQLAlchemy app doing the same queries on the same
database (resolve the project, upsert or select the rows, Fernet like the platform) with
none of the platform's work: no token, no permission, no audit record, no metrics. Both run
under uvicorn with the same settings, one process each. Prints throughput and p50/p99 of
each operation for both, and the platform's share of the minimal app's throughput.
Then, as the issue measured it (50 clients, about 50 requests a second in all), the same
clients paced at one request a second each, latency counted from when each request was due.
Targets: the platform's p99 under 100 ms under that load, and its closed-loop throughput
within 2x of the minimal app's at 50 clients.

    .venv/bin/python -m benchmarks.api_load                        # SQLite and PostgreSQL
    .venv/bin/python -m benchmarks.api_load --backends sqlite --clients 50 --seconds 5
    .venv/bin/python -m benchmarks.api_load --json

SQLite state lives in a temporary data dir, as `codeforge up` keeps it; PostgreSQL state in
a database the benchmark creates on --postgres (an admin URL) and drops afterwards. Clients
speak HTTP/1.1 over asyncio streams rather than through httpx, so the load generator, which
shares the machine with both servers, spends as little CPU as it can. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from codeforge.platform.databases.engines.cluster import free_port

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo"
ORG = "default"  # the organization `codeforge up` creates
NAMES = 20  # env.set writes one of these names: concurrent writers of one variable collide
PG_ADMIN = os.environ.get("CODEFORGE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not start:\n{log.read_text()[-3000:]}")
        with suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        time.sleep(0.05)


@dataclass
class Server:
    name: str
    port: int
    token: str = ""
    set_path: str = "/api/v1/env/set"
    list_path: str = "/api/v1/env/list"


@contextmanager
def _process(cmd: list[str], env: dict[str, str], log: Path, url: str) -> Iterator[None]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out)
    try:
        _wait_healthy(url, proc, log)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def servers(backend: str, tmp: Path, postgres: str) -> Iterator[tuple[Server, Server]]:
    """The platform (`codeforge serve`, bootstrapped as `codeforge up` does) and the minimal
    app, on one fresh database of `backend`."""
    from cryptography.fernet import Fernet

    db_name = ""
    if backend == "sqlite":
        database_url = ""  # the platform's default: SQLite in its data dir
        baseline_url = f"sqlite:///{tmp / 'data' / 'codeforge.db'}"
    else:
        import psycopg

        db_name = f"cf_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db_name}"')
        base = postgres.rsplit("/", 1)[0].split("://", 1)[1]
        database_url = baseline_url = f"postgresql+psycopg://{base}/{db_name}"
    key = Fernet.generate_key().decode()
    platform = Server("platform", free_port())
    baseline = Server("minimal", free_port(), set_path="/set", list_path="/list")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEFORGE_")}
    env.update(
        CODEFORGE_DATA_DIR=str(tmp / "data"),
        CODEFORGE_CONFIG_DIR=str(tmp / "config"),
        CODEFORGE_PORT=str(platform.port),
        CODEFORGE_BOOTSTRAP="1",
        CODEFORGE_BOOTSTRAP_PROJECT=PROJECT,
        CODEFORGE_LOG_LEVEL="WARNING",
        CODEFORGE_SECRET_KEY=key,
        CODEFORGE_DATABASE_URL=database_url,
    )
    try:
        with _process(
            [sys.executable, "-m", "codeforge", "up", "--project", PROJECT],
            env,
            tmp / "platform.log",
            f"http://127.0.0.1:{platform.port}",
        ):
            platform.token = json.loads((tmp / "config" / "credentials.json").read_text())["token"]
            minimal = [sys.executable, "-m", "benchmarks.api_load", "--serve-minimal", baseline_url]
            minimal += ["--port", str(baseline.port)]
            with _process(minimal, env, tmp / "minimal.log", f"http://127.0.0.1:{baseline.port}"):
                yield platform, baseline
    finally:
        if db_name:
            import psycopg

            with psycopg.connect(postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


# --- the minimal app ----------------------------------------------------------------------


class SetInput(BaseModel):
    project: str
    name: str
    value: str
    secret: bool = False


class ListInput(BaseModel):
    project: str


def serve_minimal(database_url: str, port: int) -> None:
    """FastAPI + SQLAlchemy, the least an app can do for the same two requests."""
    import uvicorn
    from cryptography.fernet import Fernet
    from fastapi import FastAPI
    from sqlalchemy import Boolean, DateTime, bindparam, create_engine, event, text

    from codeforge.platform.db import new_id, utcnow

    if database_url.startswith("sqlite"):
        engine = create_engine(database_url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:  # what any SQLite app under load needs
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA busy_timeout=30000")
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")

    else:
        engine = create_engine(database_url, pool_size=10, max_overflow=20)
    fernet = Fernet(os.environ["CODEFORGE_SECRET_KEY"].encode())
    app = FastAPI()
    project_id = text(
        "SELECT p.id FROM projects p JOIN organizations o ON o.id = p.org_id WHERE o.slug = :org AND p.slug = :slug"
    )
    upsert = text(
        "INSERT INTO env_variables (id, project_id, name, secret, value_encrypted, updated_at, updated_by) "
        "VALUES (:id, :pid, :name, :secret, :value, :now, 'minimal') ON CONFLICT (project_id, name) DO UPDATE SET "
        "secret = excluded.secret, value_encrypted = excluded.value_encrypted, updated_at = excluded.updated_at, "
        "updated_by = excluded.updated_by"
    ).bindparams(bindparam("secret", type_=Boolean), bindparam("now", type_=DateTime(timezone=True)))
    rows = text(
        "SELECT name, secret, value_encrypted, updated_at, updated_by FROM env_variables "
        "WHERE project_id = :pid ORDER BY name"
    )

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/set")
    def set_variable(body: SetInput) -> dict[str, Any]:
        now = utcnow()
        with engine.begin() as conn:
            pid = conn.execute(project_id, {"org": ORG, "slug": body.project}).scalar_one()
            value = fernet.encrypt(body.value.encode()).decode()
            values = {"id": new_id(), "pid": pid, "name": body.name, "secret": body.secret, "value": value, "now": now}
            conn.execute(upsert, values)
        return {
            "name": body.name,
            "secret": body.secret,
            "value": None if body.secret else body.value,
            "updated_at": now,
        }

    @app.post("/list")
    def list_variables(body: ListInput) -> dict[str, Any]:
        with engine.connect() as conn:
            pid = conn.execute(project_id, {"org": ORG, "slug": body.project}).scalar_one()
            found = conn.execute(rows, {"pid": pid}).all()
        return {
            "items": [
                {
                    "name": r.name,
                    "secret": bool(r.secret),
                    "value": None if r.secret else fernet.decrypt(r.value_encrypted.encode()).decode(),
                    "updated_at": r.updated_at,
                    "updated_by": r.updated_by,
                }
                for r in found
            ]
        }

    uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False)


# --- the load -----------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection: a request, then its whole response."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.auth = f"Authorization: Bearer {token}\r\n".encode() if token else b""
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reconnects = 0

    async def post(self, path: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n".encode()
        self.writer.write(head + self.auth + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("connection", "").lower() == "close":
            await self.close()
            self.reconnects += 1
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


@dataclass
class Point:
    target: str
    clients: int
    rate: float = 0.0  # requests a second per client; 0: closed loop
    seconds: float = 0.0
    set_ms: list[float] = field(default_factory=list)
    list_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0

    @property
    def throughput(self) -> float:
        return (len(self.set_ms) + len(self.list_ms)) / self.seconds if self.seconds else 0.0

    def figures(self) -> dict[str, Any]:
        def pct(samples: list[float], q: float) -> float | None:
            if not samples:
                return None
            ordered = sorted(samples)
            return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2)

        every = self.set_ms + self.list_ms
        return {
            "target": self.target,
            "clients": self.clients,
            "rate_per_client": self.rate or None,
            "requests": len(every),
            "throughput_rps": round(self.throughput, 1),
            "p50_ms": round(statistics.median(every), 2) if every else None,
            "p99_ms": pct(every, 0.99),
            "set_p50_ms": pct(self.set_ms, 0.5),
            "set_p99_ms": pct(self.set_ms, 0.99),
            "list_p50_ms": pct(self.list_ms, 0.5),
            "list_p99_ms": pct(self.list_ms, 0.99),
            "errors": self.errors,
            "reconnects": self.reconnects,
        }


async def load(server: Server, clients: int, seconds: float, warmup: float, rate: float = 0.0) -> Point:
    """`clients` clients for warmup + seconds; only the last `seconds` count. Closed loop (each
    sends its next request when the last is answered) unless `rate` is set: then each client
    sends `rate` requests a second, spread evenly across clients, and a request's latency counts
    from when it was due (a server that falls behind is charged for the wait it causes)."""
    point = Point(server.name, clients, rate=rate)
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + seconds

    async def client(index: int) -> None:
        conn = Connection(server.port, server.token)
        i = 0
        try:
            while (now := time.perf_counter()) < stop_at:
                if rate:
                    due = start + (i + index / clients) / rate
                    if due > now:
                        await asyncio.sleep(due - now)
                    now = due
                    if now >= stop_at:
                        break
                writing = i % 2 == 0
                if writing:
                    name = f"LOAD_{(index + i // 2) % NAMES}"
                    body = {"project": PROJECT, "name": name, "value": f"value {index}.{i}"}
                    path, samples = server.set_path, point.set_ms
                else:
                    body, path, samples = {"project": PROJECT}, server.list_path, point.list_ms
                try:
                    status = await conn.post(path, json.dumps(body).encode())
                except (OSError, asyncio.IncompleteReadError) as exc:
                    status, _ = 0, await conn.close()
                    point.errors[type(exc).__name__] = point.errors.get(type(exc).__name__, 0) + 1
                done = time.perf_counter()
                if now >= measure_from and done <= stop_at:
                    samples.append((done - now) * 1000)
                    if status != 200:
                        point.errors[str(status)] = point.errors.get(str(status), 0) + 1
                i += 1
        finally:
            point.reconnects += conn.reconnects
            await conn.close()

    await asyncio.gather(*(client(c) for c in range(clients)))
    point.seconds = seconds
    return point


def run_backend(
    backend: str, clients: list[int], seconds: float, warmup: float, postgres: str, paced: tuple[int, float, float]
) -> tuple[list[Point], list[Point]]:
    """Closed-loop points for each client count, then the paced point (clients, rate, seconds)."""
    points: list[Point] = []
    paced_points: list[Point] = []
    with tempfile.TemporaryDirectory(prefix="cf-load-") as tmp, servers(backend, Path(tmp), postgres) as pair:
        for n in clients:
            for server in pair:  # interleaved point by point: both see the same machine load
                points.append(asyncio.run(load(server, n, seconds, warmup)))
        n, rate, paced_seconds = paced
        if n:
            for server in pair:
                paced_points.append(asyncio.run(load(server, n, paced_seconds, warmup, rate)))
    return points, paced_points


def _postgres_up(url: str) -> bool:
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="1,10,50", help="comma-separated client counts (default 1,10,50)")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per point (default 3)")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured seconds before each point")
    parser.add_argument("--backends", default="sqlite,postgresql", help="sqlite, postgresql or both")
    parser.add_argument("--postgres", default=PG_ADMIN, help="admin URL of the PostgreSQL server to use")
    parser.add_argument(
        "--paced",
        default="50,1,10",
        help="CLIENTS,RATE,SECONDS: clients each sending RATE requests a second, as the issue's load "
        "(50 clients, about 50 requests a second in all); 0 to skip (default 50,1,10)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--serve-minimal", metavar="DATABASE_URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_minimal:
        serve_minimal(args.serve_minimal, args.port)
        return

    clients = [int(c) for c in args.clients.split(",") if c.strip()]
    paced_args = [float(x) for x in args.paced.split(",")] + [0.0, 0.0, 0.0]
    paced = (int(paced_args[0]), paced_args[1] or 1.0, paced_args[2] or 10.0)
    results: dict[str, list[dict[str, Any]]] = {}
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend == "postgresql" and not _postgres_up(args.postgres):
            print(f"postgresql: skipped, no server at {args.postgres}", file=sys.stderr)
            continue
        points, paced_points = run_backend(backend, clients, args.seconds, args.warmup, args.postgres, paced)
        results[backend] = [p.figures() for p in points + paced_points]
        if not args.json:
            if points:
                _print(backend, points)
            if paced_points:
                _print(backend, paced_points)
    if args.json:
        print(json.dumps(results, indent=2))


def _print(backend: str, points: list[Point]) -> None:
    how = f"paced, {points[0].rate:g} requests a second per client" if points[0].rate else "closed loop"
    print(f"\n{backend}: env.set + env.list alternating, {how}, {points[0].seconds:g} s per point")
    print(
        f"{'clients':>7} {'target':<9} {'req/s':>8} {'set p50':>8} {'set p99':>8} {'list p50':>8} "
        f"{'list p99':>8} {'errors':<12} {'platform/minimal':>16}"
    )
    by_clients: dict[int, dict[str, Point]] = {}
    for p in points:
        by_clients.setdefault(p.clients, {})[p.target] = p
    for n, pair in by_clients.items():
        for target in ("minimal", "platform"):
            p = pair.get(target)
            if p is None:
                continue
            f = p.figures()
            ratio = ""
            if target == "platform" and "minimal" in pair and pair["minimal"].throughput:
                ratio = f"{p.throughput / pair['minimal'].throughput:.2f}x req/s"
            errors = ",".join(f"{k}:{v}" for k, v in f["errors"].items()) or "0"
            print(
                f"{n:>7} {target:<9} {f['throughput_rps']:>8} {f['set_p50_ms']:>8} {f['set_p99_ms']:>8} "
                f"{f['list_p50_ms']:>8} {f['list_p99_ms']:>8} {errors:<12} {ratio:>16}"
            )


if __name__ == "__main__":
    main()
