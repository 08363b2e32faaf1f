"""Workspaces on the Docker runtime through a real `codeforge up` and the HTTP client
(docs/workspaces.md, "Snapshots and clone", "Crash safety"): clone a running workspace with a
database branch and a running HTTP service; files, database rows and ports are isolated; a
snapshot restored after changes; a platform killed mid-clone leaves no container or network
behind (checked with the docker SDK by the runtime's labels).

The database URL names the host's loopback, where only the platform's PostgreSQL listens: the
container's environment names the workspace network's gateway instead, where the runtime
relays to it (docker_relay.py); a connect starts the bridge inside, reaching the platform the
same way."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from codeforge.catalog.errors import CodeForgeError
from codeforge.client import PlatformClient
from codeforge.platform.workspaces.runtimes.base import LABEL_INSTANCE, LABEL_WORKSPACE
from codeforge.platform.workspaces.runtimes.docker import DockerRuntime
from tests.conftest import RunningPlatform, require, start_platform
from tests.workspaces.test_service import http_get, rows, run, web_port

ENV = {"CODEFORGE_WORKSPACES_PORT_RANGE": "24400-24599", "CODEFORGE_WORKSPACES_MAX_PER_PROJECT": "6"}
LOW, HIGH = 24400, 24599


@pytest.fixture(scope="module")
def engine() -> Any:
    """The docker SDK's client, or a skip naming why there is no engine."""
    probe = DockerRuntime("probe")
    why = probe.available()
    require("docker", why is None, str(why))
    return probe._engine()


def instance_of(platform: RunningPlatform) -> str:
    return platform.env["CODEFORGE_INSTANCE_ID"]


def leftovers(engine: Any, platform: RunningPlatform) -> dict[str, list[str]]:
    """The containers and networks this platform's Docker runtime made, by workspace id."""
    mine = {"label": [f"{LABEL_INSTANCE}={instance_of(platform)}", LABEL_WORKSPACE]}
    return {
        "containers": sorted(c.labels[LABEL_WORKSPACE] for c in engine.containers.list(all=True, filters=mine)),
        "networks": sorted(n.attrs["Labels"][LABEL_WORKSPACE] for n in engine.networks.list(filters=mine)),
    }


def remove_leftovers(engine: Any, platform: RunningPlatform) -> None:
    """After a failed test: what it left on the engine goes, so no other test trips on it."""
    runtime = DockerRuntime(instance_of(platform))
    for handle in runtime.owned():
        runtime.delete(handle)


@pytest.fixture(scope="module")
def platform(btrfs_volume: Path, engine: Any) -> Iterator[RunningPlatform]:
    """On the btrfs volume: workspace trees are subvolume snapshots, database branches too."""
    running = start_platform(btrfs_volume / f"ws-docker-{os.getpid()}", **ENV)
    try:
        yield running
    finally:
        running.stop()
        remove_leftovers(engine, running)


@pytest.fixture(scope="module")
def client(platform: RunningPlatform) -> Iterator[PlatformClient]:
    with PlatformClient(platform.url, platform.token, timeout=120) as c:
        yield c


def exit_code(platform: RunningPlatform, within_s: float) -> int | None:
    """The platform process's exit code, or None when it still runs after `within_s`."""
    assert platform.process is not None
    try:
        return platform.process.wait(within_s)
    except subprocess.TimeoutExpired:
        return None


def databases(client: PlatformClient, project: str) -> list[str]:
    return [d["name"] for d in run(client, "databases.list", {"project": project})["items"]]


def get_text(port: int, path: str) -> str:
    resp = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=5)
    assert resp.status_code == 200, (port, path, resp.status_code)
    return resp.text


def container_of(engine: Any, platform: RunningPlatform, folder: str) -> Any:
    """The one container with tree `folder` at /workspace (WorkspaceInfo does not name it)."""
    mine = {"label": [f"{LABEL_INSTANCE}={instance_of(platform)}", LABEL_WORKSPACE]}
    found = [c for c in engine.containers.list(all=True, filters=mine) if _tree_of(c) == Path(folder).resolve()]
    assert len(found) == 1, [c.name for c in found]
    return found[0]


def _tree_of(container: Any) -> Path:
    return Path(next(m["Source"] for m in container.attrs["Mounts"] if m["Destination"] == "/workspace"))


def gateway_of(container: Any) -> str:
    return str(next(iter(container.attrs["NetworkSettings"]["Networks"].values()))["Gateway"])


