"""The local runtime (docs/workspaces.md, "Runtimes"): a workspace's services are processes in
its tree, each the leader of its own session and process group, isolated with bubblewrap where
`bwrap` works here (the tree read-write at its own path, the rest of / read-only, a private
/tmp, the host's network: a service's port is the host port the caller allocated), limited by
a cgroup made for the workspace (local_cgroups.py). State lives under `<state_dir>/runtime/<id>/`:
`workspace.json`, one `<service>.pid` (pid, pgid, start time) and `<service>.log` per service,
so a new LocalRuntime on the same state dir finds, stops and deletes what an earlier one made."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from codeforge.catalog.errors import BadInput, FieldProblem, NotFound
from codeforge.platform.workspaces.records import ExecResult, PortMap, RuntimeHandle, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.base import wait_ready
from codeforge.platform.workspaces.runtimes.local_cgroups import (
    CGROUP_ROOT,
    cgroup_pids,
    kill_cgroups,
    make_cgroups,
    remove_cgroups,
)
from codeforge.platform.workspaces.runtimes.local_procs import alive, group_members, listening_ports, start_time
from codeforge.platform.workspaces.runtimes.local_sandbox import check_command, probe_bwrap, sandbox_env, spawn

__all__ = ["LocalRuntime"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class LocalRuntime:
    name = "local"

    def __init__(
        self, state_dir: Path, *, grace_s: float = 5.0, ready_timeout_s: float = 15.0, cgroup_root: Path = CGROUP_ROOT,
        hide: tuple[Path, ...] = (),
    ) -> None:  # fmt: skip
        self.root = Path(state_dir) / "runtime"
        self.hide = hide  # folders the sandbox covers (the platform's data dir)
        self.cgroup_root = cgroup_root
        self.grace_s = grace_s
        self.ready_timeout_s = ready_timeout_s
        self.bwrap, reason = probe_bwrap()
        # Said in results and banners: what isolates the processes here, or why nothing does.
        self.isolation = "bubblewrap" if self.bwrap else f"none: {reason}"
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # -- the contract -------------------------------------------------------------------------

    def available(self) -> str | None:
        return None  # plain processes always run; `isolation` says how well they are fenced

    def create(self, ws_id: str, spec: WorkspaceSpec, tree: Path, env: dict[str, str]) -> RuntimeHandle:
        if not _ID.match(ws_id):
            raise BadInput(
                "bad workspace id",
                errors=[FieldProblem("ws_id", f"{ws_id!r} is not a safe name", "use letters, digits, '-', '_', '.'")],
            )
        if not tree.is_dir():
            raise NotFound(f"the workspace tree {tree} does not exist", fix="make it with the FileStore first")
        wdir = self._dir(ws_id)
        wdir.mkdir(parents=True, exist_ok=True)
        limits = spec.limits
        cgroups: list[Path] = []
        try:
            if limits.cpus is not None or limits.memory_mb is not None:
                cgroups = make_cgroups(ws_id, limits, self.cgroup_root)
        except Exception:
            shutil.rmtree(wdir, ignore_errors=True)
            raise
        state = {
            "tree": str(tree.resolve()),
            "limits": {"cpus": limits.cpus, "memory_mb": limits.memory_mb},
            "cgroups": [str(p) for p in cgroups],
            "env": env,
        }
        _write_json(wdir / "workspace.json", state)
        return RuntimeHandle("local", ws_id, {"pgids": [], "cgroups": state["cgroups"]})

    def start(self, handle: RuntimeHandle, spec: WorkspaceSpec, env: dict[str, str], ports: list[PortMap]) -> None:
        state = self._state(handle)
        tree = Path(state["tree"])
        cgroups = self._ensure_cgroups(handle.ref, state, spec)
        host_port = {p.service: p.host for p in ports}
        started: list[str] = []
        for svc in spec.services:
            port = host_port.get(svc.name, svc.port)
            penv = sandbox_env(
                {**spec.env, **state["env"], **env, **svc.env, **({"PORT": str(port)} if port else {})}, tree
            )
            argv = [a.replace("$PORT", str(port)) if port else a for a in svc.command]
            cwd = (tree / svc.cwd).resolve()
            check_command(argv, penv, cwd, f"services.{svc.name}.command")
            log = open(self._dir(handle.ref) / f"{svc.name}.log", "ab")  # noqa: SIM115 - handed to the child
            try:
                proc = spawn(self.bwrap, argv, penv, tree, cwd, cgroups, stdout=log, hide=self.hide)
            finally:
                log.close()
            self._children[proc.pid] = proc
            pid_info = {"pid": proc.pid, "pgid": proc.pid, "start": start_time(proc.pid), "argv": argv, "port": port}
            _write_json(self._dir(handle.ref) / f"{svc.name}.pid", pid_info)
            started.append(svc.name)
            # Readiness is awaited only for a service that says it listens (ServiceSpec.port).
            self._wait_ready(handle, svc.name, proc, port if svc.port is not None else None)
        handle.data["pgids"] = sorted(self._pgids(handle.ref))
        handle.data["cgroups"] = [str(p) for p in cgroups]

    def stop(self, handle: RuntimeHandle) -> None:
        wdir = self._dir(handle.ref)
        groups = self._live_groups(handle.ref)
        for pgid in groups:
            _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s
        while group_members(groups) and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.05)
        for pgid in groups:
            _signal_group(pgid, signal.SIGKILL)
        cgroups = [Path(p) for p in self._read_state(handle.ref).get("cgroups", [])]
        kill_cgroups(cgroups)  # processes that left their group (setsid) are still in the cgroup
        deadline = time.monotonic() + self.grace_s
        while group_members(groups) and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.02)
        self._reap()
        remove_cgroups(cgroups)
        for pid_file in wdir.glob("*.pid"):
            pid_file.unlink(missing_ok=True)
        handle.data["pgids"] = []

    def delete(self, handle: RuntimeHandle) -> None:
        if not self._dir(handle.ref).exists():
            remove_cgroups([Path(p) for p in handle.data.get("cgroups", [])])
            return
        self.stop(handle)
        shutil.rmtree(self._dir(handle.ref), ignore_errors=True)

    def exec(self, handle: RuntimeHandle, argv: list[str], *, timeout_s: float) -> ExecResult:
        state = self._state(handle)
        tree = Path(state["tree"])
        penv = sandbox_env(dict(state["env"]), tree)
        check_command(argv, penv, tree, "argv")
        cgroups = [Path(p) for p in state.get("cgroups", []) if Path(p).is_dir()]
        # Output to a file, not a pipe: a background process the command leaves holding the
        # pipe would keep a reader waiting until the timeout. The command's process group goes
        # when it returns, so nothing it started in the background outlives it (a daemon is a
        # service's job, and a service is started and stopped as one).
        with tempfile.TemporaryFile() as out:
            proc = spawn(self.bwrap, argv, penv, tree, tree, cgroups, stdout=out, hide=self.hide)
            try:
                code = proc.wait(timeout=timeout_s)
                note = ""
            except subprocess.TimeoutExpired:
                code, note = 124, f"\n[timed out after {timeout_s:g}s: {' '.join(argv)} was killed]"
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
            out.seek(0)
            return ExecResult(code, out.read().decode(errors="replace") + note)

    def logs(self, handle: RuntimeHandle, *, tail: int, service: str | None) -> list[str]:
        wdir = self._dir(handle.ref)
        names = sorted(p.stem for p in wdir.glob("*.log"))
        if service is not None:
            if service not in names:
                raise NotFound(
                    f"no log for service {service!r} in workspace {handle.ref}",
                    fix=f"one of: {', '.join(names) or 'none yet'}",
                )
            return _tail(wdir / f"{service}.log", tail)
        lines: list[str] = []
        for name in names:
            lines += [f"[{name}] {line}" for line in _tail(wdir / f"{name}.log", tail)]
        return lines[-tail:] if tail > 0 else []

    def listening(self, handle: RuntimeHandle) -> list[int]:
        pids = group_members(self._live_groups(handle.ref))
        pids |= cgroup_pids([Path(p) for p in self._read_state(handle.ref).get("cgroups", [])])
        return listening_ports(pids)

    def checkpoint(self, handle: RuntimeHandle, into: Path) -> str:
        criu = shutil.which("criu") or ("/usr/sbin/criu" if Path("/usr/sbin/criu").exists() else None)
        if criu is None:
            return "CRIU unavailable: criu is not installed (apt-get install criu)"
        infos = self._pid_infos(handle.ref)
        if not infos:
            return "nothing to checkpoint: no service is running"
        for name, info in sorted(infos.items()):
            out = into / name
            out.mkdir(parents=True, exist_ok=True)
            try:
                done = subprocess.run(
                    [criu, "dump", "--leave-running", "--shell-job", "-t", str(info["pid"]), "-D", str(out)],
                    capture_output=True, text=True, timeout=120,
                )  # fmt: skip
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"CRIU failed for service {name}: {exc}"
            if done.returncode != 0:
                errors = [ln for ln in done.stderr.splitlines() if ln.startswith("Error")] or done.stderr.splitlines()
                line = errors[0] if errors else f"exit {done.returncode}"
                return f"kernel refused the checkpoint of service {name}: {line.strip()}"
        return "checkpointed"

    def owned(self) -> list[RuntimeHandle]:
        handles = []
        for state_file in sorted(self.root.glob("*/workspace.json")):
            ws_id = state_file.parent.name
            state = self._read_state(ws_id)
            handles.append(
                RuntimeHandle(
                    "local", ws_id, {"pgids": sorted(self._live_groups(ws_id)), "cgroups": state.get("cgroups", [])}
                )
            )
        return handles

    def state(self, handle: RuntimeHandle) -> str:
        """ "gone" without its state folder (removed behind the platform's back); "stopped"
        when services were started and none of their process groups is left (killed, or a
        reboot); "running" while one is; "unknown" when nothing was started (no services:
        nothing to see)."""
        if not self._read_state(handle.ref):
            return "gone"
        if self._live_groups(handle.ref):
            return "running"
        return "stopped" if self._pid_infos(handle.ref) else "unknown"

    def reattach(self, handle: RuntimeHandle, ports: list[PortMap]) -> list[str]:
        # Nothing of a workspace lives only in this process: its processes are found again
        # through their pid files (a Popen kept here is only for reaping), and its ports are
        # the host's own, so nothing relays them.
        return []

    # -- helpers ------------------------------------------------------------------------------

    def _dir(self, ws_id: str) -> Path:
        if not _ID.match(ws_id):
            raise BadInput(
                "bad workspace id",
                errors=[FieldProblem("ref", f"{ws_id!r} is not a safe name", "use the id create returned")],
            )
        return self.root / ws_id

    def _read_state(self, ws_id: str) -> dict[str, Any]:
        try:
            value: dict[str, Any] = json.loads((self._dir(ws_id) / "workspace.json").read_text())
            return value
        except (OSError, ValueError):
            return {}

    def _state(self, handle: RuntimeHandle) -> dict[str, Any]:
        state = self._read_state(handle.ref)
        if not state:
            raise NotFound(f"the local runtime has no workspace {handle.ref!r}", fix="create it first")
        return state

    def _ensure_cgroups(self, ws_id: str, state: dict[str, Any], spec: WorkspaceSpec) -> list[Path]:
        if not state.get("cgroups"):
            return []
        paths = [Path(p) for p in state["cgroups"]]
        if all(p.is_dir() for p in paths):
            return paths
        return make_cgroups(ws_id, spec.limits, self.cgroup_root)  # a stop removed them: make them again

    def _pid_infos(self, ws_id: str) -> dict[str, dict[str, Any]]:
        infos = {}
        for pid_file in self._dir(ws_id).glob("*.pid"):
            try:
                infos[pid_file.stem] = json.loads(pid_file.read_text())
            except (OSError, ValueError):
                continue
        return infos

    def _pgids(self, ws_id: str) -> set[int]:
        return {int(i["pgid"]) for i in self._pid_infos(ws_id).values()}

    def _live_groups(self, ws_id: str) -> set[int]:
        """Process groups of this workspace still holding processes. A leader whose pid now
        belongs to another process (its start time differs) means the group emptied and the
        pid was reused: that group is left alone."""
        groups = set()
        for info in self._pid_infos(ws_id).values():
            pid, pgid = int(info["pid"]), int(info["pgid"])
            if alive(pid, info.get("start")) or (not alive(pid) and group_members({pgid})):
                groups.add(pgid)
        return groups

    def _wait_ready(self, handle: RuntimeHandle, name: str, proc: subprocess.Popen[bytes], port: int | None) -> None:
        """A service that exits, or never listens on its port, fails the start with its log's
        tail; the services already started are stopped."""
        polls = itertools.count()

        def listening() -> list[int]:
            # A connect costs microseconds, a scan of /proc milliseconds of the CPU the starting
            # service needs: scan when the port answers (is it this service's?), and every
            # tenth poll for a service that listens on another address than 127.0.0.1.
            if port is not None and next(polls) % 10 and not _accepts(port):
                return []
            return listening_ports(group_members({proc.pid}))

        wait_ready(
            name,
            port,
            self.ready_timeout_s,
            exit_code=proc.poll,
            listening=listening,
            log_tail=lambda: "\n".join(self.logs(handle, tail=20, service=name)),
            give_up=lambda: self.stop(handle),
            poll_s=0.01,
        )

    def _reap(self) -> None:
        for pid, proc in list(self._children.items()):
            if proc.poll() is not None:
                del self._children[pid]


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
    except OSError:
        return False
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _tail(path: Path, n: int) -> list[str]:
    if n <= 0:
        return []
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return lines[-n:]


def _write_json(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # env may hold secrets
    with os.fdopen(fd, "w") as f:
        json.dump(value, f)
    os.replace(tmp, path)
