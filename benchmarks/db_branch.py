"""Branch time of a PostgreSQL database: copy-on-write against TEMPLATE and dump|restore.

For each size (default 10 MB and 1 GB) one database is loaded into a CodeForge-run cluster
whose data directory is a btrfs subvolume, then branched, each way in the same run:

- `btrfs-snapshot`: CodeForge's copy-on-write path (checkpoint, snapshot the data
  directory, start a second postmaster on it, which recovers as after a crash);
- `reflink-copy`: the copy-on-write path for XFS (online backup + reflink clone);
- `template-copy`: `CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY`;
- `dump-restore`: `pg_dump -Fc | pg_restore` into a new database.

Each time runs from the request to the answer of a first query (`SELECT … FROM t LIMIT 1`)
made over a new connection with the project's role, i.e. until the app can use the branch.

    .venv/bin/python -m benchmarks.db_branch                 # 10 MB and 1 GB, 5 runs each
    .venv/bin/python -m benchmarks.db_branch --sizes 10 --repeat 5 --json

Needs root (btrfs loop mount made by tests/platform/databases/setup.sh) and the pgserver
wheel's PostgreSQL binaries.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from codeforge.platform.databases.engines import branching, cow
from codeforge.platform.databases.engines.cluster import LocalCluster, free_port
from codeforge.platform.databases.engines.common import BranchMethod, Connection
from codeforge.platform.databases.engines.postgres import PostgresEngine

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("btrfs-snapshot", "reflink-copy", "template-copy", "dump-restore")
REPORTED = (*METHODS, "platform-api")


def first_query(conn: Connection, port: int, database: str) -> None:
    with psycopg.connect(
        host=conn.host, port=port, dbname=database, user=conn.user, password=conn.password, connect_timeout=30
    ) as c:
        c.execute("SELECT g FROM t LIMIT 1").fetchone()


def load(engine: PostgresEngine, conn: Connection, target_bytes: int) -> int:
    """Fill table t (with an index) until the database is about `target_bytes`, then
    checkpoint: every method starts from the database at rest."""
    load_url(conn.url, target_bytes)
    with engine.admin() as a:
        a.execute("CHECKPOINT")
    return engine.size(conn.database)


def timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def branch_once(cluster: LocalCluster, work: Path, conn: Connection, method: str, tag: str) -> float:
    """One branch of `conn`'s database by `method`, timed to its first answered query."""
    engine = cluster.engine()
    name = f"b_{tag}_{method.replace('-', '')}"
    if method in ("btrfs-snapshot", "reflink-copy"):
        box: list[branching.BranchInstance] = []

        def cow_branch() -> None:
            inst = branching.branch_instance(
                cluster, work / "branches" / name, database=conn.database, role=conn.user, method=BranchMethod(method)
            )
            box.append(inst)
            first_query(conn, inst.cluster.port, conn.database)

        seconds = timed(cow_branch)
        box[0].cluster.destroy()
        return seconds

    def copy() -> None:
        if method == "template-copy":
            engine.copy_database(conn.database, name, conn.user, force=True)
        else:
            engine.copy_by_dump(conn.database, name, conn.user)
        first_query(conn, cluster.port, name)

    seconds = timed(copy)
    engine.drop_database(name)
    return seconds


def bench(
    cluster: LocalCluster, work: Path, sizes: list[int], repeat: int, methods: list[str], big_repeat: int
) -> list[dict[str, object]]:
    """Load every size first, then interleave sizes run by run, so that both sizes of one
    method see the same machine load (other work on the machine drifts over minutes)."""
    engine = cluster.engine()
    loaded = []
    for size_mb in sizes:
        conn = engine.create_database(f"bench_{size_mb}mb")
        actual = load(engine, conn, size_mb * 1024 * 1024)
        print(f"loaded {size_mb} MB requested: database is {actual / 1e6:.1f} MB", flush=True)
        loaded.append((size_mb, conn, actual))
    results: dict[int, dict[str, list[float]]] = {s: {} for s in sizes}
    for method in methods:
        for i in range(max(repeat, big_repeat)):
            for size_mb, conn, _ in loaded:
                big = size_mb >= 500
                runs = (1 if method == "dump-restore" else big_repeat) if big else repeat
                if i >= runs:
                    continue
                seconds = branch_once(cluster, work, conn, method, f"{size_mb}_{i}")
                results[size_mb].setdefault(method, []).append(seconds)
                print(f"  {size_mb:5d} MB {method:15s} run {i + 1}: {seconds:7.3f} s", flush=True)
    for _, conn, _ in loaded:
        engine.drop_database(conn.database, conn.user)
    return [{"size_mb": s, "bytes": actual, "seconds": results[s]} for s, _, actual in loaded]