def seen_inside(url: str, container: Any) -> str:
    """A host-loopback URL as the container's environment names it: at its network's gateway."""
    where = urlsplit(url)
    return url.replace(f"{where.hostname}:{where.port}", f"{gateway_of(container)}:{where.port}")


def in_container(container: Any, script: str) -> str:
    code, out = container.exec_run(["sh", "-c", script], workdir="/workspace")
    assert code == 0, out
    return str(out.decode()).strip()


def test_clone_a_running_docker_workspace_with_its_database_and_service(
    client: PlatformClient, platform: RunningPlatform, engine: Any
) -> None:
    p = platform.project
    run(client, "databases.create", {"project": p, "name": "main"})
    main_url = run(client, "env.reveal", {"project": p, "name": "DATABASE_URL"})["value"]
    with psycopg.connect(main_url) as conn:
        conn.execute("CREATE TABLE notes (body text)")
        conn.execute("INSERT INTO notes VALUES ('first')")

    web = run(client, "workspaces.create", {"project": p, "name": "web", "template": "python", "runtime": "docker"})
    assert web["state"] == "running" and web["runtime"] == "docker" and web["isolation"] == "a container"
    assert LOW <= web_port(web) <= HIGH and http_get(web_port(web)) == 200
    tree = Path(web["folder"])
    (tree / "notes.txt").write_text("original\n")
    assert get_text(web_port(web), "/notes.txt") == "original\n"  # the service serves the tree
    box = container_of(engine, platform, web["folder"])
    assert box.status == "running" and in_container(box, "cat notes.txt") == "original"

    copy = run(client, "workspaces.clone", {"project": p, "source": "web", "name": "web-copy"})
    assert copy["state"] == "running" and copy["runtime"] == "docker"
    assert copy["databases"] == [{"env_var": "DATABASE_URL", "database": "web-copy-main"}]
    assert any("running processes are not copied" in n for n in copy["notes"])
    copy_box = container_of(engine, platform, copy["folder"])
    assert copy_box.id != box.id and copy["folder"] != web["folder"]

    # Ports: its own host port, in the range, on loopback only; both answer.
    assert web_port(copy) != web_port(web) and LOW <= web_port(copy) <= HIGH
    bindings = copy_box.attrs["HostConfig"]["PortBindings"]["8000/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(web_port(copy))}]
    assert get_text(web_port(copy), "/notes.txt") == "original\n"

    # Files: a write inside the clone's container (and one on the host) stays in the clone.
    in_container(copy_box, "echo changed in the clone > notes.txt")
    assert get_text(web_port(copy), "/notes.txt") == "changed in the clone\n"
    assert get_text(web_port(web), "/notes.txt") == "original\n"
    assert (tree / "notes.txt").read_text() == "original\n" and in_container(box, "cat notes.txt") == "original"
    (tree / "only-in-source.txt").write_text("x\n")
    assert in_container(copy_box, "test -e only-in-source.txt || echo absent") == "absent"

    # Inside, each container's CODEFORGE_SERVICE_WEB_URL reaches its own service.
    fetch = 'python3 -c \'import os, urllib.request as u; print(u.urlopen(os.environ["CODEFORGE_SERVICE_WEB_URL"] + "/notes.txt").read().decode())\''
    assert in_container(copy_box, fetch) == "changed in the clone"
    assert in_container(box, fetch) == "original"

    # Database: the clone's container is given its branch; rows written there stay there.
    branch_url = run(client, "databases.reveal", {"project": p, "name": "web-copy-main"})["url"]
    env = dict(e.split("=", 1) for e in copy_box.attrs["Config"]["Env"])
    assert env["DATABASE_URL"] == seen_inside(branch_url, copy_box) and branch_url != main_url
    source_env = dict(e.split("=", 1) for e in box.attrs["Config"]["Env"])
    assert source_env["DATABASE_URL"] == seen_inside(main_url, box)
    with psycopg.connect(branch_url) as conn:
        conn.execute("INSERT INTO notes VALUES ('only in the clone')")
    assert rows(branch_url) == 2 and rows(main_url) == 1

    # Stopping the clone stops its container only.
    run(client, "workspaces.stop", {"project": p, "name": "web-copy"})
    copy_box.reload()
    assert copy_box.status == "exited"
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{web_port(copy)}/", timeout=2)
    assert http_get(web_port(web)) == 200
    again = run(client, "workspaces.start", {"project": p, "name": "web-copy"})  # the same container, its tree
    assert again["state"] == "running" and get_text(web_port(again), "/notes.txt") == "changed in the clone\n"
    lines = run(client, "workspaces.logs", {"project": p, "name": "web-copy", "service": "web"})["lines"]
    assert any("GET /notes.txt" in line for line in lines), lines
    run(client, "workspaces.stop", {"project": p, "name": "web-copy"})

    # Snapshot, change files and rows, restore: both back as captured, the service running.
    snap = run(client, "workspaces.snapshot", {"project": p, "name": "web", "snapshot": "before"})
    assert snap["files"] and snap["databases"][0]["env_var"] == "DATABASE_URL"
    assert snap["processes"] != "checkpointed" and any("running processes" in m for m in snap["missing"])
    (tree / "notes.txt").write_text("after the snapshot\n")
    with psycopg.connect(main_url) as conn:
        conn.execute("INSERT INTO notes VALUES ('after the snapshot')")
    assert get_text(web_port(web), "/notes.txt") == "after the snapshot\n"
    restored = run(client, "workspaces.restore", {"project": p, "snapshot": "before"})
    assert restored["state"] == "running" and restored["runtime"] == "docker"
    assert web_port(restored) == web_port(web)
    assert Path(restored["folder"], "notes.txt").read_text() == "original\n"
    assert get_text(web_port(restored), "/notes.txt") == "original\n"  # served from the restored tree
    new_box = container_of(engine, platform, restored["folder"])
    assert in_container(new_box, "cat notes.txt") == "original"
    restored_db = restored["databases"][0]["database"]
    restored_url = run(client, "databases.reveal", {"project": p, "name": restored_db})["url"]
    assert dict(e.split("=", 1) for e in new_box.attrs["Config"]["Env"])["DATABASE_URL"] == seen_inside(
        restored_url, new_box
    )
    assert rows(restored_url) == 1 and rows(main_url) == 2

    # Delete: no container or network of them is left, nor trees, branches, ports.
    for name in ("web", "web-copy"):
        assert run(client, "workspaces.delete", {"project": p, "name": name})["name"] == name
    run(client, "workspaces.delete_snapshot", {"project": p, "snapshot": "before"})
    assert run(client, "workspaces.list", {"project": p})["items"] == []
    assert leftovers(engine, platform) == {"containers": [], "networks": []}
    assert databases(client, p) == ["main"]
    files = platform.data_dir / "workspaces" / "files"
    assert not any((files / "ws").iterdir()) and not any((files / "snap").iterdir())
    run(client, "env.unset", {"project": p, "name": "DATABASE_URL"})  # the test below clones no database


SSL_REQUEST = (
    'python3 -c \'import os, socket, struct, urllib.parse as u; a = u.urlsplit(os.environ["DATABASE_URL"]); '
    's = socket.create_connection((a.hostname, a.port), 5); s.sendall(struct.pack("!ii", 8, 80877103)); '
    "print(s.recv(1).decode())'"
)


def refused(container: Any, host: str, port: int) -> bool:
    """Whether a TCP connect from inside the container to host:port is refused."""
    code, out = container.exec_run(["python3", "-c", f"import socket; socket.create_connection(({host!r}, {port}), 3)"])
    return code != 0 and b"ConnectionRefusedError" in out


def bridge_live(client: PlatformClient, project: str, bridge_id: str) -> None:
    deadline = time.monotonic() + 20
    bridges = run(client, "bridges.list", {"project": project})["bridges"]
    while not any(b["id"] == bridge_id and b["state"] == "live" for b in bridges):
        assert time.monotonic() < deadline, f"the workspace's bridge never reported: {bridges}"
        time.sleep(0.3)
        bridges = run(client, "bridges.list", {"project": project})["bridges"]


def test_a_docker_workspace_reaches_the_hosts_database_and_its_bridge_connects(
    client: PlatformClient, platform: RunningPlatform, engine: Any
) -> None:
    """The host's loopback-only PostgreSQL and platform, through the runtime's relays on the
    workspace network's gateway; the bridge added to the running container on connect."""
    p = platform.project
    url = run(client, "databases.reveal", {"project": p, "name": "main"})["url"]  # the test above's
    run(client, "env.set", {"project": p, "name": "DATABASE_URL", "value": url, "secret": True})
    db = urlsplit(url)
    ws = run(client, "workspaces.create", {"project": p, "name": "near", "template": "python", "runtime": "docker"})
    box = container_of(engine, platform, ws["folder"])
    gateway = gateway_of(box)
    inside = dict(e.split("=", 1) for e in box.attrs["Config"]["Env"])["DATABASE_URL"]
    assert inside == seen_inside(url, box) != url and db.port is not None
    assert in_container(box, SSL_REQUEST) in ("N", "S")  # PostgreSQL answers, through the relay
    # Only what the environment names is relayed: the platform's port is not, before a bridge.
    platform_port = urlsplit(platform.url).port
    assert platform_port is not None and refused(box, gateway, platform_port)

    conn = run(client, "workspaces.connect", {"project": p, "name": "near"})
    assert conn["bridge_url"].startswith("ws://127.0.0.1:")
    bridge_live(client, p, conn["bridge_id"])
    assert run(client, "workspaces.connect", {"project": p, "name": "near"})["bridge_url"] == conn["bridge_url"]
    assert http_get(web_port(ws)) == 200  # the web service kept running while the bridge was added
    lines = run(client, "workspaces.logs", {"project": p, "name": "near", "service": "bridge"})["lines"]
    assert any("serving /workspace" in line for line in lines), lines
    assert not any("cf_" in line for line in lines)  # its token is in no log line

    # Stopped and started: the container is made again with the bridge's port published; the
    # relays come back; a connect starts the bridge again at the same URL.
    run(client, "workspaces.stop", {"project": p, "name": "near"})
    with pytest.raises(OSError):
        socket.create_connection((gateway, db.port), 2).close()  # the relay stopped with it
    run(client, "workspaces.start", {"project": p, "name": "near"})
    box = container_of(engine, platform, ws["folder"])
    assert in_container(box, SSL_REQUEST) in ("N", "S")
    again = run(client, "workspaces.connect", {"project": p, "name": "near"})
    assert again["bridge_url"] == conn["bridge_url"]
    bridge_live(client, p, conn["bridge_id"])

    run(client, "workspaces.delete", {"project": p, "name": "near"})
    with pytest.raises(httpx.TransportError):
        httpx.get(conn["bridge_url"].replace("ws://", "http://"), timeout=2)
    with pytest.raises(OSError):
        socket.create_connection((gateway, db.port), 2).close()
    run(client, "env.unset", {"project": p, "name": "DATABASE_URL"})  # the test below clones no database
    assert leftovers(engine, platform) == {"containers": [], "networks": []}


def test_killed_mid_clone_leaves_no_container(platform: RunningPlatform, engine: Any) -> None:
    """Killed once the clone's container runs, its services not yet started (inside the
    journal's `runtime` step, the latest point a death can leave something on the engine):
    after the restart only the source's container and network are left, and it still runs.
    No database: a branch's cleanup after a crash is the same for every runtime (test_service.py),
    and PostgreSQL is what is slow here. The module's platform, restarted: this test runs last."""
    with platform.client() as client:
        p = platform.project
        kept = databases(client, p)
        src = run(client, "workspaces.create", {"project": p, "name": "src", "template": "python", "runtime": "docker"})
    made = leftovers(engine, platform)
    assert len(made["containers"]) == 1 and made["networks"] == made["containers"]
    platform.stop()
    platform.extra_env["CODEFORGE_WORKSPACES_CRASH_AT"] = "docker.start:container-started"
    platform.start()
    with platform.client() as client, pytest.raises((CodeForgeError, httpx.HTTPError)) as died:
        run(client, "workspaces.clone", {"project": p, "source": "src", "name": "dst"})  # it dies under the call
    assert exit_code(platform, 30) == -9, f"{died.value!r}\n{platform.logs()[-3000:]}"
    platform.process = None
    half = leftovers(engine, platform)  # it died with the clone's container made and running
    assert len(half["containers"]) == 2 and half["networks"] == half["containers"], half
    del platform.extra_env["CODEFORGE_WORKSPACES_CRASH_AT"]
    platform.start()  # the crash cleanup runs before it serves
    assert leftovers(engine, platform) == made
    with platform.client() as client:
        assert [w["name"] for w in run(client, "workspaces.list", {"project": p})["items"]] == ["src"]
        assert databases(client, p) == kept
        assert http_get(web_port(src)) == 200  # the source's container was left running
        run(client, "workspaces.delete", {"project": p, "name": "src"})
    assert leftovers(engine, platform) == {"containers": [], "networks": []}
    files = platform.data_dir / "workspaces" / "files"
    assert not list((files / "ws").iterdir()) and not list((files / "snap").iterdir())
