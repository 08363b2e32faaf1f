"""Fixtures every bridge test can share: a real `codeforge bridge` process on a temporary
workspace against the live platform, a dial helper (a real websockets client through
`codeforge.bridge.connect.Connection`), a real `codeforge connect` subprocess with a raw
JSON-RPC client on its stdio, and a second organization's token.

    live_bridge                      module-scoped BridgeProcess (grace 30 s) on bridge_folder
    bridge_factory(folder, grace=…)  more bridges for one test, stopped after it
    connected(url, token)            async context manager: a Connection, closed after
    ConnectProcess / LspPipe         `codeforge connect URL …` and an LSP client on its stdio
    other_org_token                  an owner token of another organization (module-scoped)
    TcpProxy(port)                   the network in between: cut() connections, block() an outage
    drop(link)                       abort a link's websocket (the link resumes on a new one)
    member_token(platform, user, role), self_signed(folder), make_workspace(folder, project)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from codeforge.bridge.connect import Connection
from codeforge.bridge.link import Link
from tests.conftest import ROOT, RunningPlatform, free_port

__all__ = [
    "BridgeProcess",
    "ConnectProcess",
    "LspPipe",
    "TcpProxy",
    "connected",
    "drop",
    "make_workspace",
    "member_token",
    "self_signed",
    "start_bridge",
]

URL_LINE = re.compile(r" at (wss?://\S+)")


@dataclass
class BridgeProcess:
    """`codeforge bridge FOLDER` as a user runs it, with the platform's stored login."""

    folder: Path
    platform: RunningPlatform
    port: int
    grace: float = 30.0
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    url: str = ""

    @property
    def log_path(self) -> Path:
        return self.folder.parent / f"bridge-{self.port}.log"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "codeforge", "bridge", str(self.folder),
            "--project", self.platform.project, "--port", str(self.port), "--grace", str(self.grace),
            "--url", self.platform.url, *self.args,
        ]  # fmt: skip

    def start(self) -> BridgeProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command(), env=self.platform.env, stdout=subprocess.PIPE, stderr=log, cwd=ROOT
        )
        log.close()
        stdout = self.process.stdout
        assert stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()

        def pump() -> None:
            for line in iter(stdout.readline, b""):
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2).decode()
            except queue.Empty:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the bridge exited ({self.process.returncode}):\n{self.logs()}") from None
                continue
            if found := URL_LINE.search(line):
                self.url = found.group(1)
                return self
        raise RuntimeError(f"the bridge did not start:\n{self.logs()}")

    def stop(self, kill: bool = False) -> None:
        if self.process is not None and self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self, kill: bool = True) -> BridgeProcess:
        """Stop (by default as a crash would) and start again on the same port."""
        self.stop(kill=kill)
        return self.start()

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return ""


def make_workspace(folder: Path, project: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "codeforge.yaml").write_text(f"project: {project}\n")
    (folder / "app.py").write_text("def greet(name: str) -> str:\n    return 'hi ' + name\n")
    return folder


def start_bridge(
    folder: Path, platform: RunningPlatform, *, grace: float = 30.0, args: list[str] | None = None
) -> BridgeProcess:
    return BridgeProcess(folder, platform, free_port(), grace, list(args or [])).start()


@pytest.fixture(scope="module")
def bridge_folder(tmp_path_factory: pytest.TempPathFactory, live_platform: RunningPlatform) -> Path:
    return make_workspace(tmp_path_factory.mktemp("bridge") / "workspace", live_platform.project)


@pytest.fixture(scope="module")
def live_bridge(bridge_folder: Path, live_platform: RunningPlatform) -> Iterator[BridgeProcess]:
    bridge = start_bridge(bridge_folder, live_platform)
    yield bridge
    bridge.stop()


@pytest.fixture
def bridge_factory(live_platform: RunningPlatform) -> Iterator[Callable[..., BridgeProcess]]:
    started: list[BridgeProcess] = []

    def make(folder: Path, *, grace: float = 30.0, args: list[str] | None = None) -> BridgeProcess:
        bridge = start_bridge(folder, live_platform, grace=grace, args=args)
        started.append(bridge)
        return bridge

    yield make
    for bridge in started:
        bridge.stop()


@contextlib.asynccontextmanager
async def connected(url: str, token: str, **kwargs: Any) -> AsyncIterator[Connection]:
    """A `codeforge connect` session in this process: `await conn.dial("lsp", {})`."""
    connection = Connection(url, token, **kwargs)
    try:
        yield connection
    finally:
        await connection.close()


def drop(link: Link) -> None:
    """Kill the link's websocket as a network loss would: the TCP connection is aborted, no
    close handshake (the link then resumes on a new one)."""
    socket = link._socket
    assert socket is not None, "the link has no websocket to drop"
    socket.transport.abort()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def other_org_token(live_platform: RunningPlatform) -> str:
    """The owner of organization `rival`, which has a project of the same slug."""
    done = subprocess.run(
        [sys.executable, "-m", "codeforge", "admin", "create-org", "rival", "--owner", "rival-boss",
         "--project", live_platform.project],
        env={**live_platform.env, "COLUMNS": "400"}, capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1].strip()


