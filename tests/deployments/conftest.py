"""Deployments' tests run a real platform (`codeforge up`), real instances (local-runtime
processes of a small Python HTTP app whose version and behaviour come from its tree) and a
real Caddy edge node. Where the edge capability runs its own nodes inside the platform, those
are used; until it does, the test runs the edge's supervisor beside the platform on the
platform's own database, which is where the platform's `publish` finds the nodes."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from codeforge.client import PlatformClient
from tests.conftest import RunningPlatform, require, start_platform
from tests.conftest import run_operation as run

__all__ = ["APP", "Load", "deploy_app", "run", "through_edge"]

# The app: version.txt is what it answers; mode.txt says how it behaves (ok, fail: 500 on every
# request but the health path, unhealthy: 503 on the health path, slow: 300 ms per request).
APP = """
import os, pathlib, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
root = pathlib.Path(__file__).resolve().parent
version = (root / "version.txt").read_text().strip()
mode = (root / "mode.txt").read_text().strip() if (root / "mode.txt").exists() else "ok"
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        health = self.path.startswith("/health")
        code = 200
        if health and mode == "unhealthy":
            code = 503
        elif not health and mode == "fail":
            code = 500
        if mode == "slow" and not health:
            time.sleep(0.3)
        body = version.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def _edge_runs_in_platform() -> bool:
    return importlib.util.find_spec("codeforge.platform.edge.capability") is not None


@dataclass
class EdgeRig:
    platform: RunningPlatform
    http_address: str  # the node's plain-HTTP listener
    stop: Any = None


@contextlib.contextmanager
def deployments_platform(base: Path, port_range: str, **env: str) -> Iterator[RunningPlatform]:
    """A platform with one edge node; its deployments and workspaces go with it (their trees
    may be overlay mounts)."""
    running = start_platform(base, CODEFORGE_EDGE_NODES="local", CODEFORGE_WORKSPACES_PORT_RANGE=port_range, **env)
    yield running
    with contextlib.suppress(Exception), PlatformClient(running.url, running.token, timeout=120) as c:
        for d in run(c, "deployments.list", {"project": running.project})["items"]:
            with contextlib.suppress(Exception):
                run(c, "deployments.delete", {"project": running.project, "name": d["name"]})
        for w in run(c, "workspaces.list", {"project": running.project})["items"]:
            with contextlib.suppress(Exception):
                run(c, "workspaces.delete", {"project": running.project, "name": w["name"]})
    running.stop()


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    base = tmp_path_factory.mktemp("deployments")
    with deployments_platform(base, "24700-24799", CODEFORGE_EDGE_TRAFFIC_INTERVAL_S="1") as running:
        yield running


@pytest.fixture(scope="module")
def client(platform: RunningPlatform) -> Iterator[PlatformClient]:
    with PlatformClient(platform.url, platform.token, timeout=180) as c:
        yield c


@pytest.fixture(scope="module")
def edge(platform: RunningPlatform) -> Iterator[EdgeRig]:
    """A Caddy edge node the platform publishes to, and its plain-HTTP address."""
    from codeforge.platform.db import Database
    from codeforge.platform.settings import Settings
    from tests.servers.caddy import need_caddy

    need_caddy()
    settings = Settings(data_dir=platform.data_dir, port=platform.port)
    db = Database(settings.resolved_database_url)
    supervisor = None
    saved = {k: os.environ.get(k) for k in ("CODEFORGE_EDGE_NODES", "CODEFORGE_EDGE_CHECK_INTERVAL_S")}
    try:
        if not _edge_runs_in_platform():
            from codeforge.platform.edge.nodes import EdgeSupervisor

            os.environ["CODEFORGE_EDGE_NODES"] = "local"
            os.environ["CODEFORGE_EDGE_CHECK_INTERVAL_S"] = "1"
            supervisor = EdgeSupervisor(db, settings)
            supervisor.start()
        address = edge_address(platform)
        yield EdgeRig(platform, address)
    finally:
        if supervisor is not None:
            supervisor.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        db.dispose()


