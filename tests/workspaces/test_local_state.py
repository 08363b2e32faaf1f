"""What the local runtime says of a workspace (`state`), and that a restarted platform has
nothing to reattach for it (docs/workspaces.md, "Restarts"): its processes are found through
their pid files by a new LocalRuntime on the same state dir, and its ports are the host's own.
Real processes; killed and removed behind the runtime's back."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from codeforge.platform.workspaces.records import PortMap, ServiceSpec, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.local import LocalRuntime
from codeforge.platform.workspaces.runtimes.local_procs import group_members


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[LocalRuntime]:
    rt = LocalRuntime(tmp_path / "state", grace_s=2.0, ready_timeout_s=10.0)
    yield rt
    for handle in rt.owned():
        rt.delete(handle)


def test_state_follows_the_processes_and_the_state_folder(runtime: LocalRuntime, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    cmd = ("python3", "-m", "http.server", "$PORT", "--bind", "127.0.0.1")
    spec = WorkspaceSpec(services=(ServiceSpec("web", cmd, port=8000),))
    handle = runtime.create(f"s{uuid.uuid4().hex[:10]}", spec, tree, {})
    assert runtime.state(handle) == "unknown"  # nothing started: nothing to see
    port = PortMap("web", 8000, free_port())
    runtime.start(handle, spec, {}, [port])
    assert runtime.state(handle) == "running"

    # A restarted platform: a new runtime on the same state dir sees the same, reattaches nothing.
    restarted = LocalRuntime(tmp_path / "state", grace_s=2.0)
    assert restarted.state(handle) == "running" and restarted.reattach(handle, [port]) == []
    socket.create_connection(("127.0.0.1", port.host), 2).close()  # its port is the host's own

    # Its processes killed behind the runtime's back (an OOM kill, a reboot): "stopped".
    groups = {int(g) for g in restarted._live_groups(handle.ref)}
    for pgid in groups:
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while group_members(groups) and time.monotonic() < deadline:
        runtime._reap()  # the Popen objects are the first runtime's: their zombies go there
        time.sleep(0.05)
    assert restarted.state(handle) == "stopped"

    # Its state folder removed: "gone"; delete is still fine.
    shutil.rmtree(tmp_path / "state" / "runtime" / handle.ref)
    assert restarted.state(handle) == "gone"
    restarted.delete(handle)
    assert restarted.owned() == []