def load_url(url: str, target_bytes: int) -> int:
    """Fill table t (with an index) through the database's own URL until the database is
    about `target_bytes`; its size."""
    with psycopg.connect(url, autocommit=True) as c:

        def size() -> int:
            row = c.execute("SELECT pg_database_size(current_database())").fetchone()
            return int(row[0]) if row else 0

        c.execute("CREATE TABLE t (g bigint, s text, at timestamptz DEFAULT now())")
        batch, next_g = 10_000, 1
        while size() < target_bytes * 0.82:  # the index adds the rest
            c.execute(
                "INSERT INTO t (g, s) SELECT g, md5(g::text) || md5((g * 7)::text) "
                "FROM generate_series(%s::bigint, %s::bigint) g",
                (next_g, next_g + batch - 1),
            )
            next_g += batch
            batch = min(batch * 2, 1_000_000)
        c.execute("CREATE INDEX t_g ON t (g)")
        c.execute("VACUUM ANALYZE t")
        return size()


def bench_api(work: Path, sizes: list[int], repeat: int) -> list[dict[str, object]]:
    """The same branch as a user gets it: `databases.branch` through a real `codeforge serve`
    (HTTP, a job, its event stream), then a first query with the URL the platform hands out."""
    from codeforge.catalog import JobRef
    from codeforge.client import PlatformClient

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEFORGE_")}
    env.update(
        CODEFORGE_DATA_DIR=str(work / "platform"),
        CODEFORGE_CONFIG_DIR=str(work / "config"),
        CODEFORGE_PORT=str(port),
        CODEFORGE_BOOTSTRAP="1",
        CODEFORGE_BOOTSTRAP_PROJECT="bench",
        CODEFORGE_LOG_LEVEL="WARNING",
    )
    (work / "platform").mkdir()
    log = (work / "platform.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "codeforge", "up", "--project", "bench"], env=env, stdout=log, stderr=log, cwd=str(ROOT)
    )
    try:
        deadline = time.monotonic() + 60
        while not (work / "config" / "credentials.json").exists() or not _healthy(port):
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit(f"the platform did not start: see {work / 'platform.log'}")
            time.sleep(0.1)
        token = json.loads((work / "config" / "credentials.json").read_text())["token"]
        with PlatformClient(f"http://127.0.0.1:{port}", token, timeout=600) as client:

            def call(op: str, body: dict[str, object]) -> dict[str, object]:
                out = client.call(op, body)
                if isinstance(out, JobRef):
                    job = client.wait(out.job_id)
                    if job.error or job.result is None:
                        raise RuntimeError(f"{op} failed: {job.error}")
                    return job.result
                return out.model_dump(mode="json")

            call("engines.register", {"name": "bench", "data_dir": str(work / "api")})
            results: list[tuple[int, str, int, list[float]]] = []
            for size_mb in sizes:
                var = f"S{size_mb}_URL"
                call("databases.create", {"project": "bench", "name": f"s{size_mb}", "engine": "bench", "env_var": var})
                url = str(call("env.reveal", {"project": "bench", "name": var})["value"])
                actual = load_url(url, size_mb * 1024 * 1024)
                print(f"loaded through the platform: {actual / 1e6:.1f} MB", flush=True)
                results.append((size_mb, url, actual, []))
            for i in range(repeat):
                for size_mb, url, _, times in results:
                    name = f"s{size_mb}-b{i}"
                    started = time.perf_counter()
                    made = call("databases.branch", {"project": "bench", "source": f"s{size_mb}", "name": name})
                    branch_url = url.rsplit("@", 1)[0] + f"@127.0.0.1:{made['port']}/" + url.rsplit("/", 1)[1]
                    with psycopg.connect(branch_url) as c:
                        c.execute("SELECT g FROM t LIMIT 1").fetchone()
                    times.append(time.perf_counter() - started)
                    print(
                        f"  {size_mb:5d} MB via the platform ({made['method']}) run {i + 1}: {times[-1]:7.3f} s",
                        flush=True,
                    )
                    call("databases.delete", {"project": "bench", "name": name})
            return [{"size_mb": s, "bytes": a, "seconds": {"platform-api": t}} for s, _, a, t in results]
    finally:
        server.terminate()
        server.wait(30)


