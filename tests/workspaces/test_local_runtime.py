"""The local runtime against real processes, real bubblewrap and real cgroups
(docs/workspaces.md, "Runtimes"): what cannot be had on this host is skipped with the reason."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from codeforge.catalog.errors import BadInput, ExternalFailure, NotFound
from codeforge.platform.workspaces.records import Limits, PortMap, RuntimeHandle, ServiceSpec, WorkspaceSpec
from codeforge.platform.workspaces.runtimes import local_sandbox
from codeforge.platform.workspaces.runtimes.base import Unavailable, WorkspaceRuntime
from codeforge.platform.workspaces.runtimes.docker import DockerRuntime
from codeforge.platform.workspaces.runtimes.kubernetes import KubernetesRuntime
from codeforge.platform.workspaces.runtimes.local import LocalRuntime
from codeforge.platform.workspaces.runtimes.local_cgroups import CGROUP_ROOT, detect_cgroups
from codeforge.platform.workspaces.runtimes.local_procs import alive, group_members
from tests.workspaces.runtime_contract import check_exec_timeout_kills_the_command

CGROUPS, CGROUPS_WHY = detect_cgroups()


def _cgroups_writable() -> str | None:
    if CGROUPS is None:
        return CGROUPS_WHY
    probe = (CGROUP_ROOT if CGROUPS == "v2" else CGROUP_ROOT / "memory") / f"codeforge-probe-{uuid.uuid4().hex[:8]}"
    try:
        probe.mkdir()
        probe.rmdir()
    except OSError as exc:
        return f"cannot make a cgroup under {probe.parent}: {exc}"
    return None


CGROUPS_SKIP = _cgroups_writable()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ws_id() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def runtime(tmp_path: Path):
    rt = LocalRuntime(tmp_path / "state", grace_s=2.0, ready_timeout_s=10.0)
    yield rt
    for handle in rt.owned():
        rt.delete(handle)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    path = tmp_path / "tree"
    path.mkdir()
    (path / "hello.txt").write_text("hello from the tree\n")
    return path


def http_spec(port: int, **kw) -> WorkspaceSpec:
    cmd = ("python3", "-m", "http.server", "$PORT", "--bind", "127.0.0.1")
    return WorkspaceSpec(services=(ServiceSpec("web", cmd, port=8000),), **kw)


def test_http_service_answers_on_its_host_port_and_stop_leaves_no_process(runtime: LocalRuntime, tree: Path) -> None:
    port = free_port()
    spec = http_spec(port)
    handle = runtime.create(ws_id(), spec, tree, {"GREETING": "hi"})
    assert handle.runtime == "local" and handle.data["pgids"] == []
    runtime.start(handle, spec, {}, [PortMap("web", 8000, port)])
    (pgid,) = handle.data["pgids"]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello.txt", timeout=5) as resp:
        assert resp.read() == b"hello from the tree\n"
    assert runtime.listening(handle) == [port]
    # The server logs each request to stderr, which goes to the service's log.
    assert any("GET /hello.txt" in line for line in runtime.logs(handle, tail=5, service="web"))
    assert any(line.startswith("[web] ") for line in runtime.logs(handle, tail=5, service=None))
    members = group_members({pgid})
    assert members, "the service's group has processes while it runs"
    runtime.stop(handle)
    assert group_members({pgid}) == set()
    assert not any(alive(pid) for pid in members)
    assert runtime.listening(handle) == []
    assert tree.joinpath("hello.txt").exists(), "stop leaves the tree"
    # Started again after a stop, on the same port.
    runtime.start(handle, spec, {}, [PortMap("web", 8000, port)])
    assert runtime.listening(handle) == [port]


def test_env_and_port_reach_the_service(runtime: LocalRuntime, tree: Path) -> None:
    port = free_port()
    spec = WorkspaceSpec(services=(ServiceSpec("env", ("sh", "-c", "env; sleep 30"), port=None, env={"B": "2"}),))
    handle = runtime.create(ws_id(), spec, tree, {"A": "1"})
    runtime.start(handle, spec, {"C": "3"}, [PortMap("env", 80, port)])
    deadline = time.monotonic() + 5
    while not any(line == "C=3" for line in runtime.logs(handle, tail=100, service="env")):
        assert time.monotonic() < deadline, runtime.logs(handle, tail=100, service="env")
        time.sleep(0.05)
    lines = runtime.logs(handle, tail=100, service="env")
    assert {"A=1", "B=2", "C=3", f"PORT={port}", f"HOME={tree.resolve()}"} <= set(lines)
    assert runtime.logs(handle, tail=2, service="env") == lines[-2:]
    with pytest.raises(NotFound, match="nope"):
        runtime.logs(handle, tail=5, service="nope")


def test_isolation_tree_writable_rest_read_only_private_tmp(runtime: LocalRuntime, tree: Path) -> None:
    if runtime.bwrap is None:
        pytest.skip(f"bubblewrap does not work here: {runtime.isolation}")
    handle = runtime.create(ws_id(), WorkspaceSpec(), tree, {})
    outside = Path("/var/tmp") / f"codeforge-escape-{uuid.uuid4().hex[:8]}"
    done = runtime.exec(handle, ["sh", "-c", f"echo x > {outside}"], timeout_s=10)
    assert done.exit_code != 0 and "Read-only file system" in done.output
    assert not outside.exists()
    host_marker = Path("/tmp") / f"codeforge-host-{uuid.uuid4().hex[:8]}"
    host_marker.write_text("host")
    try:
        script = f"echo made > made.txt && echo secret > /tmp/private && ls /tmp && ! test -e {host_marker}"
        done = runtime.exec(handle, ["sh", "-c", script], timeout_s=10)
    finally:
        host_marker.unlink()
    assert done.exit_code == 0, f"the host's /tmp is visible inside, or /tmp is not writable: {done.output}"
    assert "private" in done.output.split()
    assert (tree / "made.txt").read_text() == "made\n"
    assert not Path("/tmp/private").exists() or Path("/tmp/private").read_text() != "secret\n"


def test_codeforge_installed_under_tmp_runs_inside_and_the_data_dir_stays_hidden(
    tmp_path: Path, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bridge, a workspace's service, runs this interpreter and package: a checkout under
    /tmp (CI's clone) must stay visible under the private /tmp, and the data dir covered even
    when it lies inside that checkout."""
    install = Path("/tmp") / f"codeforge-install-{uuid.uuid4().hex[:8]}"
    (install / "data").mkdir(parents=True)
    (install / "codeforge.py").write_text("print('the install runs')\n")
    (install / "data" / "secret.key").write_text("never inside\n")
    monkeypatch.setattr(local_sandbox, "_own_install", lambda: [install])
    runtime = LocalRuntime(tmp_path / "state", hide=(install / "data",))
    if runtime.bwrap is None:
        pytest.skip(f"bubblewrap does not work here: {runtime.isolation}")
    try:
        handle = runtime.create(ws_id(), WorkspaceSpec(), tree, {})
        done = runtime.exec(handle, ["python3", str(install / "codeforge.py")], timeout_s=10)
        assert done.exit_code == 0 and "the install runs" in done.output, done.output
        done = runtime.exec(handle, ["cat", str(install / "data" / "secret.key")], timeout_s=10)
        assert done.exit_code != 0 and "never inside" not in done.output
        runtime.delete(handle)
    finally:
        shutil.rmtree(install, ignore_errors=True)


