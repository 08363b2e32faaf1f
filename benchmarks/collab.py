"""Collaboration rooms under load: N real Yjs clients typing into one room, against the
reference Node server (`@y/websocket-server` 0.1.1 with yjs 13) in the same run.

For each N (default 2, 10, 50) and each server (node, codeforge, pycrdt), one after the other
and under the same load (the same seeded edits), the server is started pinned to one core
(`taskset`) and a load generator (benchmarks/collab_node/load.mjs: N y-websocket providers in
one Node process) pinned to the other cores:

- a fixed step, 10 edits/s per client for --seconds: propagation latency to all clients
  (p50/p99: from an edit at its sender until every other client has it), server CPU (its
  process's user+system time over the step, from /proc through psutil) and peak RSS;
- the sustainable rate (N >= 10, unless --no-ramp): the per-client rate rises by half every
  --step seconds until a step's backlog does not drain or its latency grows without bound (the
  last quarter's median over twice the first quarter's plus 20 ms, or a p99 over 1 s); the
  highest rate kept before two failing steps in a row (or one that did not drain) is reported. The clients do N times the Yjs work the server does (each
  applies every edit), so on a small machine one Node process of clients cannot saturate a
  server that has a whole core: for the ramp the server is held to a share of its core (a
  cgroup CPU quota: --quota, 10 %, times N/20 from 20 clients on: 25 % at 50), the same for
  every server, and the rate is the server's at that share. Where the
  machine allows no cgroup, it runs unlimited and a step the generator could not keep up with
  says `generator-bound`;
- final convergence: every client's text equal.

    .venv/bin/python -m benchmarks.collab [--clients 2,10,50] [--servers node,codeforge,pycrdt]
                                          [--seconds 10] [--step 3] [--json] [--profile DIR]

Ratios are against the Node server measured in the same run. The load generator runs on the
other cores: when it cannot keep the rate (its own CPU), the step says `generator-bound`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
NODE_MODULES = ROOT / "tests" / "collab" / "node" / "node_modules"
LOAD = ROOT / "benchmarks" / "collab_node" / "load.mjs"
SERVERS = ("node", "codeforge", "pycrdt")
# The load generator's own V8 flags (the same against every server): see docs/benchmarks.md.
NODE_FLAGS = [f for f in os.environ.get("COLLAB_LOAD_NODE_FLAGS", "").split() if f]
RAMP = (10, 15, 22, 33, 50, 75, 112, 168, 250, 375, 560)  # edits/s per client, each step
RAMP_MANY = (4, 5, 6, 8, 10, 12, 15, 19, 24, 30, 38)  # from 30 clients: the generator's ceiling is low
CGROUP_CPU = Path("/sys/fs/cgroup/cpu")  # cgroup v1's cpu controller (this machine's kind)
QUOTA_PERIOD_US = 10_000  # short, so a throttled server stalls 10 ms at most, not 100


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cores(spec: str) -> list[int]:
    return [int(c) for c in spec.split(",") if c != ""]


REALTIME = 0  # --realtime: the server's and the clients' main threads' SCHED_RR priority (0: none)


def _pin(cores: list[int]) -> list[str]:
    return ["taskset", "-c", ",".join(map(str, cores))] if shutil.which("taskset") and cores else []


def _realtime(pid: int) -> None:
    """The process's main thread (its event loop) under SCHED_RR, with reset-on-fork. Only that
    thread: one real-time thread per core. Threads of a real-time process would share its core
    round-robin in 100 ms slices (a V8 helper thread holding the core that long), where the
    other threads, ordinary, simply yield to it."""
    if REALTIME:
        subprocess.run(["chrt", "-r", "-R", "-p", str(REALTIME), str(pid)], check=True, stdout=subprocess.DEVNULL)


def _server_command(
    kind: str, port: int, profile: Path | None, trace: Path | None = None, coalesce_ms: float | None = None
) -> tuple[list[str], dict[str, str]]:
    env = dict(os.environ)
    if kind == "node":
        # @y/websocket-server's own src/server.js, unchanged (the wrapper says why it is needed)
        server = ROOT / "benchmarks" / "collab_node" / "reference_server.mjs"
        return ["node", str(server)], {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    command = [sys.executable, "-m", "benchmarks.collab_servers", kind, "--port", str(port)]
    if profile is not None:
        command += ["--profile", str(profile)]
    if trace is not None and kind == "codeforge":
        command += ["--trace", str(trace)]
    if coalesce_ms is not None and kind == "codeforge":
        command += ["--coalesce-ms", str(coalesce_ms)]
    return command, env


def _wait_listening(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode}) before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} in 30 s")


@contextlib.contextmanager
def _server(
    kind: str,
    cores: list[int],
    profile: Path | None,
    trace: Path | None = None,
    coalesce_ms: float | None = None,
    realtime: bool = True,
) -> Iterator[tuple[psutil.Process, int]]:
    port = _free_port()
    command, env = _server_command(kind, port, profile, trace, coalesce_ms)
    process = subprocess.Popen(_pin(cores) + command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        _wait_listening(port, process, f"the {kind} server")
        if realtime:
            _realtime(process.pid)
        yield psutil.Process(process.pid), port
    finally:
        process.terminate()
        try:
            process.wait(30)  # a profiled server writes its profile on the way out
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def _cpu_quota(process: psutil.Process, share: float | None) -> Iterator[bool]:
    """Hold `process` to `share` of one core (a cgroup's CFS quota) while inside; False when
    the machine does not let this process make cgroups (then the server runs unlimited)."""
    if share is None:
        yield False
        return
    group = CGROUP_CPU / f"codeforge-collab-bench-{os.getpid()}"
    try:
        group.mkdir()
        # short periods, so a throttled server stalls briefly; the kernel's least quota is 1 ms
        period = max(QUOTA_PERIOD_US, int(1000 / share))
        (group / "cpu.cfs_period_us").write_text(str(period))
        (group / "cpu.cfs_quota_us").write_text(str(int(period * share)))
        (group / "cgroup.procs").write_text(str(process.pid))
    except OSError as exc:
        print(f"  (no CPU quota: {exc}; the ramp may measure the load generator)", file=sys.stderr)
        with contextlib.suppress(OSError):
            group.rmdir()
        yield False
        return
    try:
        yield True
    finally:
        with contextlib.suppress(OSError, psutil.Error):
            if process.is_running():
                (CGROUP_CPU / "cgroup.procs").write_text(str(process.pid))
        with contextlib.suppress(OSError):
            group.rmdir()


@dataclass
class _Peak:
    """The server's largest RSS, sampled every 100 ms."""

    process: psutil.Process
    rss: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(psutil.Error):
                self.rss = max(self.rss, self.process.memory_info().rss)
            self.stop.wait(0.1)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def _run_load(
    kind: str, n: int, steps: list[tuple[int, float]], server_cores: list[int], client_cores: list[int],
    profile: Path | None, drain: float, quota: float | None = None, trace: Path | None = None,
    coalesce_ms: float | None = None, warmup: float = 0.0,
) -> dict[str, Any]:  # fmt: skip
    """One server, one load generator: the steps' figures with the server's CPU per step.
    `trace` (a folder): both sides' per-edit times, joined afterwards (see `split`)."""
    server_trace = None if trace is None or kind != "codeforge" else trace / "server.json"
    with (
        # a CPU quota holds CFS tasks only: the ramp's server and clients are not real-time
        _server(kind, server_cores, profile, server_trace, coalesce_ms, quota is None) as (server, port),
        _cpu_quota(server, quota) as limited,
    ):
        peak = _Peak(server)
        sampler = threading.Thread(target=peak.run, daemon=True)
        sampler.start()
        spec = ",".join(f"{rate}:{seconds:g}" for rate, seconds in steps)
        command = [
            *_pin(client_cores),
            "node", *NODE_FLAGS, str(LOAD), "--url", f"ws://127.0.0.1:{port}", "--room", f"bench-{n}", "--clients", str(n),
            "--steps", spec, "--drain", str(drain), "--warmup", str(warmup),
        ]  # fmt: skip
        if server_trace is not None and trace is not None:
            command += ["--trace", str(trace / "clients.json")]
        rss_ready = 0
        results: list[dict[str, Any]] = []
        done: dict[str, Any] = {}
        cpu_at: dict[int, float] = {}
        load = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if quota is None:
            _realtime(load.pid)
        try:
            assert load.stdout is not None
            for line in load.stdout:
                if not line.startswith("{"):
                    continue
                event = json.loads(line)
                kind_ = event.get("event")
                if kind_ == "ready":
                    rss_ready = server.memory_info().rss
                elif kind_ == "start":
                    cpu_at[event["rate"]] = _cpu(server)
                elif kind_ == "end":
                    event_cpu = _cpu(server) - cpu_at[event["rate"]]
                    cpu_at[event["rate"]] = event_cpu
                elif kind_ == "step":
                    event["serverCpuS"] = cpu_at.get(event["rate"])
                    results.append(event)
                elif kind_ == "done":
                    done = event
                elif kind_ == "error":
                    raise RuntimeError(f"load generator: {event['message']}")
            load.wait(30)
        finally:
            if load.poll() is None:
                load.kill()
                load.wait()
            peak.stop.set()
            sampler.join()
        if load.returncode != 0 or not done:
            err = load.stderr.read() if load.stderr else ""
            raise RuntimeError(f"the load generator failed ({load.returncode}): {err[-2000:]}")
        return {"steps": results, "done": done, "rssReady": rss_ready, "rssPeak": peak.rss, "quota": limited}


def _pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def split(trace: Path) -> dict[str, Any]:
    """Where an edit's trip to all clients went, from the two traces of one fixed step (one
    clock, CLOCK_MONOTONIC): `up` typed at its sender until the server began handling its
    message (the sender's process, loopback, the server's loop waking), `wait` until the
    flush that relayed it began (applying it, the coalescing window, other work in the
    server's loop), `fanout` that flush writing to every socket, `down` from the server's
    last write until the last client had applied it (the clients' process reading N sockets
    and applying the update in each document), `downFirst` until the first client had it.
    `serverDone` is typed until written to the last socket: what the clients' process adds
    after that is theirs. Also: for the slowest 1 % of edits, each part's mean."""
    clients = json.loads((trace / "clients.json").read_text())
    server = json.loads((trace / "server.json").read_text())
    # the server traced the warm-up too: its flushes and collections count from the step's first edit
    begin = min((e["typed"] for e in clients["edits"]), default=0)
    server["flushes"] = [f for f in server["flushes"] if f["start"] >= begin]
    at_server = {(u["client"], u["clock"]): u for u in server["updates"]}
    parts: dict[str, list[float]] = {
        k: [] for k in ("up", "wait", "fanout", "down", "downFirst", "serverDone", "total")
    }
    rows = []
    for edit in clients["edits"]:
        seen = at_server.get((edit["client"], edit["clock"]))
        if seen is None or edit["last"] is None:
            continue
        row = {
            "up": seen["received"] - edit["typed"],
            "wait": seen["flushStart"] - seen["received"],
            "fanout": seen["flushEnd"] - seen["flushStart"],
            "down": edit["last"] - seen["flushEnd"],
            "downFirst": edit["first"] - seen["flushEnd"],
            "serverDone": seen["flushEnd"] - edit["typed"],
            "total": edit["last"] - edit["typed"],
        }
        row = {k: v / 1e6 for k, v in row.items()}  # ms
        rows.append(row)
        for k, v in row.items():
            parts[k].append(v)
    out: dict[str, Any] = {"edits": len(rows), "ofEdits": len(clients["edits"])}
    for k, values in parts.items():
        out[k] = {
            "min": min(values, default=None), "p50": _pct(values, 0.5), "p99": _pct(values, 0.99),
            "max": max(values, default=None),
        }  # fmt: skip
    # One clock on both sides: no edit reaches a client before the server took it (a negative
    # `downFirst` beyond the fan-out's own length, or an `up` far from zero at its least, is skew).
    slowest = sorted(rows, key=lambda r: r["total"])[-max(1, len(rows) // 100) :] if rows else []
    out["slowest1pct"] = {k: sum(r[k] for r in slowest) / len(slowest) for k in parts} if slowest else {}
    flushes = server["flushes"]
    merged = [f["updates"] for f in flushes if f["updates"]]
    out["flushes"] = len(flushes)
    out["updatesPerFlush"] = sum(merged) / len(merged) if merged else None
    out["fanoutMs"] = {"p50": _pct([(f["end"] - f["start"]) / 1e6 for f in flushes], 0.5),
                       "p99": _pct([(f["end"] - f["start"]) / 1e6 for f in flushes], 0.99)}  # fmt: skip
    # the collections during the step (not the startup's, nor the shutdown's)
    last = max((u["flushEnd"] for u in server["updates"]), default=0)
    server_gc = [g for g in server.get("gc", []) if begin <= g["start"] <= last]
    out["serverGc"] = {
        "collections": len(server_gc),
        "ms": sum(g["ms"] for g in server_gc),
        "maxMs": max((g["ms"] for g in server_gc), default=0),
        "full": sum(1 for g in server_gc if g["generation"] == 2),
    }
    gc = clients.get("gc", [])
    out["clientGc"] = {
        "pauses": len(gc),
        "ms": sum(g["ms"] for g in gc),
        "maxMs": max((g["ms"] for g in gc), default=0),
    }
    kinds = {1: "minor", 4: "major", 8: "incremental", 16: "weakcb"}  # perf_hooks' NODE_PERFORMANCE_GC_*
    for g in gc:
        kind = out["clientGc"].setdefault(kinds.get(g.get("kind"), "other"), {"pauses": 0, "ms": 0.0, "maxMs": 0.0})
        kind["pauses"] += 1
        kind["ms"] += g["ms"]
        kind["maxMs"] = max(kind["maxMs"], g["ms"])
    return out


def _kept(step: dict[str, Any]) -> bool:
    """The rate was sustained: everything delivered, no growing latency, generator kept up."""
    first, last = step.get("firstQuarterP50"), step.get("lastQuarterP50")
    if step["undelivered"] or first is None or last is None or step.get("p99") is None:
        return False
    return bool(last <= 2 * first + 20 and step["p99"] <= 1000)


def _generator_bound(step: dict[str, Any]) -> bool:
    """The clients' own process was (nearly) a whole core busy: the figure is theirs too."""
    return bool(step["sent"] < 0.9 * step["target"] or step["cpuMs"] > 0.85 * step["seconds"] * 1000)


def measure(
    kind: str, n: int, *, seconds: float, step: float, ramp: bool, server_cores: list[int], client_cores: list[int],
    profile_dir: Path | None, drain: float, quota: float | None, split_dir: Path | None = None,
    coalesce_ms: float | None = None, warmup: float = 2.0,
) -> dict[str, Any]:  # fmt: skip
    profile = profile_dir / f"{kind}-{n}.prof" if profile_dir is not None and kind != "node" else None
    trace = None
    if split_dir is not None and kind == "codeforge":
        trace = split_dir / f"{kind}-{n}"
        trace.mkdir(parents=True, exist_ok=True)
    fixed = _run_load(
        kind, n, [(10, seconds)], server_cores, client_cores, profile, drain, trace=trace, coalesce_ms=coalesce_ms,
        warmup=warmup,
    )  # fmt: skip
    out: dict[str, Any] = {"server": kind, "clients": n, "fixed": fixed["steps"][0] if fixed["steps"] else None}
    if trace is not None:
        out["split"] = split(trace)
    out.update(converged=fixed["done"].get("converged"), rssReady=fixed["rssReady"], rssPeak=fixed["rssPeak"])
    if ramp:
        rates = RAMP_MANY if n >= 30 else RAMP
        share = None if quota is None else min(1.0, quota * max(1.0, n / 20))
        ramped = _run_load(
            kind, n, [(r, step) for r in rates], server_cores, client_cores, None, drain, share, coalesce_ms=coalesce_ms
        )
        # the rates kept in a row from the start; one that failed ends the ramp
        # The highest rate kept before two failures in a row: on a shared machine one step can
        # fail because another process took the core for a moment (the next one then passes).
        sustained, bound, failures = 0, False, 0
        for s in ramped["steps"]:
            if not _kept(s):
                failures += 1
                if failures == 2 or s["undelivered"]:
                    break
                continue
            failures = 0
            sustained = s["rate"]
            if _generator_bound(s):  # the clients, not the server, stopped here: at least this
                bound = True
                break
        out["ramp"] = ramped["steps"]
        out["sustainable"] = sustained
        out["rampGeneratorBound"] = bound
        out["rampQuota"] = share if ramped["quota"] else None
        out["converged"] = bool(out["converged"] and ramped["done"].get("converged"))
    return out


def _fmt(value: float | None, unit: str = "", digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def _ratio(ours: float | None, theirs: float | None) -> str:
    if not ours or not theirs:
        return "-"
    return f"{ours / theirs:.2f}x"


def report(results: list[dict[str, Any]], load: tuple[tuple[float, ...], tuple[float, ...]]) -> None:
    print(f"\nmachine: {os.cpu_count()} cores; load average {load[0][0]:.2f} before, {load[1][0]:.2f} after")
    head = (
        "| N | server | p50 ms | p99 ms | server CPU (share of a core) | RSS ready/peak MiB | sustainable edits/s/client | "
        "per client at a whole core, from CPU | vs node: p99, CPU, rate | converged |"
    )
    print(head)
    print("| --- " * 10 + "|")
    by = {(r["clients"], r["server"]): r for r in results}
    for r in results:
        fixed = r.get("fixed") or {}
        node = by.get((r["clients"], "node"), {})
        node_fixed = node.get("fixed") or {}
        seconds = fixed.get("seconds") or 1
        cpu = fixed.get("serverCpuS")
        share = None if cpu is None else cpu / seconds
        node_cpu = node_fixed.get("serverCpuS")
        flags = " (generator-bound)" if fixed and _generator_bound(fixed) else ""
        sustainable = r.get("sustainable")
        whole = None if not share else 10 / share  # edits/s per client one core would carry
        rate = (
            "-"
            if sustainable is None
            else f"{sustainable}{' (generator-bound)' if r.get('rampGeneratorBound') else ''}"
        )
        vs = (
            "-" if r["server"] == "node" else
            f"{_ratio(fixed.get('p99'), node_fixed.get('p99'))}, {_ratio(cpu, node_cpu)}, "
            f"{_ratio(sustainable, node.get('sustainable'))}"
        )  # fmt: skip
        print(
            f"| {r['clients']} | {r['server']} | {_fmt(fixed.get('p50'), '', 2)} | {_fmt(fixed.get('p99'), '', 2)}{flags} | "
            f"{_fmt(share, '', 2)} | {r['rssReady'] / 2**20:.0f} / {r['rssPeak'] / 2**20:.0f} | {rate} | {_fmt(whole, '', 0)} | "
            f"{vs} | "
            f"{r['converged']} |"
        )


def _print_split(out: dict[str, Any]) -> None:
    print(f"  split over {out['edits']} of {out['ofEdits']} edits (ms):", file=sys.stderr)
    for k in ("up", "wait", "fanout", "serverDone", "downFirst", "down", "total"):
        v = out[k]
        print(
            f"    {k:<10} min {_fmt(v['min'], '', 2):>7}  p50 {_fmt(v['p50'], '', 2):>7}  p99 {_fmt(v['p99'], '', 2):>7}  max {_fmt(v['max'], '', 1):>7}"
            f"  slowest 1 %: {_fmt(out['slowest1pct'].get(k), '', 2)}",
            file=sys.stderr,
        )
    print(
        f"    {out['flushes']} flushes, {_fmt(out['updatesPerFlush'], '', 2)} updates each; a flush's fan-out "
        f"p50 {_fmt(out['fanoutMs']['p50'], '', 3)} p99 {_fmt(out['fanoutMs']['p99'], '', 3)} ms; clients' GC "
        f"{out['clientGc']['ms']:.0f} ms in {out['clientGc']['pauses']} pauses (max {out['clientGc']['maxMs']:.1f}); "
        f"server's GC {out['serverGc']['ms']:.0f} ms in {out['serverGc']['collections']}, {out['serverGc']['full']} full "
        f"(max {out['serverGc']['maxMs']:.1f})",
        file=sys.stderr,
        flush=True,
    )
    for kind in ("minor", "major", "incremental", "weakcb", "other"):
        if kind in out["clientGc"]:
            g = out["clientGc"][kind]
            print(
                f"    clients' GC {kind}: {g['pauses']} pauses, {g['ms']:.0f} ms, max {g['maxMs']:.1f}", file=sys.stderr
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default="2,10,50", help="comma-separated client counts")
    parser.add_argument("--servers", default=",".join(SERVERS), help=f"comma-separated, of {', '.join(SERVERS)}")
    parser.add_argument("--seconds", type=float, default=10.0, help="the fixed 10 edits/s step")
    parser.add_argument("--step", type=float, default=3.0, help="seconds per rate of the ramp")
    parser.add_argument(
        "--warmup", type=float, default=2.0,
        help="seconds the clients type at 10 edits/s before the fixed step is measured (compiled code, grown heaps)",
    )  # fmt: skip
    parser.add_argument("--drain", type=float, default=5.0, help="seconds a step's backlog may take to drain")
    parser.add_argument("--no-ramp", action="store_true", help="skip the sustainable-rate ramp")
    parser.add_argument(
        "--quota", type=float, default=0.1,
        help="the share of its core the server gets during the ramp (0: unlimited); see the module's doc",
    )  # fmt: skip
    parser.add_argument("--server-core", default="1", help="the core the server is pinned to")
    parser.add_argument("--client-cores", default=None, help="the load generator's cores (default: the others)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of each Python server's fixed step here")
    parser.add_argument(
        "--split", type=Path,
        help="trace CodeForge's fixed step on both sides into this folder and report where the time went",
    )  # fmt: skip
    parser.add_argument(
        "--coalesce-ms",
        type=float,
        help="CodeForge's flush spacing in rooms of 8+ peers (default: the room's, by peers)",
    )
    parser.add_argument(
        "--realtime", type=int, default=0, metavar="PRIORITY",
        help="run the server's and the clients' main threads under SCHED_RR at this priority (needs root): on a "
        "machine others share, their work then cannot take those cores (nice cannot: autogroups)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    global REALTIME
    REALTIME = args.realtime
    servers = [s for s in args.servers.split(",") if s]
    unknown = [s for s in servers if s not in SERVERS]
    if unknown:
        parser.error(f"unknown server(s) {', '.join(unknown)}; choose from {', '.join(SERVERS)}")
    if shutil.which("node") is None or not (NODE_MODULES / "yjs").is_dir():
        print("the benchmark needs node and tests/collab/node/node_modules (npm ci there)", file=sys.stderr)
        return 2
    counts = [int(n) for n in args.clients.split(",") if n]
    server_cores = _cores(args.server_core)
    all_cores = list(range(os.cpu_count() or 1))
    client_cores = (
        _cores(args.client_cores) if args.client_cores else [c for c in all_cores if c not in server_cores] or all_cores
    )
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    before = os.getloadavg()
    results = []
    for n in counts:
        for kind in servers:
            print(f"N={n} {kind} ...", file=sys.stderr, flush=True)
            result = measure(
                kind, n, seconds=args.seconds, step=args.step, ramp=n >= 10 and not args.no_ramp,
                server_cores=server_cores, client_cores=client_cores, profile_dir=args.profile, drain=args.drain,
                quota=args.quota or None, split_dir=args.split, coalesce_ms=args.coalesce_ms, warmup=args.warmup,
            )  # fmt: skip
            results.append(result)
            fixed = result.get("fixed") or {}
            print(
                f"  p50 {_fmt(fixed.get('p50'), ' ms', 2)}, p99 {_fmt(fixed.get('p99'), ' ms', 2)}, "
                f"server CPU {_fmt(fixed.get('serverCpuS'), ' s', 2)}, sustainable {result.get('sustainable', '-')}, "
                f"converged {result['converged']}",
                file=sys.stderr,
                flush=True,
            )
            if fixed:
                print(
                    f"  clients' CPU {fixed['cpuMs'] / fixed['seconds'] / 10:.0f} % of a core, "
                    f"GC {fixed.get('gcMs', 0):.0f} ms in {fixed.get('gcPauses', 0)} pauses (max {fixed.get('gcMaxMs', 0):.1f})",
                    file=sys.stderr,
                    flush=True,
                )
            if "split" in result:
                _print_split(result["split"])
    after = os.getloadavg()
    if args.json:
        print(json.dumps({"load": [before, after], "results": results}, indent=2))
    else:
        report(results, (before, after))
    return 0 if all(r["converged"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
