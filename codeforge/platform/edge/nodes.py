"""Edge nodes the platform runs: one Caddy process per node of CODEFORGE_EDGE_NODES, its
admin API on 127.0.0.1 and its listeners on the node's own loopback address (127.0.0.2,
127.0.0.3 … when there are several: a region's stand-in, docs/edge-asbuilt.md).

`EdgeSupervisor` is the capability's background service: it starts the nodes, records their
addresses (table edge_nodes, read by `routes.nodes`), pushes the current config, and every
CODEFORGE_EDGE_CHECK_INTERVAL_S restarts a node whose process died, marks nodes that do not
answer as down and gives the current config to nodes that are behind. A node's Caddy dies
with the platform (PR_SET_PDEATHSIG), so a killed platform leaves no edge behind."""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from codeforge.platform.db import utcnow
from codeforge.platform.edge import routes
from codeforge.platform.edge.models import EdgeNodeRow
from codeforge.platform.edge.settings import NodeSpec, caddy_binary, edge_settings

if TYPE_CHECKING:
    from codeforge.platform.crypto import Cipher
    from codeforge.platform.db import Database
    from codeforge.platform.settings import Settings

__all__ = ["EdgeSupervisor", "free_port"]

log = logging.getLogger("codeforge.edge")
_PR_SET_PDEATHSIG = 1
# One thread, kept for the life of the process (an idle ThreadPoolExecutor worker waits, it does
# not exit), from which every Caddy is forked: see _spawn.
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-spawner")