def edge_address(platform: RunningPlatform, timeout_s: float = 30.0, node: str = "local") -> str:
    """The plain-HTTP address of the platform's edge node `node`, once it is up."""
    from sqlalchemy import select

    from codeforge.platform.db import Database
    from codeforge.platform.edge.models import EdgeNodeRow
    from codeforge.platform.settings import Settings

    db = Database(Settings(data_dir=platform.data_dir, port=platform.port).resolved_database_url)
    address = ""
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not address:
            with db.session() as s:
                row = s.scalar(select(EdgeNodeRow).where(EdgeNodeRow.name == node))
                address = row.http_address if row is not None and row.state == "up" else ""
            time.sleep(0.1)
    finally:
        db.dispose()
    require("edge", bool(address), "no edge node came up (see the platform's log)")
    return address


def need_edge_metrics() -> None:
    """Automatic rollback reads what the edge counts from its access logs into monitoring."""
    require(
        "edge-metrics",
        importlib.util.find_spec("codeforge.platform.edge.capability") is not None,
        "the edge capability (which writes codeforge_edge_requests_total) is not installed yet",
    )


def through_edge(edge: EdgeRig, host: str, path: str = "/", client: httpx.Client | None = None) -> httpx.Response:
    if client is not None:
        return client.get(f"http://{edge.http_address}{path}", headers={"Host": host})
    return httpx.get(f"http://{edge.http_address}{path}", headers={"Host": host}, timeout=10)


def wait_serving(edge: EdgeRig, host: str, body: str, tries: int = 200) -> None:
    """Until the edge answers `body` for `host` (a publish is live within a moment on the node)."""
    for _ in range(tries):
        with contextlib.suppress(httpx.HTTPError):
            r = through_edge(edge, host)
            if r.status_code == 200 and r.text == body:
                return
        time.sleep(0.05)
    raise AssertionError(f"the edge never answered {body!r} for {host}")


def workspace_with_app(client: PlatformClient, project: str, name: str, version: str, mode: str = "ok") -> Path:
    """A workspace whose tree holds the app, at `version` and in `mode`."""
    info = run(client, "workspaces.create", {"project": project, "name": name, "template": "empty"})
    tree = Path(info["folder"])
    set_app(tree, version, mode)
    return tree


def set_app(tree: Path, version: str, mode: str = "ok") -> None:
    (tree / "app.py").write_text(APP)
    (tree / "version.txt").write_text(version + "\n")
    (tree / "mode.txt").write_text(mode + "\n")


def deploy_app(client: PlatformClient, project: str, name: str, workspace: str, **extra: Any) -> dict[str, Any]:
    body = {
        "project": project, "name": name, "workspace": workspace, "command": ["python3", "app.py"],
        "health_path": "/health", "health_timeout_s": 20, "step_s": 0, **extra,
    }  # fmt: skip
    return run(client, "deployments.deploy", body)


@dataclass
class Load:
    """A steady client: one request after another through the edge, counting answers."""

    edge: EdgeRig
    host: str
    codes: dict[int, int] = field(default_factory=dict)
    bodies: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    retried: int = 0  # requests sent again after a keep-alive connection closed under them
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Load:
        def loop() -> None:
            with httpx.Client(timeout=10) as c:
                while not self._stop.is_set():
                    try:
                        try:
                            r = through_edge(self.edge, self.host, client=c)
                        except httpx.RemoteProtocolError:
                            # A reused keep-alive connection the node closed as it loaded a new
                            # config (every publish is one /load): as browsers and HTTP clients
                            # do for an idempotent request, sent again once, on a new connection.
                            self.retried += 1
                            r = through_edge(self.edge, self.host, client=c)
                        self.codes[r.status_code] = self.codes.get(r.status_code, 0) + 1
                        self.bodies[r.text] = self.bodies.get(r.text, 0) + 1
                    except httpx.HTTPError as exc:
                        self.failures.append(repr(exc))

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(20)

    @property
    def total(self) -> int:
        return sum(self.codes.values()) + len(self.failures)


def open_pane(client: PlatformClient, platform: RunningPlatform) -> str:
    """The deployments pane as text."""
    from urllib.parse import urlsplit

    link = run(client, "panes.open", {"project": platform.project, "pane": "deployments"})
    parts = urlsplit(link["url"])
    page = httpx.get(f"{platform.url}{parts.path}?{parts.query}&format=text", timeout=30)
    assert page.status_code == 200, page.text
    return page.text


def instance_ports(info: dict[str, Any]) -> list[int]:
    return [int(i["address"].rsplit(":", 1)[1]) for r in info["releases"] for i in r["instances"]]


def answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
    except httpx.HTTPError:
        return False
    return True
