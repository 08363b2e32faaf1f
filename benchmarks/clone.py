"""Workspace clone through the platform (issue #15, docs/workspaces.md "Snapshots and clone"):
`workspaces.clone` over HTTP, as a job, against a real `codeforge up` whose data directory is
on a btrfs volume, for a workspace of 1,000 files and one of 50,000 files (about 1.5 GB), each
with a running service (template `python`'s `web`: `python3 -m http.server`) and its
environment pointing at a 1 GB PostgreSQL database through the project's DATABASE_URL (so each
clone branches it). Baseline in the same run: `cp -a` of the same tree on the same volume
(coreutils 9 clones blocks there) and `cp -a --reflink=never` (a full copy). Then creation
from the warm pool (`workspaces.pool` size 1, ready, then `workspaces.create` claims it)
against a plain `workspaces.create` of the same template.

Each figure is reported twice: `server` is the result's `seconds` (the operation itself), `wall`
runs from the job's submission to its terminal event on the client. Clones of the two sizes
are interleaved run by run (the same machine load for both); `sync` runs before each timed
clone and copy, so no contender pays for another's writeback. After each clone, the time
until its web service answers HTTP and its branch answers a query is recorded too (`usable`).

    .venv/bin/python -m benchmarks.clone            # 1,000 and 50,000 files, 1 GB database
    .venv/bin/python -m benchmarks.clone --quick    # 200 and 5,000 files, 64 MB database
        [--dir /var/tmp/codeforge-btrfs] [--repeat 3] [--log PATH] [--json] [--profile FILE]

`--profile FILE` runs py-spy (on PATH) against the platform during the timed clones and
writes its samples as collapsed stacks (`--idle`: a wait on a subprocess counts). `--json`
also prints each clone's steps from its job's progress events (the server's event times;
progress events are at most one per 100 ms, so a short step may hide in the one before).

Needs root (the platform's btrfs subvolumes) and a btrfs volume at --dir.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from benchmarks.db_branch import load_url
from codeforge.catalog import JobRef
from codeforge.catalog.errors import CodeForgeError
from codeforge.catalog.jobs import TERMINAL, JobState
from codeforge.client import PlatformClient
from codeforge.platform.databases.engines import cow
from tests.conftest import RunningPlatform, start_platform

ENV = {
    "CODEFORGE_WORKSPACES_PORT_RANGE": "44600-44799",
    "CODEFORGE_WORKSPACES_MAX_PER_PROJECT": "40",
    "CODEFORGE_LOG_LEVEL": "INFO",
}


@dataclass
class Size:
    label: str
    files: int
    large: int  # how many of the files are large
    large_mb: int
    name: str = ""
    folder: Path | None = None
    bytes: int = 0
    results: dict[str, list[float]] = field(default_factory=dict)
    steps: dict[str, list[float]] = field(default_factory=dict)

    def add(self, key: str, value: float) -> None:
        self.results.setdefault(key, []).append(value)


def run(client: PlatformClient, op: str, body: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """Call an operation; for a job, follow its events to the terminal one. The result and the
    client's wall time from submission to that event."""
    result, wall, _ = run_steps(client, op, body)
    return result, wall


def run_steps(
    client: PlatformClient, op: str, body: dict[str, Any]
) -> tuple[dict[str, Any], float, list[tuple[str, float]]]:
    """`run`, plus the job's steps: (what began, seconds it lasted by the server's event
    times), the first being the wait from submission (client clock) to the first event."""
    started, submitted = time.perf_counter(), datetime.now(UTC)
    out = client.call(op, body)
    if not isinstance(out, JobRef):
        return out.model_dump(mode="json"), time.perf_counter() - started, []
    marks: list[tuple[str, datetime]] = [("submit to first event", submitted)]
    for event in client.events(out.job_id):
        label = event.message or (event.state.value if event.state else event.kind)
        marks.append((label, event.time))
        if event.state in TERMINAL:
            wall = time.perf_counter() - started
            if event.state is not JobState.SUCCEEDED or event.result is None:
                job = client.job(out.job_id)
                raise CodeForgeError(job.error or event.error or f"{op}: job {event.state}")
            marks.append(("terminal event to the client", datetime.now(UTC)))
            steps = [(a[0], (b[1] - a[1]).total_seconds()) for a, b in itertools.pairwise(marks)]
            return event.result, wall, steps
    raise CodeForgeError(f"{op}: the job's event stream ended early")


def call(client: PlatformClient, op: str, body: dict[str, Any]) -> dict[str, Any]:
    return run(client, op, body)[0]


