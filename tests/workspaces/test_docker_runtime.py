"""The Docker runtime against the real engine (docs/workspaces.md, "Runtimes"): services answer
on their published host ports and reach each other by name, the container cannot write the
host's files outside /workspace, the memory limit is enforced, Dockerfiles build from the local
base, and nothing is left behind (checked by label at the end)."""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import codeforge
from codeforge.catalog.errors import BadInput, Conflict, ExternalFailure, NotFound
from codeforge.platform.workspaces.records import Limits, PortMap, RuntimeHandle, ServiceSpec, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.base import LABEL_INSTANCE, LABEL_WORKSPACE, Unavailable
from codeforge.platform.workspaces.runtimes.docker import DockerRuntime
from tests.conftest import free_port, require
from tests.workspaces.runtime_contract import check_exec_timeout_kills_the_command

INSTANCE = f"test-{uuid.uuid4().hex[:8]}"
HTTP = ("python3", "-m", "http.server", "8000")


def ws_id() -> str:
    return f"d{uuid.uuid4().hex[:10]}"


def get(port: int, path: str = "/", timeout: float = 5) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
        return resp.status, resp.read().decode(errors="replace")


@pytest.fixture(scope="module")
def runtime() -> Iterator[DockerRuntime]:
    rt = DockerRuntime(INSTANCE, grace_s=2.0, ready_timeout_s=15.0)
    why = rt.available()
    require("docker", why is None, str(why))
    yield rt
    # Whatever a failed test left is removed, then the check: nothing of this instance remains.
    for handle in rt.owned():
        rt.delete(handle)
    client = rt._engine()
    mine = {"label": f"{LABEL_INSTANCE}={INSTANCE}"}
    assert client.containers.list(all=True, filters=mine) == []
    assert client.networks.list(filters=mine) == []
    assert client.images.list(filters={"label": [f"{LABEL_INSTANCE}={INSTANCE}", LABEL_WORKSPACE]}) == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    path = tmp_path / "tree"
    path.mkdir()
    (path / "index.html").write_text("hello from the workspace\n")
    return path