def test_memory_limit_is_enforced(runtime: LocalRuntime, tree: Path) -> None:
    if CGROUPS_SKIP:
        pytest.skip(f"cgroups cannot be made here: {CGROUPS_SKIP}")
    spec = WorkspaceSpec(limits=Limits(cpus=0.5, memory_mb=64))
    handle = runtime.create(ws_id(), spec, tree, {})
    paths = [Path(p) for p in handle.data["cgroups"]]
    assert paths and all(p.is_dir() and p.name == f"codeforge-ws-{handle.ref}" for p in paths)
    if CGROUPS == "v1":
        mem, cpu = paths
        assert int((mem / "memory.limit_in_bytes").read_text()) == 64 * 1024 * 1024
        assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "50000"
    else:
        assert (paths[0] / "cpu.max").read_text().split() == ["50000", "100000"]
    inside = runtime.exec(handle, ["cat", "/proc/self/cgroup"], timeout_s=10)
    assert f"codeforge-ws-{handle.ref}" in inside.output, inside.output
    small = runtime.exec(handle, ["python3", "-c", "b = bytearray(16 * 1024 * 1024); print('ok')"], timeout_s=30)
    assert small.exit_code == 0 and "ok" in small.output, small.output
    big = runtime.exec(handle, ["python3", "-c", "b = bytearray(256 * 1024 * 1024); print('ok')"], timeout_s=30)
    assert big.exit_code != 0, f"allocating 256 MB under a 64 MB limit worked: {big.output}"
    assert "ok" not in big.output
    # cpus=0.5: a second of busy looping gets about half a second of CPU.
    busy = "import time\nt = time.monotonic()\nwhile time.monotonic() - t < 1.5: pass\nprint(time.process_time())"
    spent = runtime.exec(handle, ["python3", "-c", busy], timeout_s=30)
    assert spent.exit_code == 0, spent.output
    assert float(spent.output.split()[-1]) < 1.5 * 0.5 + 0.25, spent.output
    runtime.delete(handle)
    assert not any(p.exists() for p in paths), "delete removes the cgroup"