def generate(tree: Path, files: int, large: int, large_mb: int, seed: int) -> int:
    """`files` files: `large` of `large_mb` MB at the top, the rest 1-16 KB of random bytes,
    100 per folder. Random bytes, so no filesystem compression or dedup flatters a copy."""
    rng = random.Random(seed)
    small = files - large
    sizes = [rng.randint(1, 16) * 1024 for _ in range(small)]
    pool = os.urandom(max(sizes, default=0) + 65536)
    total = 0
    for i, size in enumerate(sizes):
        folder = tree / "src" / f"d{i // 100:04}"
        if i % 100 == 0:
            folder.mkdir(parents=True, exist_ok=True)
        offset = rng.randrange(0, 65536)
        (folder / f"f{i:06}.py").write_bytes(pool[offset : offset + size])
        total += size
    for i in range(large):
        with (tree / f"data-{i}.bin").open("wb") as fh:
            for _ in range(large_mb):
                fh.write(os.urandom(1 << 20))
        total += large_mb << 20
    return total


def sync() -> None:
    subprocess.run(["sync"], check=True)


def timed_cp(source: Path, target: Path, *extra: str) -> float:
    sync()
    started = time.perf_counter()
    subprocess.run(["cp", "-a", *extra, str(source), str(target)], check=True)
    seconds = time.perf_counter() - started
    shutil.rmtree(target)
    return seconds


def web_port(info: dict[str, Any]) -> int:
    return int(next(p["host"] for p in info["ports"] if p["service"] == "web"))


def usable(client: PlatformClient, project: str, info: dict[str, Any], deadline_s: float = 30) -> None:
    """Wait until the workspace's web service answers HTTP and its database branch a query."""
    deadline = time.monotonic() + deadline_s
    port = web_port(info)
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"workspace {info['name']}'s web service never answered on {port}")
        time.sleep(0.005)
    for link in info["databases"]:
        url = call(client, "databases.reveal", {"project": project, "name": link["database"]})["url"]
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.execute("SELECT g FROM t LIMIT 1").fetchone()


