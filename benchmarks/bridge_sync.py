"""File sync: initial sync of a large tree against rsync, and change latency against watchfiles.

1. Initial sync of a generated tree (10,000 files, 200 MB, random content in 100 folders)
   into an empty folder: `rsync -a` to an rsync daemon on loopback (started here, its own
   port) against CodeForge's sync, whose workspace half runs in a second process behind a
   real websocket on loopback, the local half here (`run_sync(..., watch=False)`). Both read
   the same warm source; each writes a fresh destination. Target: at most 1.5x rsync.
   `--repeat` runs (rsync then the sync, fresh destinations each time); each prints wall
   seconds and the CPU seconds of every end (rsync's client and daemon, the sync's local
   and workspace halves), a steadier figure than wall time on a shared machine.
2. A change reaching the other side: with both halves watching, a file is rewritten
   locally and the time until the workspace copy holds the new content is taken, 40 times.
   Baseline: watchfiles' own notification latency for the same write (same settings), in
   the same run. Target: p50 under 50 ms.

The websocket here carries the bridge's `Link` frames exactly, without the bridge's
handshake (token check and session) which happens once per connection, not per file.

    .venv/bin/python -m benchmarks.bridge_sync [--files 10000] [--megabytes 200] [--repeat 5]
        [--rounds 40] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import watchfiles
import websockets

from codeforge.bridge.link import Link
from codeforge.bridge.sync.client import SyncEvent, run_sync
from codeforge.bridge.sync.watch import DEBOUNCE_MS, STEP_MS

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATIO = 1.5
TARGET_LATENCY_MS = 50.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def generate(root: Path, files: int, total: int) -> None:
    """`files` files of random content summing to about `total` bytes: mostly small ones,
    1% large (a third of the bytes), as a source tree with a few assets looks."""
    rng = random.Random(9)
    large = max(1, files // 100)
    large_size = total // 3 // large
    small_size = (total - large * large_size) // (files - large)
    blob = os.urandom(max(large_size, 2 * small_size) + 1)
    for i in range(files):
        folder = root / f"d{i % 100:02}" / f"s{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        size = large_size if i < large else rng.randint(small_size // 2, small_size * 3 // 2)
        start = rng.randint(0, len(blob) - size)
        (folder / f"f{i:05}.dat").write_bytes(blob[start : start + size])


def warm(root: Path) -> int:
    total = 0
    for dirpath, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(dirpath, name), "rb") as f:
                total += len(f.read())
    return total


def time_rsync(src: Path, dest: Path, work: Path) -> tuple[float, float, float]:
    """Wall seconds, and CPU seconds of the rsync client and of the daemon (with the
    receiver it forks)."""
    port = _free_port()
    conf = work / "rsyncd.conf"
    conf.write_text(
        f"pid file = {work}/rsyncd.pid\nuse chroot = false\nuid = {os.getuid()}\ngid = {os.getgid()}\n"
        f"[bench]\n  path = {dest}\n  read only = false\n"
    )
    daemon = subprocess.Popen(
        ["rsync", "--daemon", "--no-detach", f"--config={conf}", f"--port={port}", "--address=127.0.0.1"],
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.02)
        me, server = psutil.Process(), psutil.Process(daemon.pid)
        before_me, before_server = _cpu(me), _cpu(server)
        start = time.perf_counter()
        subprocess.run(["rsync", "-a", f"{src}/", f"rsync://127.0.0.1:{port}/bench/"], check=True)
        elapsed = time.perf_counter() - start
        # The daemon forks a receiver per connection; wait until it has been reaped.
        for _ in range(100):
            if not server.children():
                break
            time.sleep(0.02)
        return elapsed, _cpu(me) - before_me, _cpu(server) - before_server
    finally:
        daemon.terminate()
        daemon.wait(10)


# -- the workspace half in its own process ------------------------------------------------


async def _serve_workspace(folder: Path, port: int) -> None:
    from codeforge.bridge.sync.server import serve_folder

    async def handler(ws: Any) -> None:
        link = Link("bench", "bench")
        attach = asyncio.ensure_future(link.attach(ws, 0))
        try:
            await serve_folder(link, folder)
        finally:
            await link.close()
            attach.cancel()

    async with websockets.serve(handler, "127.0.0.1", port, max_size=None, compression=None):
        print("ready", flush=True)
        await asyncio.Future()


def _start_workspace(folder: Path) -> tuple[subprocess.Popen[str], int]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            *os.environ.get("CF_BENCH_SERVER", "-m benchmarks.bridge_sync").split(),
            "--serve",
            str(folder),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError("the workspace half did not start")
    return proc, port


def _dialer(port: int) -> tuple[Any, list[Any]]:
    opened: list[Any] = []

    async def dial(channel: str, params: dict[str, str]) -> Link:
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/{channel}", max_size=None, compression=None)
        link = Link("bench", "bench", params)
        opened.append(asyncio.ensure_future(link.attach(ws, 0)))
        return link

    return dial, opened


def _cpu(process: psutil.Process) -> float:
    """CPU seconds (user + system) of a process and its reaped children."""
    t = process.cpu_times()
    return float(t.user + t.system + t.children_user + t.children_system)


async def time_sync(src: Path, dest: Path) -> tuple[float, float, float, dict[str, Any]]:
    """Wall seconds, CPU seconds of the local half (this process) and of the workspace half,
    and the sync's final figures."""
    proc, port = _start_workspace(dest)
    try:
        dial, _ = _dialer(port)
        events: list[SyncEvent] = []
        me, server = psutil.Process(), psutil.Process(proc.pid)
        before_me, before_server = _cpu(me), _cpu(server)
        start = time.perf_counter()
        rc = await run_sync(dial, src, watch=False, on_event=events.append)
        elapsed = time.perf_counter() - start
        cpu_me, cpu_server = _cpu(me) - before_me, _cpu(server) - before_server
        if rc != 0:
            raise RuntimeError(f"sync failed: {[e.message for e in events if e.kind == 'error'][:5]}")
        return elapsed, cpu_me, cpu_server, events[-1].data
    finally:
        proc.terminate()
        proc.wait(10)