def test_stop_reaches_a_process_that_left_its_group_through_the_cgroup(runtime: LocalRuntime, tree: Path) -> None:
    if CGROUPS_SKIP:
        pytest.skip(f"cgroups cannot be made here: {CGROUPS_SKIP}")
    marker = f"61.{uuid.uuid4().int % 10**8}"
    spec = WorkspaceSpec(
        services=(ServiceSpec("daemon", ("sh", "-c", f"setsid sleep {marker} & sleep 60")),),
        limits=Limits(memory_mb=256),
    )
    handle = runtime.create(ws_id(), spec, tree, {})
    runtime.start(handle, spec, {}, [])

    def escaped() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    argv = (entry / "cmdline").read_bytes().split(b"\0")
                    if argv[:2] == [b"sleep", marker.encode()] and alive(int(entry.name)):
                        found.append(int(entry.name))
        return found

    deadline = time.monotonic() + 5
    while not escaped():
        assert time.monotonic() < deadline, "the daemon did not start"
        time.sleep(0.05)
    (pid,) = escaped()
    assert os.getpgid(pid) not in handle.data["pgids"], "the daemon left the service's group"
    runtime.stop(handle)
    assert escaped() == []


def test_limits_the_host_cannot_give(runtime: LocalRuntime, tree: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="memory_mb") as err:
        runtime.create(ws_id(), WorkspaceSpec(limits=Limits(memory_mb=10**9)), tree, {})
    assert "this host has" in str(err.value)
    with pytest.raises(BadInput, match="cpus"):
        runtime.create(ws_id(), WorkspaceSpec(limits=Limits(cpus=10_000)), tree, {})
    # A host without cgroups: limits fail clearly and nothing is left; no limits still works.
    bare = LocalRuntime(tmp_path / "bare-state", cgroup_root=tmp_path / "no-cgroups")
    wid = ws_id()
    with pytest.raises(Unavailable, match="memory_mb=64") as err2:
        bare.create(wid, WorkspaceSpec(limits=Limits(memory_mb=64)), tree, {})
    assert "no cgroup" in str(err2.value)
    assert bare.owned() == []
    handle = bare.create(wid, WorkspaceSpec(), tree, {})
    assert bare.exec(handle, ["true"], timeout_s=5).exit_code == 0
    bare.delete(handle)


