"""The Docker runtime's `reattach` and `state` against the real engine (docs/workspaces.md,
"Docker and the host's loopback"): a new runtime of the same instance — a restarted platform —
makes again the relays the old one held in its process (those the container's environment
names, those only its services' environments and commands name, and the host-side relay to a
port added after the container was made), idempotently; it takes no port another process
still holds; another instance's runtime touches nothing of it and says "unknown"; a container
removed behind its back is "gone"."""

from __future__ import annotations

import socket
import threading
import uuid
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from codeforge.platform.workspaces.records import PortMap, RuntimeHandle, ServiceSpec, WorkspaceSpec
from codeforge.platform.workspaces.runtimes.docker import DockerRuntime
from tests.conftest import free_port, require

INSTANCE = f"test-{uuid.uuid4().hex[:8]}"
HTTP = ("python3", "-m", "http.server", "8000")


@pytest.fixture(scope="module")
def runtime() -> Iterator[DockerRuntime]:
    rt = DockerRuntime(INSTANCE, grace_s=2.0)
    why = rt.available()
    require("docker", why is None, str(why))
    yield rt
    for handle in DockerRuntime(INSTANCE).owned():
        rt.delete(handle)
    rt._relays.close_all()


def serve(folder: Path, text: str) -> ThreadingHTTPServer:
    """A real HTTP server on the host's loopback only, as the platform's own servers are."""
    folder.mkdir()
    (folder / "hello.txt").write_text(text)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def upstreams(tmp_path: Path) -> Iterator[tuple[int, int]]:
    servers = [serve(tmp_path / "a", "from the environment\n"), serve(tmp_path / "b", "from a service's own\n")]
    yield int(servers[0].server_address[1]), int(servers[1].server_address[1])
    for server in servers:
        server.shutdown()
        server.server_close()


def fetch_inside(runtime: DockerRuntime, handle: RuntimeHandle, url: str) -> str:
    code = f"import urllib.request as u; print(u.urlopen({url!r}, timeout=5).read().decode(), end='')"
    done = runtime.exec(handle, ["python3", "-c", code], timeout_s=20)
    return done.output if done.exit_code == 0 else f"failed: {done.output[-300:]}"


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 2).close()
    except OSError:
        return False
    return True


def gateway(runtime: DockerRuntime, handle: RuntimeHandle) -> str:
    return runtime._gateway_of(runtime._engine(), handle.ref)


def test_a_new_runtime_of_the_same_instance_reattaches_what_the_old_one_held(
    runtime: DockerRuntime, tmp_path: Path, upstreams: tuple[int, int]
) -> None:
    env_port, svc_port = upstreams
    tree = tmp_path / "tree"
    tree.mkdir()
    # The container's environment names one upstream; only the web service's own env the other.
    web = ServiceSpec("web", HTTP, 8000, {"SIDE_URL": f"http://127.0.0.1:{svc_port}/hello.txt"})
    spec = WorkspaceSpec(services=(web,))
    env = {"UPSTREAM_URL": f"http://127.0.0.1:{env_port}/hello.txt"}
    handle = runtime.create(f"r{uuid.uuid4().hex[:10]}", spec, tree, env)
    assert handle.data["instance"] == INSTANCE
    ports = [PortMap("web", 8000, free_port())]
    runtime.start(handle, spec, env, ports)
    extra = ServiceSpec("extra", ("python3", "-m", "http.server", "8001"), 8001)
    extra_port = PortMap("extra", 8001, free_port())
    runtime.start(handle, WorkspaceSpec(services=(extra,)), env, [extra_port])  # added: relayed, not published
    gw = gateway(runtime, handle)
    env_url, svc_url = f"http://{gw}:{env_port}/hello.txt", f"http://{gw}:{svc_port}/hello.txt"
    assert fetch_inside(runtime, handle, env_url) == "from the environment\n"
    assert fetch_inside(runtime, handle, svc_url) == "from a service's own\n"
    assert answers(extra_port.host) and answers(ports[0].host)
    held = [*ports, extra_port]

    # Another process of this instance while the first still holds the ports: it takes none.
    rival = DockerRuntime(INSTANCE)
    assert rival.state(handle) == "running"
    assert rival.reattach(handle, held) == []
    assert rival._relays.held(handle.ref) == []

    # Another instance (another replica): not its container; it neither reports nor relays it.
    other = DockerRuntime(f"other-{uuid.uuid4().hex[:6]}")
    assert other.state(handle) == "unknown" and other.reattach(handle, held) == []

    # The first process dies: its relays go with it, the container runs on.
    runtime._relays.close_all()
    assert fetch_inside(runtime, handle, env_url).startswith("failed")
    assert fetch_inside(runtime, handle, svc_url).startswith("failed")
    assert not answers(extra_port.host) and answers(ports[0].host)  # the engine publishes web itself

    restarted = DockerRuntime(INSTANCE)
    made = restarted.reattach(handle, held)
    assert sorted(made) == sorted(
        [
            f"relay {gw}:{env_port} -> 127.0.0.1:{env_port}",
            f"relay {gw}:{svc_port} -> 127.0.0.1:{svc_port}",
            f"relay 127.0.0.1:{extra_port.host} -> {_address_of(restarted, handle)}:8001",
        ]
    )
    assert restarted.reattach(handle, held) == made  # idempotent: the same relays, none twice
    assert fetch_inside(runtime, handle, env_url) == "from the environment\n"
    assert fetch_inside(runtime, handle, svc_url) == "from a service's own\n"
    assert answers(extra_port.host)

    # stop releases them; a stopped container is "stopped" and has nothing to reattach.
    restarted.stop(handle)
    assert restarted.state(handle) == "stopped" and restarted.reattach(handle, held) == []
    assert restarted._relays.held(handle.ref) == [] and not answers(extra_port.host)

    # Removed behind its back: "gone" (the network is left: start's delete takes it).
    restarted._engine().containers.get(handle.data["container"]).remove(force=True)
    assert restarted.state(handle) == "gone" and restarted.reattach(handle, held) == []
    # A handle another instance made, with nothing of it on this engine: it cannot tell.
    foreign = RuntimeHandle("docker", handle.ref, {**handle.data, "instance": "elsewhere"})
    assert restarted.state(foreign) == "unknown"
    restarted.delete(handle)
    assert handle.ref not in {h.ref for h in restarted.owned()}


def _address_of(runtime: DockerRuntime, handle: RuntimeHandle) -> Any:
    container = runtime._container(runtime._engine(), handle.ref)
    container.reload()
    return next(iter(container.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