def wait_pool(client: PlatformClient, project: str, template: str, want: int, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        items = call(client, "workspaces.templates", {"project": project})["items"]
        ready = int(next(t["pool_ready"] for t in items if t["name"] == template))
        if ready == want:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the {template} pool has {ready} ready after {timeout_s:.0f} s, not {want}")
        time.sleep(0.2)


def bench(platform: RunningPlatform, args: argparse.Namespace, sizes: list[Size], work: Path) -> dict[str, Any]:
    p = platform.project
    out: dict[str, Any] = {}
    with PlatformClient(platform.url, platform.token, timeout=600) as client:
        t0 = time.perf_counter()
        call(client, "databases.create", {"project": p, "name": "main"})
        main_url = call(client, "env.reveal", {"project": p, "name": "DATABASE_URL"})["value"]
        db_bytes = load_url(main_url, args.db_mb * 1024 * 1024)
        out["database_bytes"] = db_bytes
        print(f"database 'main': {db_bytes / 1e6:.0f} MB loaded in {time.perf_counter() - t0:.0f} s", flush=True)

        for i, size in enumerate(sizes):
            size.name = f"src-{size.label}"
            info = call(client, "workspaces.create", {"project": p, "name": size.name, "template": "python"})
            assert info["state"] == "running" and "copy-on-write" in info["files"], info
            size.folder = Path(info["folder"])
            t0 = time.perf_counter()
            size.bytes = generate(size.folder, size.files, size.large, size.large_mb, seed=i)
            sync()
            print(
                f"workspace {size.name}: {size.files} files, {size.bytes / 1e6:.0f} MB written in "
                f"{time.perf_counter() - t0:.1f} s ({info['files']}; web on {web_port(info)})",
                flush=True,
            )

        # The first clone after the load pays the database's first checkpoint and the
        # databases capability's once-per-process sweep: shown, not counted.
        first, wall = run(client, "workspaces.clone", {"project": p, "source": sizes[0].name, "name": "warmup"})
        out["first_clone"] = {"server_s": first["seconds"], "wall_s": round(wall, 4)}
        print(f"first clone (not counted): server {first['seconds']:.3f} s, wall {wall:.3f} s", flush=True)
        call(client, "workspaces.delete", {"project": p, "name": "warmup"})

        profiler = _profile(platform, args.profile)
        for r in range(args.repeat):
            for size in sizes:
                assert size.folder is not None
                name = f"c{r}-{size.label}"
                sync()
                started = time.perf_counter()
                info, wall, steps = run_steps(
                    client, "workspaces.clone", {"project": p, "source": size.name, "name": name}
                )
                for label, seconds in steps:
                    size.steps.setdefault(re.sub(r"database \S+", "database", label), []).append(seconds)
                usable(client, p, info)
                ready = time.perf_counter() - started
                assert info["state"] == "running" and info["databases"], info
                size.add("clone_server_s", float(info["seconds"]))
                size.add("clone_wall_s", wall)
                size.add("clone_usable_s", ready)
                print(
                    f"  {size.label:>6} files clone {r + 1}: server {info['seconds']:.3f} s, wall {wall:.3f} s, "
                    f"usable {ready:.3f} s",
                    flush=True,
                )
                call(client, "workspaces.delete", {"project": p, "name": name})
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
            print(f"py-spy's samples of the clones (and their deletes): {args.profile}", flush=True)

        for size in sizes:
            assert size.folder is not None
            target = work / "cp-target"
            for _ in range(args.repeat):
                size.add("cp_a_s", timed_cp(size.folder, target))
            for _ in range(args.full_copy_repeat):
                size.add("cp_a_reflink_never_s", timed_cp(size.folder, target, "--reflink=never"))
            print(
                f"  {size.label:>6} files cp -a {min(size.results['cp_a_s']):.3f} s, "
                f"cp -a --reflink=never {min(size.results.get('cp_a_reflink_never_s', [float('nan')])):.3f} s",
                flush=True,
            )

        # Creation: a plain create of template python, then from the warm pool.
        plain: dict[str, list[float]] = {"server_s": [], "wall_s": []}
        for r in range(args.repeat):
            info, wall = run(client, "workspaces.create", {"project": p, "name": f"plain{r}", "template": "python"})
            assert not info["from_pool"], info
            plain["server_s"].append(float(info["seconds"]))
            plain["wall_s"].append(wall)
            print(f"  plain create {r + 1}: server {info['seconds']:.3f} s, wall {wall:.3f} s", flush=True)
            call(client, "workspaces.delete", {"project": p, "name": f"plain{r}"})
        pooled: dict[str, list[float]] = {"server_s": [], "wall_s": []}
        call(client, "workspaces.pool", {"project": p, "template": "python", "size": 1})
        for r in range(args.repeat):
            wait_pool(client, p, "python", 1)
            info, wall = run(client, "workspaces.create", {"project": p, "name": f"pooled{r}", "template": "python"})
            assert info["from_pool"] and info["state"] == "running", info
            pooled["server_s"].append(float(info["seconds"]))
            pooled["wall_s"].append(wall)
            print(f"  pool create {r + 1}: server {info['seconds']:.3f} s, wall {wall:.3f} s", flush=True)
        call(client, "workspaces.pool", {"project": p, "template": "python", "size": 0})
        wait_pool(client, p, "python", 0)
        for r in range(args.repeat):
            call(client, "workspaces.delete", {"project": p, "name": f"pooled{r}"})
        for size in sizes:
            call(client, "workspaces.delete", {"project": p, "name": size.name})
        out["create_plain"], out["create_pool"] = plain, pooled
    out["sizes"] = [
        {
            "files": s.files,
            "bytes": s.bytes,
            **{k: [round(v, 4) for v in vs] for k, vs in s.results.items()},
            "steps": {k: [round(v, 4) for v in vs] for k, vs in s.steps.items()},
        }
        for s in sizes
    ]
    return out


def _profile(platform: RunningPlatform, out: Path | None) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the platform (idle threads too: time in a subprocess is time) while the
    clones run, as collapsed stacks, one line per stack and thread."""
    if out is None:
        return None
    spy = shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy on PATH (pip install py-spy)")
    assert platform.process is not None
    cmd = [spy, "record", "--pid", str(platform.process.pid), "--idle", "--threads", "--subprocesses"]
    cmd += ["--nonblocking", "--rate", "200", "--format", "raw", "--output", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached
    return proc


def report(out: dict[str, Any]) -> None:
    med = statistics.median
    print(f"\ndatabase: {out['database_bytes'] / 1e6:.0f} MB; medians of each figure\n")
    print(f"{'files':>7} {'MB':>6} | {'clone server':>13} {'clone wall':>11} {'usable':>8} | "
          f"{'cp -a':>8} {'cp full':>8} | {'clone/cp -a':>11} {'clone/full':>10}")  # fmt: skip
    base = None
    for s in out["sizes"]:
        wall = med(s["clone_wall_s"])
        cp, full = med(s["cp_a_s"]), med(s.get("cp_a_reflink_never_s") or [float("nan")])
        print(
            f"{s['files']:>7} {s['bytes'] / 1e6:>6.0f} | {med(s['clone_server_s']):>11.3f} s {wall:>9.3f} s "
            f"{med(s['clone_usable_s']):>6.3f} s | {cp:>6.3f} s {full:>6.3f} s | {wall / cp:>11.3f} {wall / full:>10.4f}"
        )
        base = base or wall
    last = out["sizes"][-1]
    print(
        f"\nclone wall at {last['files']} files / at {out['sizes'][0]['files']}: {med(last['clone_wall_s']) / base:.2f}x"
    )
    plain, pool = out["create_plain"], out["create_pool"]
    print(
        f"create: plain server {med(plain['server_s']):.3f} s wall {med(plain['wall_s']):.3f} s; "
        f"warm pool server {med(pool['server_s']) * 1000:.1f} ms wall {med(pool['wall_s']) * 1000:.1f} ms "
        f"({med(pool['wall_s']) / med(plain['wall_s']):.3f}x plain)"
    )
    worst = max(last["clone_wall_s"])
    print(
        f"targets: clone under 1 s at {last['files']} files: {'met' if med(last['clone_wall_s']) < 1 else 'MISSED'} "
        f"(worst run {worst:.3f} s); warm-pool create under 100 ms: "
        f"{'met' if med(pool['wall_s']) < 0.1 else 'MISSED'}"
    )


def subvolumes_under(path: Path) -> list[Path]:
    """Every btrfs subvolume below `path` (deepest first)."""
    mount = Path(subprocess.run(["findmnt", "-n", "-o", "TARGET", "-T", str(path)], capture_output=True,
                                text=True).stdout.strip() or "/")  # fmt: skip
    listed = subprocess.run(["btrfs", "subvolume", "list", "-o", str(mount)], capture_output=True, text=True).stdout
    listed += subprocess.run(["btrfs", "subvolume", "list", str(mount)], capture_output=True, text=True).stdout
    found = {mount / line.split(" path ", 1)[1] for line in listed.splitlines() if " path " in line}
    mine = [f for f in found if f.is_relative_to(path) and f != path]
    return sorted(mine, key=lambda f: -len(f.parts))


def cleanup(work: Path, platform: RunningPlatform | None) -> None:
    """The platform, then whatever it started that outlives it (database servers, a service),
    found by pid through their command line or their folder, then the folder."""
    if platform is not None:
        platform.stop()
    for pid_file in work.rglob("postmaster.pid"):
        subprocess.run(
            [_pg_ctl(), "stop", "-D", str(pid_file.parent), "-m", "immediate"], capture_output=True, timeout=60
        )
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if str(work) in command or cwd.startswith(str(work)):
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGKILL)
    for sub in subvolumes_under(work):
        subprocess.run(["btrfs", "subvolume", "delete", str(sub)], capture_output=True)
    cow.delete_tree(work)
    shutil.rmtree(work, ignore_errors=True)


def _pg_ctl() -> str:
    import pgserver

    return str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_ctl")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp/codeforge-btrfs"), help="a folder on btrfs")
    parser.add_argument("--quick", action="store_true", help="200 and 5,000 files, a 64 MB database")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--full-copy-repeat", type=int, default=1, help="runs of cp -a --reflink=never")
    parser.add_argument("--db-mb", type=int, default=None, help="database size (default 1024; --quick 64)")
    parser.add_argument("--log", type=Path, default=None, help="copy the platform's log here before cleaning up")
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--profile", type=Path, default=None, help="py-spy the platform during the clones into this file"
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("needs root: the platform makes btrfs subvolumes")
    if cow.filesystem_of(args.dir) != "btrfs":
        raise SystemExit(f"{args.dir} is not on btrfs: mount a btrfs volume there or pass --dir")
    if args.quick:
        sizes = [Size("200", 200, 1, 4), Size("5000", 5000, 2, 40)]
    else:
        # 1,000 files of ~30 MB (the 50,000's proportions); 50,000 files of ~1.5 GB: ~49,990
        # sources of 1-16 KB (~420 MB) and 10 data files of 110 MB.
        sizes = [Size("1000", 1000, 1, 22), Size("50000", 50_000, 10, 110)]
    args.db_mb = args.db_mb or (64 if args.quick else 1024)
    need = (2 * sum(s.large * s.large_mb + s.files * 9 // 1000 for s in sizes) + 3 * args.db_mb) << 20
    free = shutil.disk_usage(args.dir).free
    if free < need:
        raise SystemExit(f"{args.dir} has {free >> 20} MiB free; this run needs about {need >> 20} MiB")
    work = args.dir / f"bench-clone-{secrets.token_hex(3)}"
    platform = None
    started = time.perf_counter()
    try:
        platform = start_platform(work, **ENV)
        print(f"platform on {platform.url}, data in {platform.data_dir}", flush=True)
        out = bench(platform, args, sizes, work)
        report(out)
        if args.json:
            print(json.dumps(out, indent=1))
    finally:
        if args.log is not None and platform is not None and platform.log_path.exists():
            shutil.copyfile(platform.log_path, args.log)
        cleanup(work, platform)
    print(f"whole run: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
