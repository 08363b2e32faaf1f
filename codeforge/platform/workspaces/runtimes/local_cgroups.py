"""The cgroup a local workspace's processes run in (docs/workspaces.md, "Runtimes"): its CPU
and memory limits, and the list of every process it holds, so a stop reaches processes that
left their process group. cgroup v2 (one unified tree with `cpu.max`/`memory.max`) or v1 (one
tree per controller, `cpu.cfs_quota_us`/`memory.limit_in_bytes`), whichever this host mounts."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

from codeforge.catalog.errors import BadInput, FieldProblem
from codeforge.platform.workspaces.records import Limits
from codeforge.platform.workspaces.runtimes.base import Unavailable

__all__ = [
    "CGROUP_ROOT",
    "cgroup_paths",
    "cgroup_pids",
    "detect_cgroups",
    "kill_cgroups",
    "make_cgroups",
    "remove_cgroups",
]

CGROUP_ROOT = Path("/sys/fs/cgroup")
_PERIOD_US = 100_000


def detect_cgroups(root: Path = CGROUP_ROOT) -> tuple[str | None, str]:
    """("v2" | "v1" | None, why): which cgroup version can limit CPU and memory here."""
    controllers = root / "cgroup.controllers"
    if controllers.is_file():
        have = controllers.read_text().split()
        missing = [c for c in ("cpu", "memory") if c not in have]
        if missing:
            return None, f"cgroup v2 at {root} lacks the {', '.join(missing)} controller(s)"
        return "v2", f"cgroup v2 at {root}"
    if (root / "memory" / "memory.limit_in_bytes").is_file() and (root / "cpu" / "cpu.cfs_quota_us").is_file():
        return "v1", f"cgroup v1 at {root}/memory and {root}/cpu"
    return None, f"no cgroup v2 (cgroup.controllers) nor v1 memory and cpu controllers under {root}"


def cgroup_paths(ws_id: str, version: str, root: Path = CGROUP_ROOT) -> list[Path]:
    name = f"codeforge-ws-{ws_id}"
    if version == "v2":
        return [root / name]
    return [root / "memory" / name, root / "cpu" / name]


def _host_memory_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 0


def check_limits(limits: Limits) -> None:
    """Limits the host cannot give are bad input, with the host's figure."""
    problems = []
    cpus = os.cpu_count() or 1
    if limits.cpus is not None and not 0 < limits.cpus <= cpus:
        problems.append(
            FieldProblem("limits.cpus", f"{limits.cpus} CPUs asked; this host has {cpus}", f"ask 0 < cpus <= {cpus}")
        )
    host_mb = _host_memory_mb()
    if limits.memory_mb is not None and not 0 < limits.memory_mb <= host_mb:
        problems.append(
            FieldProblem(
                "limits.memory_mb",
                f"{limits.memory_mb} MB asked; this host has {host_mb} MB",
                f"ask 0 < memory_mb <= {host_mb}",
            )
        )
    if problems:
        raise BadInput("the workspace's limits do not fit this host", errors=problems)


def _write(path: Path, value: str) -> None:
    path.write_text(value)


def make_cgroups(ws_id: str, limits: Limits, root: Path = CGROUP_ROOT) -> list[Path]:
    """Make the workspace's cgroup(s) with its limits; on any failure remove what was made and
    raise Unavailable naming the limit and the reason."""
    check_limits(limits)
    asked = ", ".join(
        part
        for part in (
            f"cpus={limits.cpus}" if limits.cpus is not None else "",
            f"memory_mb={limits.memory_mb}" if limits.memory_mb is not None else "",
        )
        if part
    )
    version, why = detect_cgroups(root)
    if version is None:
        raise Unavailable(
            f"the local runtime cannot apply the limit(s) {asked}: {why}",
            fix="run without cpus/memory limits, or on a host with cgroups mounted read-write",
        )
    paths = cgroup_paths(ws_id, version, root)
    made: list[Path] = []
    try:
        if version == "v2":
            # The controllers must be enabled for the root's children (a no-op when they are).
            _write(root / "cgroup.subtree_control", "+cpu +memory")
        for path in paths:
            path.mkdir(exist_ok=True)
            made.append(path)
        if version == "v2":
            (cg,) = paths
            if limits.memory_mb is not None:
                _write(cg / "memory.max", str(limits.memory_mb * 1024 * 1024))
                if (cg / "memory.swap.max").exists():
                    _write(cg / "memory.swap.max", "0")  # else the limit only moves pages to swap
            if limits.cpus is not None:
                _write(cg / "cpu.max", f"{int(limits.cpus * _PERIOD_US)} {_PERIOD_US}")
        else:
            mem, cpu = paths
            if limits.memory_mb is not None:
                _write(mem / "memory.limit_in_bytes", str(limits.memory_mb * 1024 * 1024))
                if (mem / "memory.memsw.limit_in_bytes").exists():
                    _write(mem / "memory.memsw.limit_in_bytes", str(limits.memory_mb * 1024 * 1024))
            if limits.cpus is not None:
                _write(cpu / "cpu.cfs_period_us", str(_PERIOD_US))
                _write(cpu / "cpu.cfs_quota_us", str(int(limits.cpus * _PERIOD_US)))
    except OSError as exc:
        remove_cgroups(made)
        raise Unavailable(
            f"the local runtime cannot apply the limit(s) {asked}: making the cgroup under {root} failed: {exc}",
            fix="run without cpus/memory limits, or give the platform write access to the cgroup tree",
        ) from exc
    return made


def cgroup_pids(paths: list[Path]) -> set[int]:
    pids: set[int] = set()
    for path in paths:
        try:
            pids.update(int(p) for p in (path / "cgroup.procs").read_text().split())
        except OSError:
            continue
    return pids


def kill_cgroups(paths: list[Path]) -> None:
    for pid in cgroup_pids(paths):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def remove_cgroups(paths: list[Path], *, wait_s: float = 5.0) -> list[str]:
    """rmdir each cgroup (gone is fine); a cgroup still holding processes (dying ones take a
    moment to leave) is retried until wait_s. Returns what could not be removed, with why."""
    left: list[str] = []
    for path in paths:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                path.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if time.monotonic() >= deadline:
                    left.append(f"{path}: {exc}")
                    break
                kill_cgroups([path])
                time.sleep(0.05)
    return left
