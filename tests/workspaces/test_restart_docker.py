"""Docker workspaces across a platform restart (docs/workspaces.md, "Docker and the host's
loopback"): the relays a workspace needs (into the host's loopback, where the platform and
what the project's variables name listen; and to its bridge, added on connect and not
published) live in the platform's process and die with it; the restarted platform makes them
again before it serves (the capability's start cleanup, `WorkspaceRuntime.reattach`), after a
SIGKILL as after a clean stop. A container removed or stopped behind the platform's back is
reported as such by `workspaces.show` and `list`, at start and while it runs, and `start` makes
it again from its files. A real `codeforge up`, the real engine, real HTTP servers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ROOT, RunningPlatform, free_port, start_platform
from tests.workspaces.test_service import http_get, run, web_port
from tests.workspaces.test_service_docker import (
    bridge_live,
    container_of,
    engine,  # noqa: F401 - the fixture
    gateway_of,
    in_container,
    leftovers,
    refused,
    remove_leftovers,
)

ENV = {"CODEFORGE_WORKSPACES_PORT_RANGE": "25500-25549", "CODEFORGE_WORKSPACES_MAX_PER_PROJECT": "4"}
FETCH = (
    "python3 -c 'import os, urllib.request as u; "
    'print(u.urlopen(os.environ["UPSTREAM_URL"] + "hello.txt", timeout=5).read().decode())\''
)


@pytest.fixture(scope="module")
def platform(btrfs_volume: Path, engine: Any) -> Iterator[RunningPlatform]:  # noqa: F811
    running = start_platform(btrfs_volume / f"ws-restart-{os.getpid()}", **ENV)
    try:
        yield running
    finally:
        running.stop()
        remove_leftovers(engine, running)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """An HTTP server on the host's loopback only (as the platform's PostgreSQL is): what a
    workspace reaches through a relay on its network's gateway."""
    folder = tmp_path_factory.mktemp("upstream")
    (folder / "hello.txt").write_text("hello from the host\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def through_bridge(platform: RunningPlatform, bridge_url: str, inside: int, path: str) -> str:
    """GET `path` from the workspace's port `inside` as an editor does: `codeforge connect
    --forward` through the workspace's bridge, which checks the caller's token with the
    platform (through the relay on its network's gateway) before it opens the stream."""
    local = free_port()
    forward = subprocess.Popen(
        [sys.executable, "-m", "codeforge", "connect", bridge_url, "--forward", f"{inside}:{local}"],
        env=platform.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline().decode()
        assert line == f"forwarding 127.0.0.1:{local} -> workspace port {inside}\n", line
        resp = httpx.get(f"http://127.0.0.1:{local}{path}", timeout=30)
        assert resp.status_code == 200, resp.status_code
        return resp.text
    finally:
        forward.send_signal(signal.SIGINT)
        try:
            forward.wait(30)
        except subprocess.TimeoutExpired:
            forward.kill()
            forward.wait()
        if forward.stderr is not None:
            forward.stderr.close()
        if forward.stdout is not None:
            forward.stdout.close()


def answers(url: str) -> bool:
    """Whether something answers HTTP at url (a bridge answers a plain GET with a refusal to
    upgrade: still an answer, from the bridge's process)."""
    try:
        httpx.get(url.replace("ws://", "http://"), timeout=5)
    except httpx.TransportError:
        return False
    return True


def test_relays_come_back_after_a_kill_and_after_a_clean_stop(
    platform: RunningPlatform,
    engine: Any,  # noqa: F811
    upstream: int,
) -> None:
    p = platform.project
    platform_port = urlsplit(platform.url).port
    assert platform_port is not None
    with platform.client() as client:
        run(client, "env.set", {"project": p, "name": "UPSTREAM_URL", "value": f"http://127.0.0.1:{upstream}/"})
        ws = run(client, "workspaces.create", {"project": p, "name": "kept", "template": "python", "runtime": "docker"})
        conn = run(client, "workspaces.connect", {"project": p, "name": "kept"})
        bridge_live(client, p, conn["bridge_id"])
    box = container_of(engine, platform, ws["folder"])
    gateway = gateway_of(box)
    (Path(ws["folder"]) / "notes.txt").write_text("served inside\n")
    assert in_container(box, FETCH) == "hello from the host"
    assert through_bridge(platform, conn["bridge_url"], 8000, "/notes.txt") == "served inside\n"
    assert not refused(box, gateway, platform_port) and answers(conn["bridge_url"])

    for how in (signal.SIGKILL, signal.SIGTERM):
        platform.stop(how)
        # The relays died with the process; the container and its services did not.
        assert not answers(conn["bridge_url"]), how
        assert refused(box, gateway, upstream), how
        box.reload()
        assert box.status == "running" and http_get(web_port(ws)) == 200
        platform.start()  # the start cleanup reattaches before it serves
        assert box.id == container_of(engine, platform, ws["folder"]).id  # not remade
        assert in_container(box, FETCH) == "hello from the host", how
        assert not refused(box, gateway, platform_port), how  # the bridge reaches the platform again
        assert answers(conn["bridge_url"]), how  # editors reach the bridge again
        assert through_bridge(platform, conn["bridge_url"], 8000, "/notes.txt") == "served inside\n", how
        assert http_get(web_port(ws)) == 200
        with platform.client() as client:
            shown = run(client, "workspaces.show", {"project": p, "name": "kept"})
            assert (shown["state"], shown["error"]) == ("running", ""), how
            again = run(client, "workspaces.connect", {"project": p, "name": "kept"})
            assert again["bridge_url"] == conn["bridge_url"]
            bridge_live(client, p, conn["bridge_id"])
    assert "could not reattach" not in platform.logs()

    with platform.client() as client:
        run(client, "workspaces.delete", {"project": p, "name": "kept"})
        run(client, "env.unset", {"project": p, "name": "UPSTREAM_URL"})
    assert not answers(conn["bridge_url"])
    with pytest.raises(OSError):
        socket.create_connection((gateway, upstream), 2).close()
    assert leftovers(engine, platform) == {"containers": [], "networks": []}


def test_a_container_removed_or_stopped_behind_the_platforms_back_is_reported(
    platform: RunningPlatform,
    engine: Any,  # noqa: F811
) -> None:
    p = platform.project
    with platform.client() as client:
        lost = run(
            client, "workspaces.create", {"project": p, "name": "lost", "template": "python", "runtime": "docker"}
        )
        halted = run(
            client, "workspaces.create", {"project": p, "name": "halted", "template": "python", "runtime": "docker"}
        )
    (Path(lost["folder"]) / "mine.txt").write_text("kept\n")

    # While the platform is down: one container removed, one stopped.
    platform.kill()
    container_of(engine, platform, lost["folder"]).remove(force=True)
    container_of(engine, platform, halted["folder"]).stop(timeout=1)
    platform.start()  # no crash: each is recorded as its runtime says
    with platform.client() as client:
        listed = {w["name"]: w for w in run(client, "workspaces.list", {"project": p})["items"]}
        assert listed["lost"]["state"] == "failed"
        assert "container is gone when the platform started" in listed["lost"]["error"]
        assert "workspaces start" in listed["lost"]["error"]
        assert listed["halted"]["state"] == "stopped" and "had stopped" in listed["halted"]["error"]
        shown = run(client, "workspaces.show", {"project": p, "name": "lost"})
        assert shown["state"] == "failed" and shown["error"] == listed["lost"]["error"]

        # start makes the removed one again from its files, at its ports; the stopped one runs.
        again = run(client, "workspaces.start", {"project": p, "name": "lost"})
        assert (again["state"], again["error"]) == ("running", "")
        assert web_port(again) == web_port(lost) and http_get(web_port(lost)) == 200
        box = container_of(engine, platform, lost["folder"])
        assert in_container(box, "cat mine.txt") == "kept"
        assert run(client, "workspaces.start", {"project": p, "name": "halted"})["state"] == "running"
        assert http_get(web_port(halted)) == 200

        # While the platform runs: show and list say what the engine says, at once.
        box.remove(force=True)
        shown = run(client, "workspaces.show", {"project": p, "name": "lost"})
        assert shown["state"] == "failed" and "container is gone: removed outside CodeForge" in shown["error"]
        listed = {w["name"]: w for w in run(client, "workspaces.list", {"project": p})["items"]}
        assert listed["lost"]["state"] == "failed" and listed["halted"]["state"] == "running"
        with pytest.raises(Exception, match=r"gone|no workspace|has no"):
            run(client, "workspaces.logs", {"project": p, "name": "lost"})  # an error, not a crash
        # Deleting one whose container is gone works, and leaves nothing.
        for name in ("lost", "halted"):
            run(client, "workspaces.delete", {"project": p, "name": name})
        assert run(client, "workspaces.list", {"project": p})["items"] == []
    assert leftovers(engine, platform) == {"containers": [], "networks": []}