def test_delete_twice_and_unknown(runtime: LocalRuntime, tree: Path) -> None:
    spec = WorkspaceSpec(services=(ServiceSpec("sleeper", ("sleep", "60")),))
    handle = runtime.create(ws_id(), spec, tree, {})
    runtime.start(handle, spec, {}, [])
    (pgid,) = handle.data["pgids"]
    runtime.delete(handle)
    assert group_members({pgid}) == set()
    runtime.delete(handle)
    assert runtime.owned() == []
    runtime.delete(RuntimeHandle("local", "never-made", {}))
    with pytest.raises(NotFound):
        runtime.start(handle, spec, {}, [])
    with pytest.raises(BadInput, match="safe name"):
        runtime.delete(RuntimeHandle("local", "../escape", {}))


def test_command_that_does_not_exist(runtime: LocalRuntime, tree: Path) -> None:
    spec = WorkspaceSpec(services=(ServiceSpec("ghost", ("no-such-program-xyz", "--flag")),))
    handle = runtime.create(ws_id(), spec, tree, {})
    with pytest.raises(BadInput, match="no-such-program-xyz") as err:
        runtime.start(handle, spec, {}, [])
    assert err.value.errors[0].field == "services.ghost.command"
    with pytest.raises(BadInput, match="no-such-program-xyz"):
        runtime.exec(handle, ["no-such-program-xyz"], timeout_s=5)
    with pytest.raises(BadInput, match="empty"):
        runtime.exec(handle, [], timeout_s=5)


def test_service_that_exits_at_once_fails_with_its_log(runtime: LocalRuntime, tree: Path) -> None:
    spec = WorkspaceSpec(
        services=(
            ServiceSpec("ok", ("sleep", "60")),
            ServiceSpec("crash", ("sh", "-c", "echo database url missing >&2; exit 3")),
        )
    )
    handle = runtime.create(ws_id(), spec, tree, {})
    with pytest.raises(ExternalFailure, match="database url missing") as err:
        runtime.start(handle, spec, {}, [])
    assert "'crash' exited at once with code 3" in str(err.value)
    assert runtime.listening(handle) == []
    assert not list((runtime.root / handle.ref).glob("*.pid")), "the services already started were stopped"


def test_service_that_never_listens(tmp_path: Path, tree: Path) -> None:
    rt = LocalRuntime(tmp_path / "state", grace_s=1.0, ready_timeout_s=1.0)
    port = free_port()
    spec = WorkspaceSpec(services=(ServiceSpec("mute", ("sleep", "60"), port=port),))
    handle = rt.create(ws_id(), spec, tree, {})
    with pytest.raises(ExternalFailure, match=f"did not listen on port {port}"):
        rt.start(handle, spec, {}, [])
    rt.delete(handle)


def test_exec_timeout_kills_the_command(runtime: LocalRuntime, tree: Path) -> None:
    check_exec_timeout_kills_the_command(runtime, ws_id(), tree)


def test_checkpoint_answers_honestly(runtime: LocalRuntime, tree: Path, tmp_path: Path) -> None:
    spec = WorkspaceSpec(services=(ServiceSpec("sleeper", ("sleep", "60")),))
    handle = runtime.create(ws_id(), spec, tree, {})
    assert runtime.checkpoint(handle, tmp_path / "none").startswith("nothing to checkpoint")
    runtime.start(handle, spec, {}, [])
    answer = runtime.checkpoint(handle, tmp_path / "ckpt")
    assert "\n" not in answer and answer
    if answer == "checkpointed":
        assert any((tmp_path / "ckpt" / "sleeper").iterdir())
    else:
        assert answer.startswith(("CRIU unavailable", "kernel refused", "CRIU failed")), answer
    assert group_members(set(handle.data["pgids"])), "--leave-running: the service still runs"