def _healthy(port: int) -> bool:
    import httpx

    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def report(all_results: list[dict[str, object]]) -> None:
    print("\nmedian seconds to a first query on the branch (ratio: this method / btrfs-snapshot)\n")
    shown = [m for m in REPORTED if any(m in r["seconds"] for r in all_results)]  # type: ignore[operator]
    print(f"{'size':>10} | " + " | ".join(f"{m:>22}" for m in shown))
    print("-" * (13 + 25 * len(shown)))
    cow_medians = []
    for r in all_results:
        secs = r["seconds"]
        assert isinstance(secs, dict)
        base = statistics.median(secs["btrfs-snapshot"]) if secs.get("btrfs-snapshot") else None
        if base:
            cow_medians.append(base)
        cells = []
        for m in shown:
            if m not in secs:
                cells.append(f"{'-':>22}")
                continue
            med = statistics.median(secs[m])
            ratio = f"{med / base:6.1f}x" if base else ""
            cells.append(f"{med:12.3f} s {ratio:>8}")
        size_bytes = r["bytes"]
        assert isinstance(size_bytes, int)
        print(f"{size_bytes / 1e6:7.0f} MB | " + " | ".join(cells))
    if len(cow_medians) >= 2:
        print(f"\nbtrfs-snapshot at the largest size / at the smallest: {cow_medians[-1] / cow_medians[0]:.2f}x")


def ensure_btrfs(path: Path) -> None:
    if cow.filesystem_of(path) == "btrfs":
        return
    if os.geteuid() == 0:
        subprocess.run(["sh", str(ROOT / "tests/platform/databases/setup.sh")], check=False)
    if cow.filesystem_of(path) != "btrfs":
        sys.exit(f"{path} is not on btrfs: run tests/platform/databases/setup.sh as root, or pass --dir")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path("/var/tmp/codeforge-btrfs"),
        help="a directory on btrfs (default: the test loop mount)",
    )
    parser.add_argument("--sizes", default="10,1024", help="database sizes in MB, comma-separated")
    parser.add_argument("--repeat", type=int, default=5, help="runs per method below 500 MB")
    parser.add_argument("--big-repeat", type=int, default=5, help="runs per method from 500 MB (dump: 1)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--json", action="store_true", help="also print the raw figures as JSON")
    parser.add_argument(
        "--api", action="store_true", help="also branch through a real platform (HTTP, job, events) on its own cluster"
    )
    args = parser.parse_args()
    ensure_btrfs(args.dir)
    work = args.dir / f"bench-{secrets.token_hex(3)}"
    work.mkdir(mode=0o755)
    cluster = LocalCluster(work / "cluster", port=free_port(), password=secrets.token_urlsafe(16))
    try:
        cluster.init(sync=False)
        cluster.start()
        assert cow.is_subvolume(cluster.data)
        sizes = [int(s) for s in args.sizes.split(",")]
        results = bench(cluster, work, sizes, args.repeat, args.methods.split(","), args.big_repeat)
        if args.api:
            cluster.stop()  # one cluster at a time on this machine's memory
            for mine, theirs in zip(results, bench_api(work, sizes, args.repeat), strict=True):
                mine_secs, their_secs = mine["seconds"], theirs["seconds"]
                assert isinstance(mine_secs, dict) and isinstance(their_secs, dict)
                mine_secs.update(their_secs)
        report(results)
        if args.json:
            print(json.dumps(results, indent=1))
    finally:
        for pid in work.rglob("postmaster.pid"):
            LocalCluster(pid.parent.parent, port=0, password="").stop(mode="immediate")
        cow.delete_tree(work)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