# -- change latency -------------------------------------------------------------------------


async def _arrival(path: Path, content: bytes) -> float:
    while True:
        try:
            if path.read_bytes() == content:
                return time.perf_counter()
        except OSError:
            pass
        await asyncio.sleep(0.0005)


async def sync_latency(src: Path, dest: Path, rounds: int) -> list[float]:
    proc, port = _start_workspace(dest)
    dial, _ = _dialer(port)
    events: list[SyncEvent] = []
    client = asyncio.ensure_future(run_sync(dial, src, watch=True, on_event=events.append))
    try:
        while not any(e.data.get("phase") == "watching" for e in events):
            if client.done():
                raise RuntimeError(f"sync ended: {[e.message for e in events]}")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        samples = []
        for i in range(rounds):
            content = f"change {i} {time.time()}\n".encode() * 10
            start = time.perf_counter()
            (src / "probe.txt").write_bytes(content)
            arrived = await asyncio.wait_for(_arrival(dest / "probe.txt", content), 10)
            samples.append((arrived - start) * 1000)
            await asyncio.sleep(0.1)
        return samples
    finally:
        client.cancel()
        proc.terminate()
        proc.wait(10)


async def watchfiles_latency(folder: Path, rounds: int) -> list[float]:
    samples: list[float] = []
    stop = asyncio.Event()
    got = asyncio.Queue[float]()

    async def watch() -> None:
        async for _ in watchfiles.awatch(folder, step=STEP_MS, debounce=DEBOUNCE_MS, stop_event=stop):
            got.put_nowait(time.perf_counter())

    task = asyncio.ensure_future(watch())
    await asyncio.sleep(0.5)
    for i in range(rounds):
        start = time.perf_counter()
        (folder / "probe.txt").write_bytes(f"change {i}\n".encode() * 10)
        samples.append((await asyncio.wait_for(got.get(), 10) - start) * 1000)
        await asyncio.sleep(0.1)
        while not got.empty():
            got.get_nowait()
    stop.set()
    await task
    return samples