RESTART_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from codeforge.platform.workspaces.records import PortMap, ServiceSpec, WorkspaceSpec
    from codeforge.platform.workspaces.runtimes import local_sandbox
    from codeforge.platform.workspaces.runtimes.local import LocalRuntime
    state, tree, port = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    rt = LocalRuntime(state)
    cmd = ("python3", "-m", "http.server", "$PORT", "--bind", "127.0.0.1")
    spec = WorkspaceSpec(services=(ServiceSpec("web", cmd, port=8000), ServiceSpec("worker", ("sleep", "120"))))
    handle = rt.create("restarted", spec, tree, {})
    rt.start(handle, spec, {}, [PortMap("web", 8000, port)])
    print(json.dumps(handle.as_json()))
    """
)


def test_a_new_runtime_on_the_same_state_finds_and_stops_the_old_processes(tmp_path: Path, tree: Path) -> None:
    state, port = tmp_path / "state", free_port()
    # The platform that started the workspace exits; its services keep running.
    done = subprocess.run(
        [sys.executable, "-c", RESTART_SCRIPT, str(state), str(tree), str(port)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    old = RuntimeHandle.from_json(json.loads(done.stdout.strip().splitlines()[-1]))
    rt = LocalRuntime(state, grace_s=2.0)
    (found,) = rt.owned()
    assert found.ref == "restarted" and sorted(found.data["pgids"]) == sorted(old.data["pgids"])
    assert rt.listening(found) == [port]
    members = group_members(set(found.data["pgids"]))
    assert len(members) >= 2
    rt.delete(found)
    assert group_members(set(old.data["pgids"])) == set()
    assert rt.owned() == []


def test_a_reused_pid_is_not_killed(tmp_path: Path, tree: Path) -> None:
    rt = LocalRuntime(tmp_path / "state", grace_s=1.0)
    handle = rt.create(ws_id(), WorkspaceSpec(), tree, {})
    # A stranger now holds the pid the pid file names, started at another time.
    stranger = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        from codeforge.platform.workspaces.runtimes.local_procs import start_time

        real = start_time(stranger.pid)
        assert real is not None
        (rt.root / handle.ref / "svc.pid").write_text(
            json.dumps({"pid": stranger.pid, "pgid": stranger.pid, "start": real - 1})
        )
        assert rt.owned()[0].data["pgids"] == []
        rt.stop(handle)
        assert stranger.poll() is None, "a process that reused the pid was killed"
        # With the right start time it is the workspace's, and stop ends it.
        (rt.root / handle.ref / "svc.pid").write_text(
            json.dumps({"pid": stranger.pid, "pgid": stranger.pid, "start": real})
        )
        rt.stop(handle)
        assert stranger.wait(timeout=5) == -signal.SIGTERM
    finally:
        if stranger.poll() is None:
            os.kill(stranger.pid, signal.SIGKILL)
            stranger.wait()
    rt.delete(handle)


def test_bad_ids_and_missing_tree(runtime: LocalRuntime, tmp_path: Path, tree: Path) -> None:
    with pytest.raises(BadInput, match="safe name"):
        runtime.create("../../etc", WorkspaceSpec(), tree, {})
    with pytest.raises(NotFound, match="does not exist"):
        runtime.create(ws_id(), WorkspaceSpec(), tmp_path / "missing", {})
    assert runtime.owned() == []


def test_every_runtime_is_a_workspace_runtime(tmp_path: Path) -> None:
    # Typed: mypy checks each class against the protocol's signatures; this checks the names.
    runtimes: list[WorkspaceRuntime] = [
        LocalRuntime(tmp_path),
        KubernetesRuntime(instance="test", image="codeforge-workspace:test"),
        DockerRuntime(instance="test"),
    ]
    methods = [m for m in dir(WorkspaceRuntime) if not m.startswith("_")]
    for runtime in runtimes:
        assert all(callable(getattr(runtime, m)) for m in methods if m != "name"), runtime
        assert runtime.name in ("local", "docker", "kubernetes")