def test_a_service_answers_on_its_published_port(runtime: DockerRuntime, tree: Path) -> None:
    spec = WorkspaceSpec(services=(ServiceSpec("web", HTTP, port=8000),))
    handle = runtime.create(ws_id(), spec, tree, {})
    port = free_port()
    runtime.start(handle, spec, {}, [PortMap("web", 8000, port)])
    assert get(port, "/index.html") == (200, "hello from the workspace\n")
    assert runtime.listening(handle) == [8000]
    assert any("GET /index.html" in line for line in runtime.logs(handle, tail=10, service="web"))
    assert all(line.startswith("[web] ") for line in runtime.logs(handle, tail=10, service=None))
    with pytest.raises(NotFound, match="one of: web"):
        runtime.logs(handle, tail=10, service="db")
    # Published on loopback only: the port is not bound on the host's other addresses.
    container = runtime._engine().containers.get(handle.data["container"])
    bindings = container.attrs["HostConfig"]["PortBindings"]["8000/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(port)}]
    assert container.labels[LABEL_WORKSPACE] == handle.ref and container.labels[LABEL_INSTANCE] == INSTANCE

    # stop: nothing answers; start again (same ports: the same container, its logs kept).
    runtime.stop(handle)
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        get(port, timeout=2)
    assert runtime.listening(handle) == []
    with pytest.raises(Conflict, match="start the workspace"):
        runtime.exec(handle, ["true"], timeout_s=5)
    runtime.start(handle, spec, {}, [PortMap("web", 8000, port)])
    assert get(port)[0] == 200
    assert runtime._engine().containers.get(handle.data["container"]).id == container.id
    runtime.start(handle, spec, {}, [PortMap("web", 8000, port)])  # already running: afresh, not twice
    assert get(port)[0] == 200
    assert any("GET /index.html" in line for line in runtime.logs(handle, tail=50, service="web"))

    # Other host ports: the container is made again with them; the tree is the same.
    other = free_port()
    runtime.stop(handle)
    runtime.start(handle, spec, {}, [PortMap("web", 8000, other)])
    assert get(other, "/index.html")[1] == "hello from the workspace\n"
    assert handle.data["container"] != container.id
    runtime.delete(handle)


def test_services_reach_each_other_by_name(runtime: DockerRuntime, tree: Path) -> None:
    fetch = (
        "import time, urllib.request\n"
        "for _ in range(100):\n"
        "    try:\n"
        "        body = urllib.request.urlopen('http://api:8000/index.html', timeout=2).read()\n"
        "        open('/workspace/fetched', 'wb').write(body); break\n"
        "    except OSError: time.sleep(0.1)\n"
        "time.sleep(600)\n"
    )
    spec = WorkspaceSpec(
        services=(ServiceSpec("api", HTTP, port=8000), ServiceSpec("client", ("python3", "-c", fetch)))
    )
    handle = runtime.create(ws_id(), spec, tree, {})
    runtime.start(handle, spec, {}, [PortMap("api", 8000, free_port())])
    deadline = time.monotonic() + 15
    while not (tree / "fetched").exists():
        assert time.monotonic() < deadline, runtime.logs(handle, tail=20, service=None)
        time.sleep(0.1)
    assert (tree / "fetched").read_text() == "hello from the workspace\n"
    # The names resolve on the workspace's own network only: another workspace cannot see them.
    other = runtime.create(ws_id(), WorkspaceSpec(), tree, {})
    lookup = ["python3", "-c", "import socket; socket.gethostbyname('api')"]
    assert runtime.exec(other, lookup, timeout_s=10).exit_code != 0
    assert runtime.exec(handle, lookup, timeout_s=10).exit_code == 0
    runtime.delete(other)
    runtime.delete(handle)


def test_isolation_of_the_host_files(runtime: DockerRuntime, tree: Path) -> None:
    handle = runtime.create(ws_id(), WorkspaceSpec(), tree, {"GREETING": "hi"})
    marker = f"codeforge-isolation-{uuid.uuid4().hex[:8]}"
    wrote = runtime.exec(
        handle, ["sh", "-c", f"echo x > /etc/{marker} && echo y > /tmp/{marker} && echo $GREETING"], timeout_s=10
    )
    assert wrote.exit_code == 0 and wrote.output.strip() == "hi", wrote.output
    assert not Path(f"/etc/{marker}").exists() and not Path(f"/tmp/{marker}").exists()
    inside = runtime.exec(handle, ["sh", "-c", f"echo in > /workspace/{marker}; pwd"], timeout_s=10)
    assert inside.output.strip() == "/workspace"
    assert (tree / marker).read_text() == "in\n"
    # The host's /usr is lent read-only: its programs run, nothing can be written there.
    ro = runtime.exec(handle, ["sh", "-c", f"touch /usr/{marker}"], timeout_s=10)
    assert ro.exit_code != 0 and "Read-only" in ro.output
    assert not Path(f"/usr/{marker}").exists()
    # The host's CodeForge is lent read-only too, so its bridge can run inside.
    bridge = runtime.exec(handle, [sys.executable, "-c", "import codeforge; print(codeforge.__file__)"], timeout_s=20)
    assert bridge.exit_code == 0 and bridge.output.strip() == codeforge.__file__, bridge.output
    # The host's processes are not visible from inside.
    ps = runtime.exec(handle, ["sh", "-c", "ls /proc | grep -c '^[0-9]'"], timeout_s=10)
    assert int(ps.output.strip()) < 10, ps.output
    runtime.delete(handle)


def test_limits_are_enforced(runtime: DockerRuntime, tree: Path) -> None:
    spec = WorkspaceSpec(limits=Limits(cpus=0.5, memory_mb=64))
    handle = runtime.create(ws_id(), spec, tree, {})
    host = runtime._engine().containers.get(handle.data["container"]).attrs["HostConfig"]
    assert host["Memory"] == 64 * 2**20 and host["NanoCpus"] == 500_000_000
    small = runtime.exec(handle, ["python3", "-c", "b = bytearray(8 * 2**20); print('ok')"], timeout_s=30)
    assert small.exit_code == 0 and "ok" in small.output, small.output
    big = runtime.exec(
        handle,
        ["python3", "-c", "b = bytearray(256 * 2**20); b[::4096] = b'x' * len(b[::4096]); print('ok')"],
        timeout_s=30,
    )
    assert big.exit_code != 0 and "ok" not in big.output, f"256 MB under a 64 MB limit worked: {big}"
    busy = "import time\nt = time.monotonic()\nwhile time.monotonic() - t < 1.5: pass\nprint(time.process_time())"
    spent = runtime.exec(handle, ["python3", "-c", busy], timeout_s=30)
    assert spent.exit_code == 0 and float(spent.output.split()[-1]) < 1.5 * 0.5 + 0.25, spent.output
    runtime.delete(handle)


def test_limits_and_names_the_host_cannot_give(runtime: DockerRuntime, tree: Path) -> None:
    wid = ws_id()
    with pytest.raises(BadInput, match="limits") as err:
        runtime.create(wid, WorkspaceSpec(limits=Limits(cpus=10_000, memory_mb=10**9)), tree, {})
    assert {e.field for e in err.value.errors} == {"limits.cpus", "limits.memory_mb"}
    assert "the engine's host has" in str(err.value.errors[0].message)
    with pytest.raises(BadInput, match="host name"):
        runtime.create(wid, WorkspaceSpec(services=(ServiceSpec("Web_1", ("true",)),)), tree, {})
    with pytest.raises(BadInput, match="safe name"):
        runtime.create("../etc", WorkspaceSpec(), tree, {})
    with pytest.raises(NotFound, match="does not exist"):
        runtime.create(wid, WorkspaceSpec(), tree / "missing", {})
    with pytest.raises(Unavailable, match="no registry"):
        runtime.create(wid, WorkspaceSpec(image="example.invalid/nothing:1"), tree, {})
    assert wid not in {h.ref for h in runtime.owned()}


def test_delete_twice_and_unknown(runtime: DockerRuntime, tree: Path) -> None:
    spec = WorkspaceSpec(services=(ServiceSpec("sleeper", ("sleep", "60")),))
    handle = runtime.create(ws_id(), spec, tree, {})
    runtime.start(handle, spec, {}, [])
    runtime.delete(handle)
    runtime.delete(handle)
    assert handle.ref not in {h.ref for h in runtime.owned()}
    runtime.delete(RuntimeHandle("docker", "never-made", {}))
    with pytest.raises(NotFound, match="create it first"):
        runtime.start(handle, spec, {}, [])
    with pytest.raises(BadInput, match="safe name"):
        runtime.delete(RuntimeHandle("docker", "../escape", {}))
    assert (Path(tree) / "index.html").exists(), "delete leaves the tree to the FileStore"


def test_exec_timeout_kills_the_command(runtime: DockerRuntime, tree: Path) -> None:
    handle = check_exec_timeout_kills_the_command(runtime, ws_id(), tree)
    with pytest.raises(BadInput, match="no-such-program-xyz"):
        runtime.exec(handle, ["no-such-program-xyz"], timeout_s=5)
    with pytest.raises(BadInput, match="empty"):
        runtime.exec(handle, [], timeout_s=5)
    runtime.delete(handle)


def test_services_that_fail(runtime: DockerRuntime, tree: Path) -> None:
    crash = WorkspaceSpec(
        services=(
            ServiceSpec("ok", ("sleep", "60")),
            ServiceSpec("crash", ("sh", "-c", "echo database url missing >&2; exit 3")),
        )
    )
    handle = runtime.create(ws_id(), crash, tree, {})
    with pytest.raises(ExternalFailure, match="database url missing") as err:
        runtime.start(handle, crash, {}, [])
    assert "'crash' exited at once with code 3" in str(err.value)
    assert runtime.listening(handle) == []
    ghost = WorkspaceSpec(services=(ServiceSpec("ghost", ("no-such-program-xyz",)),))
    with pytest.raises(BadInput) as err2:
        runtime.start(handle, ghost, {}, [])
    assert err2.value.errors[0].field == "services.ghost.command"
    fast = DockerRuntime(INSTANCE, grace_s=1.0, ready_timeout_s=1.0)
    mute = WorkspaceSpec(services=(ServiceSpec("mute", ("sleep", "60"), port=8000),))
    with pytest.raises(ExternalFailure, match="did not listen on port 8000"):
        fast.start(handle, mute, {}, [])
    runtime.delete(handle)


def test_a_dockerfile_workspace_builds_from_the_base(runtime: DockerRuntime, tree: Path) -> None:
    (tree / ".devcontainer").mkdir()
    (tree / ".devcontainer" / "Dockerfile").write_text(
        'ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nARG GREETING=none\nRUN echo "$GREETING" > /etc/greeting\nENV FROM_IMAGE=yes\n'
    )
    spec = WorkspaceSpec(dockerfile=".devcontainer/Dockerfile", build_args={"GREETING": "built here"})
    handle = runtime.create(ws_id(), spec, tree, {})
    done = runtime.exec(
        handle, ["sh", "-c", "cat /etc/greeting; echo $FROM_IMAGE; python3 -c 'print(6*7)'"], timeout_s=10
    )
    assert done.output.split() == ["built", "here", "yes", "42"], done.output
    image = runtime._engine().images.get(handle.data["image"])
    assert image.labels[LABEL_WORKSPACE] == handle.ref and image.labels[LABEL_INSTANCE] == INSTANCE
    (found,) = [h for h in DockerRuntime(INSTANCE).owned() if h.ref == handle.ref]
    assert found.data["image"] == image.id
    runtime.delete(handle)
    assert runtime._engine().images.list(filters={"label": f"{LABEL_WORKSPACE}={handle.ref}"}) == []

    # A broken Dockerfile: the error holds the build's last lines; nothing is left.
    step = f"step-one-ran-{uuid.uuid4().hex[:8]}"  # unique: no build cache serves it
    (tree / ".devcontainer" / "Dockerfile").write_text(
        f"FROM codeforge/workspace-base\nRUN echo {step}\nRUN no-such-installer --yes\n"
    )
    wid = ws_id()
    with pytest.raises(ExternalFailure, match=r"docker build of \.devcontainer/Dockerfile failed") as err:
        runtime.create(wid, WorkspaceSpec(dockerfile=".devcontainer/Dockerfile"), tree, {})
    assert step in str(err.value) and "no-such-installer" in str(err.value)
    assert wid not in {h.ref for h in runtime.owned()}
    # The step that worked left no image behind (the engine keeps them for its build cache).
    leftover = [
        i.id
        for i in runtime._engine().images.list(all=True)
        if step in " ".join((i.attrs.get("ContainerConfig") or {}).get("Cmd") or [])
    ]
    assert leftover == []
    with pytest.raises(NotFound, match="Dockerfile"):
        runtime.create(wid, WorkspaceSpec(dockerfile="nowhere/Dockerfile"), tree, {})
    with pytest.raises(BadInput, match="workspace tree") as err2:
        runtime.create(wid, WorkspaceSpec(dockerfile=".devcontainer/Dockerfile", build_context="../.."), tree, {})
    assert [e.field for e in err2.value.errors] == ["build.context"]
    assert wid not in {h.ref for h in runtime.owned()}


def test_an_unreachable_engine(runtime: DockerRuntime, tree: Path, tmp_path: Path) -> None:
    socket = tmp_path / "no-docker.sock"
    gone = DockerRuntime(INSTANCE, base_url=f"unix://{socket}")
    why = gone.available()
    assert why is not None and f"no Docker engine at unix://{socket}" in why and "start dockerd" in why
    wid = ws_id()
    with pytest.raises(Unavailable, match="no Docker engine"):
        gone.create(wid, WorkspaceSpec(), tree, {})
    with pytest.raises(Unavailable):
        gone.owned()
    assert wid not in {h.ref for h in runtime.owned()}


def test_a_new_runtime_finds_its_workspaces_by_label(runtime: DockerRuntime, tree: Path, tmp_path: Path) -> None:
    spec = WorkspaceSpec(services=(ServiceSpec("web", HTTP, port=8000),))
    handle = runtime.create(ws_id(), spec, tree, {})
    port = free_port()
    runtime.start(handle, spec, {}, [PortMap("web", 8000, port)])
    # The platform restarts: a new runtime object of the same instance finds it; another
    # instance sharing the engine does not.
    again = DockerRuntime(INSTANCE, grace_s=2.0)
    found = {h.ref: h for h in again.owned()}
    assert set(found[handle.ref].data) == {"container", "network"}
    assert DockerRuntime(f"other-{INSTANCE}").owned() == []
    assert again.listening(found[handle.ref]) == [8000]
    answer = again.checkpoint(found[handle.ref], tmp_path / "ckpt")
    assert answer and "\n" not in answer
    assert answer == "checkpointed" or answer.startswith("docker checkpoint"), answer
    again.delete(found[handle.ref])
    assert handle.ref not in {h.ref for h in runtime.owned()}
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        get(port, timeout=2)