def _initial_runs(work: Path, src: Path, repeat: int, show: bool) -> list[dict[str, float]]:
    """`repeat` runs of rsync then the sync, each into a fresh destination; per run both
    tools' wall and CPU seconds (CPU is steadier on a busy machine: it does not count the
    time another process held the core)."""
    runs: list[dict[str, float]] = []
    for i in range(repeat):
        for name in ("rsync", "sync"):
            shutil.rmtree(work / name, ignore_errors=True)
            (work / name).mkdir()
        os.sync()  # the previous run's writes are not flushed on this run's time
        rsync_s, rsync_client, rsync_daemon = time_rsync(src, work / "rsync", work)
        os.sync()
        sync_s, sync_local, sync_workspace, figures = asyncio.run(time_sync(src, work / "sync"))
        run = {
            "rsync_s": rsync_s,
            "rsync_cpu_client_s": rsync_client,
            "rsync_cpu_daemon_s": rsync_daemon,
            "sync_s": sync_s,
            "sync_cpu_local_s": sync_local,
            "sync_cpu_workspace_s": sync_workspace,
            "sync_bytes_sent": float(figures.get("bytes_sent") or 0),
            "load": os.getloadavg()[0],
        }
        run["ratio"] = sync_s / rsync_s
        run["cpu_ratio"] = (sync_local + sync_workspace) / (rsync_client + rsync_daemon)
        runs.append(run)
        if show:
            print(
                f"  run {i + 1}: rsync {rsync_s:5.2f} s (CPU {rsync_client:.2f} + {rsync_daemon:.2f} s)"
                f"   sync {sync_s:5.2f} s (CPU {sync_local:.2f} local + {sync_workspace:.2f} workspace s)"
                f"   ratio {run['ratio']:.2f}x, CPU {run['cpu_ratio']:.2f}x   (load {run['load']:.1f})",
                flush=True,
            )
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--megabytes", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5, help="initial-sync runs (each against rsync)")
    parser.add_argument("--rounds", type=int, default=40, help="change-latency rounds (0: skip that part)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve_workspace(Path(args.serve), args.port))
        return 0
    if shutil.which("rsync") is None:
        print("rsync is not installed: the baseline cannot run", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cf-bench-sync-", dir=os.environ.get("CODEFORGE_BENCH_DIR")) as tmp:
        work = Path(tmp)
        src = work / "src"
        generate(src, args.files, args.megabytes * 1024 * 1024)
        size = warm(src)
        if not args.json:
            print(f"initial sync of {args.files} files, {size / 1e6:.0f} MB, {args.repeat} runs:", flush=True)
        runs = _initial_runs(work, src, max(1, args.repeat), not args.json)
        shutil.rmtree(work / "rsync")
        sync_ms: list[float] = []
        base_ms: list[float] = []
        if args.rounds > 0:
            # Latency on a small tree (the probe's path is what matters, not the tree's size).
            small_src, small_dest, plain = work / "lat-src", work / "lat-dest", work / "plain"
            for folder in (small_src, small_dest, plain):
                folder.mkdir()
            (small_src / "keep.txt").write_text("x")
            sync_ms = asyncio.run(sync_latency(small_src, small_dest, args.rounds))
            base_ms = asyncio.run(watchfiles_latency(plain, args.rounds))

    def median(key: str) -> float:
        return float(statistics.median(run[key] for run in runs))

    result: dict[str, Any] = {
        "files": args.files,
        "bytes": size,
        "runs": [{k: round(v, 3) for k, v in run.items()} for run in runs],
        "rsync_s": round(median("rsync_s"), 3),
        "sync_s": round(median("sync_s"), 3),
        "ratio": round(median("ratio"), 2),
        "best_ratio": round(min(run["ratio"] for run in runs), 2),
        "cpu_ratio": round(median("cpu_ratio"), 2),
        "rsync_cpu_s": round(median("rsync_cpu_client_s") + median("rsync_cpu_daemon_s"), 2),
        "sync_cpu_s": round(median("sync_cpu_local_s") + median("sync_cpu_workspace_s"), 2),
        "sync_bytes_sent": int(runs[-1]["sync_bytes_sent"]),
    }
    if sync_ms:
        result |= {
            "change_p50_ms": round(statistics.median(sync_ms), 1),
            "change_p90_ms": round(statistics.quantiles(sync_ms, n=10)[-1], 1),
            "watchfiles_p50_ms": round(statistics.median(base_ms), 1),
            "watchfiles_p90_ms": round(statistics.quantiles(base_ms, n=10)[-1], 1),
        }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"  median: rsync -a to a daemon {result['rsync_s']:.2f} s (CPU {result['rsync_cpu_s']:.2f} s, both ends)"
        )
        print(
            f"          codeforge sync       {result['sync_s']:.2f} s (CPU {result['sync_cpu_s']:.2f} s, both halves)"
        )
        print(
            f"  ratio {result['ratio']:.2f}x (best {result['best_ratio']:.2f}x, target <= {TARGET_RATIO}x);"
            f" CPU ratio {result['cpu_ratio']:.2f}x"
        )
        if sync_ms:
            print(f"change reaching the other side ({args.rounds} rounds):")
            print(f"  codeforge sync p50     {result['change_p50_ms']:6.1f} ms (p90 {result['change_p90_ms']} ms)")
            print(
                f"  watchfiles alone p50   {result['watchfiles_p50_ms']:6.1f} ms (p90 {result['watchfiles_p90_ms']} ms)"
            )
            print(f"  target p50 < {TARGET_LATENCY_MS:g} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