def free_port(host: str, udp_too: bool = False) -> int:
    """A port free on `host` for TCP (and UDP, for HTTP/3)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if not udp_too:
            return port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind((host, port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port on {host}")


def _die_with_parent() -> None:  # runs in the child before exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class _Node:
    spec: NodeSpec
    folder: Path
    admin_port: int
    http_port: int
    https_port: int
    lb_port: int
    cache_port: int
    process: subprocess.Popen[bytes] | None = None
    held: bool = False  # stopped on purpose: not restarted
    fresh: bool = True  # started with only its admin API: needs the whole config, whatever its version

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def address(self, port: int) -> str:
        return f"{self.spec.host}:{port}"


class EdgeSupervisor:
    def __init__(self, db: Database, settings: Settings, cipher: Cipher | None = None) -> None:
        self.db = db
        self.settings = settings
        self.cipher = cipher
        self.config = edge_settings()
        self.nodes: dict[str, _Node] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        specs = self.config.node_specs()
        if not specs:
            return
        binary = caddy_binary(self.config)
        if not binary.is_file():
            log.error("no caddy binary: the edge does not run", extra={"path": str(binary)})
            return
        for spec in specs:
            node = self._make(spec)
            self.nodes[spec.name] = node
            self._spawn(node)
        for node in self.nodes.values():
            self._wait_admin(node)
        try:
            self.check()
        except Exception:  # the loop tries again; the platform serves meanwhile
            log.exception("edge check at start failed")
        self._thread = threading.Thread(target=self._loop, name="edge-supervisor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        with self._lock:
            for node in self.nodes.values():
                self._terminate(node)

    def _loop(self) -> None:
        while not self._stop.wait(self.config.check_interval_s):
            try:
                self.check()
            except Exception:
                log.exception("edge check failed")

    # ---- nodes ------------------------------------------------------------------------------

    def _make(self, spec: NodeSpec) -> _Node:
        c = self.config
        folder = Path(self.settings.data_dir) / "edge" / spec.name
        folder.mkdir(parents=True, exist_ok=True)
        return _Node(
            spec=spec,
            folder=folder,
            admin_port=free_port("127.0.0.1"),
            http_port=c.http_port or free_port(spec.host),
            https_port=c.https_port or free_port(spec.host, udp_too=True),
            lb_port=c.lb_port or free_port(spec.host),
            cache_port=c.cache_port or free_port(spec.host),
        )

    def _spawn(self, node: _Node) -> None:
        initial = {"admin": {"listen": f"127.0.0.1:{node.admin_port}", "config": {"persist": False}}}
        (node.folder / "initial.json").write_text(json.dumps(initial))
        env = dict(os.environ)
        env.update(XDG_CONFIG_HOME=str(node.folder / "config"), XDG_DATA_HOME=str(node.folder / "data"))
        args = [str(caddy_binary(self.config)), "run", "--config", str(node.folder / "initial.json")]

        def spawn() -> subprocess.Popen[bytes]:
            with (node.folder / "caddy.log").open("ab") as out:
                return subprocess.Popen(
                    args,
                    stdout=out,
                    stderr=out,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=node.folder,
                    preexec_fn=_die_with_parent,
                )

        # PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process:
        # a node started from a start-up or request worker thread got SIGTERM when that thread
        # retired. Every node is forked from one thread that lives as long as the process.
        node.process = _SPAWNER.submit(spawn).result()
        node.fresh = True
        self._record(node, state="starting", version=0)

    def _record(self, node: _Node, *, state: str, version: int | None = None, error: str = "") -> None:
        with self.db.session() as s:
            row = s.get(EdgeNodeRow, node.spec.name)
            if row is None:
                row = EdgeNodeRow(name=node.spec.name)
                s.add(row)
            row.region = node.spec.region
            row.admin_url = node.admin_url
            row.http_address = node.address(node.http_port)
            row.https_address = node.address(node.https_port)
            row.lb_address = node.address(node.lb_port)
            row.cache_address = node.address(node.cache_port)
            row.access_log = str(node.folder / "access.log")
            row.state, row.error, row.checked_at = state, error, utcnow()
            if version is not None:
                row.version = version

    def _wait_admin(self, node: _Node, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.process is not None and node.process.poll() is not None:
                return False
            if self._answers(node):
                return True
            time.sleep(0.05)
        return False

    def _answers(self, node: _Node) -> bool:
        try:
            return httpx.get(f"{node.admin_url}/config/", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _terminate(self, node: _Node) -> None:
        proc, node.process = node.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def hold(self, name: str) -> None:
        """Stop a node and keep it stopped (maintenance; tests use it as a node going down)."""
        with self._lock:
            node = self.nodes[name]
            node.held = True
            self._terminate(node)

    def release(self, name: str) -> None:
        """Start a held node again; the next check gives it the current config."""
        with self._lock:
            node = self.nodes[name]
            node.held = False
            if node.process is None or node.process.poll() is not None:
                self._spawn(node)
        self._wait_admin(node)

    def check(self) -> routes.PushResult:
        """Restart dead nodes, mark the ones that do not answer, catch up the ones behind."""
        with self._lock:
            for node in self.nodes.values():
                if node.held:
                    continue
                if node.process is None or node.process.poll() is not None:
                    log.warning("edge node's caddy is not running: restarting it", extra={"node": node.spec.name})
                    self._spawn(node)
                    self._wait_admin(node)
            fresh: list[str] = []
            for node in self.nodes.values():
                live = routes.live_version(node.admin_url)
                if live is None:
                    self._record(node, state="down", error=f"{routes.UNREACHABLE}its admin API does not answer")
                else:
                    with self.db.session() as s:
                        row = s.get(EdgeNodeRow, node.spec.name)
                        if row is not None and row.state != "up" and not row.error.startswith(routes.REFUSED):
                            row.state, row.error = "up", ""
                        if row is not None:
                            # What the node holds, not what was last recorded: a slower push
                            # of an older config, or a restart behind our back, shows as behind.
                            row.version = live
                            row.checked_at = utcnow()
                    if node.fresh:
                        fresh.append(node.spec.name)
            if fresh:
                result = routes.push(self.db, self.settings, self.cipher, only=fresh)
                for name in fresh:
                    if name not in result.failed:
                        self.nodes[name].fresh = False
        return routes.catch_up(self.db, self.settings, self.cipher)