# -- `codeforge connect` and an LSP client on its stdio -----------------------------------------


class LspPipe:
    """A raw JSON-RPC client over a process's stdio (Content-Length framing), as an editor is."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.notifications: list[dict[str, Any]] = []
        self.server_requests: list[dict[str, Any]] = []
        self._next_id = 0
        self._held: dict[Any, dict[str, Any]] = {}
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.process.stdout
        assert out is not None
        while True:
            length = -1
            while True:
                line = out.readline()
                if not line:
                    self.messages.put(None)
                    return
                line = line.strip()
                if not line:
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            self.messages.put(json.loads(out.read(length)))

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        self.process.stdin.flush()

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"method": method, "params": params})

    def request(self, method: str, params: Any = None, timeout: float = 60) -> dict[str, Any]:
        """Send a request and wait for its response (the whole message: result or error)."""
        self._next_id += 1
        message_id = self._next_id
        self.send({"id": message_id, "method": method, "params": params})
        return self.response(message_id, timeout)

    def response(self, message_id: Any, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while message_id not in self._held:
            self._pump(deadline, f"the response to request {message_id}")
        return self._held.pop(message_id)

    def wait_notification(self, method: str, check: Callable[[Any], bool] = lambda _: True, timeout: float = 60) -> Any:
        """The params of the first notification `method` (seen or to come) that passes `check`."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for note in self.notifications[seen:]:
                if note.get("method") == method and check(note.get("params")):
                    self.notifications.remove(note)
                    return note.get("params")
            seen = len(self.notifications)
            self._pump(deadline, f"a {method} notification")

    def _pump(self, deadline: float, what: str) -> None:
        try:
            message = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"timed out waiting for {what}") from None
        if message is None:
            raise AssertionError(f"the process ended while waiting for {what} (rc {self.process.poll()})")
        if "method" in message and "id" in message:
            self.server_requests.append(message)
            # Answer what an editor would: configuration with nothing, everything else null.
            result: Any = (
                [None] * len(message["params"].get("items", []))
                if message["method"] == "workspace/configuration"
                else None
            )
            self.send({"id": message["id"], "result": result})
        elif "method" in message:
            self.notifications.append(message)
        else:
            self._held[message["id"]] = message

    def initialize(self, root: Path, options: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": root.as_uri(),
                "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
                "capabilities": {"window": {"workDoneProgress": True}, "workspace": {"configuration": True}},
                "initializationOptions": options,
            },
        )
        self.notify("initialized", {})
        return answer


@dataclass
class ConnectProcess:
    """`codeforge connect URL …` started as an editor starts it (stdin and stdout pipes)."""

    url: str
    env: dict[str, str]
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    stderr_path: Path | None = None

    def start(self) -> LspPipe:
        stderr = self.stderr_path.open("ab") if self.stderr_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "codeforge", "connect", self.url, *self.args],
            env=self.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, cwd=ROOT,
        )  # fmt: skip
        return LspPipe(self.process)

    def stop(self) -> int:
        if self.process is None:
            return 0
        if self.process.stdin:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            return self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path else ""


def member_token(platform: RunningPlatform, username: str, role: str, *, expired: bool = False) -> str:
    """A token of a new member of the platform's organization with `role` (made through the
    platform's own token service, as `codeforge admin` does: the API only issues one's own);
    `expired`: one whose expiry has passed."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from codeforge.platform.auth.models import User
    from codeforge.platform.auth.tokens import issue_token
    from codeforge.platform.db import Database
    from codeforge.platform.registry import load_models

    with platform.client() as client:
        client.call("members.add", {"username": username, "role": role})
    load_models()
    db = Database(f"sqlite:///{platform.data_dir / 'codeforge.db'}")
    try:
        with db.session() as session:
            user = session.scalars(select(User).where(User.username == username)).one()
            token, raw = issue_token(session, user, "test", 1)
            if expired:
                token.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    finally:
        db.dispose()
    return raw


def self_signed(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A certificate for `host` and its key (PEM), made with `cryptography` (asyncssh's)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


class TcpProxy:
    """A TCP relay on loopback in its own thread, to stand for the network between editor
    and bridge: `cut()` aborts every connection through it (no FIN handshake niceties),
    `block()` refuses new ones until `unblock()` (an outage, a laptop asleep)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.blocked = False
        self._loop = asyncio.new_event_loop()
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", self.port))
        self._ready.set()
        self._loop.run_forever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        def abort() -> None:
            for writer in list(self._writers):
                writer.transport.abort()

        self._loop.call_soon_threadsafe(abort)

    def block(self) -> None:
        self.blocked = True
        self.cut()

    def unblock(self) -> None:
        self.blocked = False

    def close(self) -> None:
        async def shutdown() -> None:
            for writer in list(self._writers):
                writer.transport.abort()
            self._server.close()
            await asyncio.sleep(0.01)  # the aborts' callbacks close the sockets on a later turn

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
