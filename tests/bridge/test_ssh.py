"""Channel `ssh`: the real OpenSSH client (ssh, scp, rsync -e ssh) against the bridge's SSH
server, with keys registered on a real platform.

Here the channel runs in-process: each TCP connection OpenSSH makes to a loopback port is
relayed to `ssh.serve` over a memory link, so everything from the link inward is the real
thing. The journey through `codeforge ssh-config`, `codeforge connect --ssh` and a running
bridge is in test_ssh_config.py. Waits are hang guards, never timed assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from codeforge.bridge import ssh
from codeforge.bridge.link import Link, LinkClosed, memory_pair
from codeforge.bridge.sessions import ChannelContext, Identity, Sessions
from codeforge.bridge.ssh_config import BEGIN
from codeforge.catalog import bridges, sshkeys
from codeforge.client import AsyncPlatformClient, PlatformClient
from tests.conftest import ROOT, RunningPlatform, free_port, require

GUARD_S = 30.0
OWNER = Identity("owner", "owner", "demo")

pytestmark = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="OpenSSH absent")


def _need(tool: str) -> str:
    found = shutil.which(tool)
    require("openssh", found is not None, f"{tool} not on PATH")
    assert found
    return found


def _keygen(path: Path) -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", path.name, "-f", str(path)], check=True)
    return path


@dataclass
class Keys:
    folder: Path
    registered: Path  # its .pub is one of the owner's keys on the platform
    stranger: Path  # never registered
    bob: Path  # registered by bob, another member
    bob_token: str


@pytest.fixture(scope="module")
def keys(live_platform: RunningPlatform, tmp_path_factory: pytest.TempPathFactory) -> Keys:
    _need("ssh")
    folder = tmp_path_factory.mktemp("ssh-keys")
    registered, stranger, bob = _keygen(folder / "mine"), _keygen(folder / "stranger"), _keygen(folder / "bob")
    with live_platform.client() as client:
        client.call(sshkeys.ADD, {"public_key": registered.with_suffix(".pub").read_text(), "name": "test-key"})
        client.call("members.add", {"username": "bob", "role": "developer"})
        bob_token = client.call("tokens.create", {"name": "bob", "username": "bob"}).token
    with PlatformClient(live_platform.url, bob_token) as as_bob:
        as_bob.call(sshkeys.ADD, {"public_key": bob.with_suffix(".pub").read_text()})
    return Keys(folder, registered, stranger, bob, bob_token)


@dataclass
class Bridge:
    """The channel behind a loopback TCP port, as OpenSSH sees a server."""

    workspace: Path
    state: Path
    url: str
    token: str
    sessions: Sessions = field(default_factory=lambda: Sessions(grace=60))
    shared: dict[str, Any] = field(default_factory=dict)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    port: int = 0

    def context(self, server: Link, params: dict[str, str], token: str | None = None) -> ChannelContext:
        token = token or self.token
        session = self.sessions.open(os.urandom(6).hex(), OWNER, token, AsyncPlatformClient(self.url, token))
        self.sessions.add_link(session, "ssh", server)
        return ChannelContext(session, self.workspace, "demo", session.platform, params, self.shared, self.sessions)

    def dial(self, params: dict[str, str], token: str | None = None) -> Link:
        client, server = memory_pair(params)
        ctx = self.context(server, params, token)

        async def run() -> None:
            await server.wait_attached()
            try:
                await ssh.serve(server, ctx)
            finally:
                await server.close()

        self._spawn(run())
        return client

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One OpenSSH connection ⇄ one `ssh` link: what `codeforge connect --ssh` does."""
        link = self.dial({})

        async def up() -> None:
            while data := await reader.read(65536):
                await link.send(data)
            await link.close()

        async def down() -> None:
            with contextlib.suppress(LinkClosed):
                while True:
                    message = await link.receive()
                    writer.write(message if isinstance(message, bytes) else message.encode())
                    await writer.drain()

        upward = asyncio.ensure_future(up())
        try:
            await down()
        finally:
            upward.cancel()
            writer.close()

    def ssh_options(self, key: Path, known_hosts: Path) -> list[str]:
        return [
            "-F", "/dev/null", "-p", str(self.port), "-i", str(key), "-o", "IdentitiesOnly=yes",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "StrictHostKeyChecking=yes",
            "-o", "HostKeyAlias=codeforge-demo", "-o", "BatchMode=yes", "-o", os.environ.get("SSH_LOGLEVEL", "LogLevel=ERROR"),
        ]  # fmt: skip


@pytest.fixture
async def bridge(
    live_platform: RunningPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Bridge]:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    state = tmp_path / "state"
    monkeypatch.setenv("CODEFORGE_BRIDGE_STATE_DIR", str(state))
    b = Bridge(workspace, state, live_platform.url, live_platform.token)
    server = await asyncio.start_server(lambda r, w: b._spawn(b.relay(r, w)), "127.0.0.1", 0)
    b.port = server.sockets[0].getsockname()[1]
    yield b
    server.close()
    await b.sessions.end_all("test over")
    for task in list(b.tasks):
        task.cancel()
    await asyncio.gather(*b.tasks, return_exceptions=True)


async def _info(bridge: Bridge) -> dict[str, str]:
    link = bridge.dial({"info": "1"})
    async with asyncio.timeout(GUARD_S):
        answer = json.loads(await link.receive())
    await link.close()
    return {k: str(v) for k, v in answer.items()}


@pytest.fixture
async def known_hosts(bridge: Bridge) -> Path:
    path = bridge.workspace.parent / "known_hosts"
    path.write_text(f"codeforge-demo {(await _info(bridge))['host_key']}\n")
    return path


async def _run(*argv: str, stdin: bytes = b"", cwd: Path | None = None) -> tuple[int, bytes, bytes]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd
    )
    async with asyncio.timeout(GUARD_S):
        out, err = await process.communicate(stdin)
    assert process.returncode is not None
    return process.returncode, out, err


async def _ssh(bridge: Bridge, key: Path, known: Path, *command: str, stdin: bytes = b"") -> tuple[int, bytes, bytes]:
    return await _run(_need("ssh"), *bridge.ssh_options(key, known), "dev@127.0.0.1", *command, stdin=stdin)


async def test_info_names_the_host_key_which_survives_a_restart(bridge: Bridge) -> None:
    first = await _info(bridge)
    assert first["project"] == "demo" and first["username"] == "owner"
    assert first["host_key"].startswith("ssh-ed25519 ")
    assert (bridge.state / "ssh_host_ed25519_key").stat().st_mode & 0o077 == 0  # private to the bridge
    bridge.shared.clear()  # a restarted bridge reads the same key back
    assert (await _info(bridge))["host_key"] == first["host_key"]


async def test_a_command_runs_in_the_workspace_with_its_exit_status(
    bridge: Bridge, keys: Keys, known_hosts: Path
) -> None:
    (bridge.workspace / "marker.txt").write_text("here\n")
    rc, out, err = await _ssh(
        bridge, keys.registered, known_hosts, "pwd; cat marker.txt; echo tok=${CODEFORGE_TOKEN:-none}"
    )
    assert rc == 0, err
    assert out.decode().split() == [str(bridge.workspace), "here", "tok=none"]
    rc, _, _ = await _ssh(bridge, keys.registered, known_hosts, "exit 7")
    assert rc == 7
    # Standard input reaches the command and its end is the command's EOF; stderr stays apart.
    rc, out, err = await _ssh(bridge, keys.registered, known_hosts, "wc -c; echo oops >&2", stdin=b"x" * 100000)
    assert (rc, out.strip(), err.strip()) == (0, b"100000", b"oops")


async def test_a_pty_shell_is_a_real_terminal(bridge: Bridge, keys: Keys, known_hosts: Path) -> None:
    rc, out, err = await _ssh(bridge, keys.registered, known_hosts, "-tt", "tty; echo TERM=$TERM; stty size")
    assert rc == 0, err
    text = out.decode()
    assert "/dev/pts/" in text and "TERM=" in text


async def test_a_key_that_is_not_registered_is_refused(bridge: Bridge, keys: Keys, known_hosts: Path) -> None:
    rc, out, err = await _ssh(bridge, keys.stranger, known_hosts, "touch pwned")
    assert rc == 255 and b"Permission denied (publickey)" in err
    assert not (bridge.workspace / "pwned").exists() and out == b""


async def test_a_member_without_keys_is_told_what_to_do(bridge: Bridge, live_platform: RunningPlatform) -> None:
    with live_platform.client() as client:
        answer = client.call("members.add", {"username": "keyless", "role": "developer"})
        assert answer
        token = client.call("tokens.create", {"name": "t", "username": "keyless"}).token
    link = bridge.dial({}, token=token)
    with pytest.raises(LinkClosed) as closed:
        async with asyncio.timeout(GUARD_S):
            await link.receive()
    assert closed.value.reason.startswith(ssh.REFUSED) and "codeforge ssh-config" in closed.value.reason


async def test_scp_copies_in_and_out(bridge: Bridge, keys: Keys, known_hosts: Path, tmp_path: Path) -> None:
    scp = _need("scp")
    options = [o if o != "-p" else "-P" for o in bridge.ssh_options(keys.registered, known_hosts)]
    payload = os.urandom(300_000)
    (tmp_path / "up.bin").write_bytes(payload)
    for mode in ([], ["-O"]):  # SFTP (OpenSSH 9's default) and the legacy scp protocol
        rc, out, err = await _run(scp, *mode, *options, str(tmp_path / "up.bin"), "dev@127.0.0.1:sub-up.bin")
        assert rc == 0, (mode, out, err)
        assert (bridge.workspace / "sub-up.bin").read_bytes() == payload  # relative to the workspace
        (bridge.workspace / "sub-up.bin").unlink()
    (bridge.workspace / "down.txt").write_text("from the workspace")
    rc, _, err = await _run(scp, *options, "dev@127.0.0.1:down.txt", str(tmp_path / "down.txt"))
    assert rc == 0, err
    assert (tmp_path / "down.txt").read_text() == "from the workspace"


async def test_rsync_over_ssh_copies_a_tree(bridge: Bridge, keys: Keys, known_hosts: Path, tmp_path: Path) -> None:
    rsync = _need("rsync")
    tree = tmp_path / "tree"
    (tree / "a" / "b").mkdir(parents=True)
    (tree / "a" / "b" / "deep.txt").write_text("deep")
    (tree / "blob.bin").write_bytes(os.urandom(200_000))
    (tree / "run.sh").write_text("#!/bin/sh\n")
    (tree / "run.sh").chmod(0o755)
    (tree / "link").symlink_to("a/b/deep.txt")
    shell = " ".join([_need("ssh"), *bridge.ssh_options(keys.registered, known_hosts)])
    rc, _, err = await _run(rsync, "-a", "-e", shell, f"{tree}/", "dev@127.0.0.1:copy/")
    assert rc == 0, err
    copy = bridge.workspace / "copy"
    assert (copy / "a" / "b" / "deep.txt").read_text() == "deep"
    assert (copy / "blob.bin").read_bytes() == (tree / "blob.bin").read_bytes()
    assert (copy / "run.sh").stat().st_mode & 0o777 == 0o755
    assert os.readlink(copy / "link") == "a/b/deep.txt"
    # And back: a second run sends nothing new, a change comes back.
    (copy / "a" / "b" / "deep.txt").write_text("changed remotely")
    rc, _, err = await _run(rsync, "-a", "-e", shell, "dev@127.0.0.1:copy/", f"{tmp_path / 'back'}/")
    assert rc == 0, err
    assert (tmp_path / "back" / "a" / "b" / "deep.txt").read_text() == "changed remotely"


async def test_direct_tcpip_reaches_a_server_in_the_workspace(bridge: Bridge, keys: Keys, known_hosts: Path) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"echo:" + await reader.read(100))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:  # -W: stdin/stdout to a TCP port through the server (a direct-tcpip channel, as -L)
        _, out, err = await _ssh(bridge, keys.registered, known_hosts, "-W", f"127.0.0.1:{port}", stdin=b"hello")
    finally:
        server.close()
    assert out == b"echo:hello", err


@pytest.fixture
def revoked_token(live_platform: RunningPlatform) -> Iterator[str]:
    with live_platform.client() as client:
        made = client.call("tokens.create", {"name": "soon-revoked"})
        client.call("tokens.revoke", {"id": made.id})
    yield made.token


async def test_keys_cannot_be_read_with_a_revoked_token(bridge: Bridge, revoked_token: str) -> None:
    # The bridge refuses a revoked token at the handshake (the running-bridge test shows it);
    # should one be revoked after, the SSH server cannot list its keys and refuses too.
    link = bridge.dial({}, token=revoked_token)
    with pytest.raises(LinkClosed) as closed:
        async with asyncio.timeout(GUARD_S):
            await link.receive()
    assert closed.value.reason.startswith(ssh.REFUSED + "cannot read your SSH keys")
    assert revoked_token not in closed.value.reason


# The shell traps SIGINT and says so: the exit status and the word prove the signal came.
_TRAP = "trap 'echo interrupted; exit 3' INT; echo ready; sleep 600 & wait"


async def test_ctrl_c_in_a_pty_interrupts_the_foreground_command(bridge: Bridge, keys: Keys, known_hosts: Path) -> None:
    argv = [*bridge.ssh_options(keys.registered, known_hosts), "-tt", "dev@127.0.0.1", _TRAP]
    process = await asyncio.create_subprocess_exec(
        _need("ssh"), *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdin and process.stdout
    seen = b""
    async with asyncio.timeout(GUARD_S):
        while b"ready" not in seen:
            chunk = await process.stdout.read(1024)
            assert chunk, f"ssh ended early: {seen!r}"
            seen += chunk
        process.stdin.write(b"\x03")  # what a person's Ctrl-C sends; the pty makes it SIGINT
        await process.stdin.drain()
        rest = await process.stdout.read()
        returncode = await process.wait()
    assert (returncode, b"interrupted" in rest) == (3, True), rest


# -- the whole journey: a running `codeforge bridge`, `codeforge ssh-config`, OpenSSH -------------


@dataclass
class Journey:
    """A `codeforge bridge` process on a workspace, and an ssh config ssh-config wrote."""

    platform: RunningPlatform
    workspace: Path
    url: str
    config: Path
    env: dict[str, str]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "codeforge", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def _bridge_listed(platform: RunningPlatform) -> bool:
    with platform.client() as client:
        answer = client.call("bridges.list", {"project": platform.project})
    assert isinstance(answer, bridges.BridgeList)
    return any(b.url for b in answer.bridges)


@pytest.fixture(scope="module")
def journey(live_platform: RunningPlatform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    _need("ssh")
    base = tmp_path_factory.mktemp("journey")
    workspace = base / "workspace"
    workspace.mkdir()
    env = {**live_platform.env, "CODEFORGE_BRIDGE_STATE_DIR": str(base / "bridge-state"), "HOME": str(base / "home")}
    process = subprocess.Popen(
        [sys.executable, "-m", "codeforge", "bridge", str(workspace), "--port", "0", "--project", "demo"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=(base / "bridge.log").open("wb"), text=True,
    )  # fmt: skip
    try:
        assert process.stdout
        line = process.stdout.readline()  # "codeforge bridge: serving … at ws://…"
        found = re.search(r" at (wss?://\S+)", line)
        assert found, f"the bridge said {line!r}; log: {(base / 'bridge.log').read_text()[-2000:]}"
        config = base / "ssh_config"
        config.write_text("Host mine\n  User me\n")  # the user's own entry
        yield Journey(live_platform, workspace, found[1], config, env)
    finally:
        process.terminate()
        process.wait(20)


def _ssh_f(journey: Journey, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [_need("ssh"), "-F", str(journey.config), "-o", "BatchMode=yes", *args],
        env=env or journey.env, capture_output=True, timeout=GUARD_S, cwd=ROOT,
    )  # fmt: skip


def _ssh_config(journey: Journey, *args: str) -> str:
    done = _cli(journey.env, "ssh-config", "--file", str(journey.config), *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_ssh_config_then_ssh_scp_rsync_through_the_bridge(journey: Journey, tmp_path: Path) -> None:
    assert "codeforge-demo" in _ssh_config(journey, "--url", journey.url)
    written = journey.config.read_text()
    assert written.startswith("Host mine\n  User me\n") and f"connect {journey.url} --ssh" in written
    # While an SSH session is open the bridge reports itself with its URL: found without
    # --url, and the second run changes nothing (the same key, the same block).
    held = subprocess.Popen(
        [_need("ssh"), "-F", str(journey.config), "-o", "BatchMode=yes", "codeforge-demo", "echo up; exec cat"],
        env=journey.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert held.stdout and held.stdout.readline() == b"up\n"
        deadline = time.monotonic() + GUARD_S  # a hang guard on the bridge's report, not a timing
        while not _bridge_listed(journey.platform):
            assert time.monotonic() < deadline, "the bridge never appeared in bridges.list"
            time.sleep(0.05)
        _ssh_config(journey)
    finally:
        held.communicate(b"", timeout=GUARD_S)  # EOF: cat ends, the session ends
    assert held.returncode == 0
    assert journey.config.read_text() == written

    hi = _ssh_f(journey, "codeforge-demo", "echo hi; pwd")
    assert hi.returncode == 0, hi.stderr
    assert hi.stdout.decode().split() == ["hi", str(journey.workspace)]

    (tmp_path / "in.txt").write_text("sent by scp")
    scp = [_need("scp"), "-F", str(journey.config), "-o", "BatchMode=yes"]
    sent = subprocess.run(
        [*scp, str(tmp_path / "in.txt"), "codeforge-demo:in.txt"], env=journey.env, capture_output=True, timeout=GUARD_S
    )
    assert sent.returncode == 0, sent.stderr
    assert (journey.workspace / "in.txt").read_text() == "sent by scp"
    back = subprocess.run(
        [*scp, "codeforge-demo:in.txt", str(tmp_path / "back.txt")],
        env=journey.env,
        capture_output=True,
        timeout=GUARD_S,
    )
    assert back.returncode == 0 and (tmp_path / "back.txt").read_text() == "sent by scp"

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a.txt").write_text("a")
    (tree / "b.bin").write_bytes(os.urandom(50_000))
    rsync = subprocess.run(
        [_need("rsync"), "-a", "-e", f"ssh -F {journey.config} -o BatchMode=yes", f"{tree}/", "codeforge-demo:tree/"],
        env=journey.env, capture_output=True, timeout=GUARD_S,
    )  # fmt: skip
    assert rsync.returncode == 0, rsync.stderr
    assert (journey.workspace / "tree" / "sub" / "a.txt").read_text() == "a"
    assert (journey.workspace / "tree" / "b.bin").read_bytes() == (tree / "b.bin").read_bytes()


def test_a_revoked_token_is_refused_before_ssh_starts(journey: Journey) -> None:
    if "codeforge-demo" not in journey.config.read_text():
        _ssh_config(journey, "--url", journey.url)
    with journey.platform.client() as client:
        made = client.call("tokens.create", {"name": "ssh-soon-revoked"})
        token = made.token
        assert _ssh_f(journey, "codeforge-demo", "true", env={**journey.env, "CODEFORGE_TOKEN": token}).returncode == 0
        client.call("tokens.revoke", {"id": made.id})
    refused = _ssh_f(journey, "codeforge-demo", "touch revoked-was-here", env={**journey.env, "CODEFORGE_TOKEN": token})
    assert refused.returncode == 255
    assert b"401" in refused.stderr and token.encode() not in refused.stderr
    assert not (journey.workspace / "revoked-was-here").exists()


def test_a_key_not_registered_is_refused_through_the_bridge(journey: Journey, keys: Keys, tmp_path: Path) -> None:
    if "codeforge-demo" not in journey.config.read_text():
        _ssh_config(journey, "--url", journey.url)
    text = journey.config.read_text()
    ours = re.search(r'IdentityFile "([^"]+)"', text)
    assert ours
    stranger = tmp_path / "config"
    stranger.write_text(text.replace(ours[1], str(keys.stranger)))
    refused = subprocess.run(
        [_need("ssh"), "-F", str(stranger), "-o", "BatchMode=yes", "codeforge-demo", "touch stranger-was-here"],
        env=journey.env, capture_output=True, timeout=GUARD_S,
    )  # fmt: skip
    assert refused.returncode == 255 and b"Permission denied (publickey)" in refused.stderr
    assert not (journey.workspace / "stranger-was-here").exists()


def test_sshkeys_from_the_command_line(live_platform: RunningPlatform, keys: Keys) -> None:
    env = live_platform.env
    added = _cli(env, "sshkeys", "add", str(keys.stranger.with_suffix(".pub")), "--name", "cli-key")
    assert added.returncode == 0, added.stderr
    assert "cli-key" in _cli(env, "sshkeys", "list").stdout
    # A private key given by mistake: refused, said so, and never echoed back.
    wrong = _cli(env, "sshkeys", "add", str(keys.stranger))
    assert wrong.returncode != 0 and "private key" in wrong.stderr and ".pub" in wrong.stderr
    assert keys.stranger.read_text().splitlines()[1] not in wrong.stderr + wrong.stdout
    removed = _cli(env, "sshkeys", "remove", "cli-key", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert "cli-key" not in _cli(env, "sshkeys", "list").stdout


class FlakyProxy:
    """A TCP relay in front of the bridge whose connections can all be cut at once: a network
    drop or a laptop's sleep, as the client sees it."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = self.listener.accept()
                upstream = socket.create_connection(("127.0.0.1", self.target))
                self.sockets += [client, upstream]
                self.accepted += 1
                for a, b in ((client, upstream), (upstream, client)):
                    threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.sockets.clear()

    def close(self) -> None:
        self.listener.close()
        self.cut()


def test_an_ssh_session_survives_a_dropped_connection(journey: Journey, tmp_path: Path) -> None:
    port = int(journey.url.rsplit(":", 1)[1])
    proxy = FlakyProxy(port)
    config = tmp_path / "config"
    done = _cli(journey.env, "ssh-config", "--file", str(config), "--url", f"ws://127.0.0.1:{proxy.port}")
    assert done.returncode == 0, done.stderr
    held = subprocess.Popen(
        [_need("ssh"), "-F", str(config), "-o", "BatchMode=yes", "codeforge-demo", "echo up; exec cat"],
        env=journey.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert held.stdin and held.stdout
    try:
        assert held.stdout.readline() == b"up\n"
        held.stdin.write(b"before\n")
        held.stdin.flush()
        assert held.stdout.readline() == b"before\n"
        dialled = proxy.accepted
        proxy.cut()  # every websocket drops; `connect` redials and the link resumes
        held.stdin.write(b"after\n")
        held.stdin.flush()
        assert held.stdout.readline() == b"after\n"
        assert proxy.accepted > dialled  # it did come back through a new connection
        _, err = held.communicate(b"", timeout=GUARD_S)
        assert held.returncode == 0, err
    finally:
        held.kill()
        proxy.close()


async def test_a_pty_follows_the_clients_window_size(bridge: Bridge, keys: Keys) -> None:
    # Host keys are checked with OpenSSH in the tests above; this one is about the pty.
    async with asyncssh.connect(
        "127.0.0.1", bridge.port, username="dev", client_keys=[str(keys.registered)], known_hosts=None
    ) as conn:
        process = await conn.create_process("stty size; read line; stty size", term_type="xterm", term_size=(80, 24))
        async with asyncio.timeout(GUARD_S):
            assert (await process.stdout.readline()).strip() == "24 80"
            process.change_terminal_size(132, 50)  # arrives before the line below: applied first
            process.stdin.write("\n")
            words = (await process.stdout.read()).split()  # the pty's echo of the line, then stty
    assert words == ["50", "132"]


async def test_commands_get_the_projects_variables(
    bridge: Bridge, keys: Keys, known_hosts: Path, live_platform: RunningPlatform
) -> None:
    with live_platform.client() as client:
        client.call("env.set", {"project": "demo", "name": "SSH_PLAIN", "value": "plain-value"})
        client.call("env.set", {"project": "demo", "name": "SSH_SECRET", "value": "s3cret", "secret": True})
    rc, out, err = await _ssh(bridge, keys.registered, known_hosts, "echo $SSH_PLAIN $SSH_SECRET $CODEFORGE_PROJECT")
    assert rc == 0, err
    assert out.split() == [b"plain-value", b"s3cret", b"demo"]


async def test_an_unusable_host_key_is_a_clear_refusal(bridge: Bridge, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = bridge.state.parent / "broken-state"
    broken.mkdir()
    (broken / "ssh_host_ed25519_key").write_text("not a key")
    monkeypatch.setenv("CODEFORGE_BRIDGE_STATE_DIR", str(broken))
    link = bridge.dial({})
    with pytest.raises(LinkClosed) as closed:
        async with asyncio.timeout(GUARD_S):
            await link.receive()
    assert closed.value.reason.startswith(ssh.REFUSED + "the bridge cannot read or keep its SSH host key")


async def test_a_tunnel_accepts_only_the_keys_of_its_tokens_member(
    bridge: Bridge, keys: Keys, known_hosts: Path
) -> None:
    bridge.token = keys.bob_token  # the tunnels OpenSSH opens from now on are bob's
    rc, _, err = await _ssh(bridge, keys.registered, known_hosts, "touch owner-key-on-bobs-tunnel")
    assert rc == 255 and b"Permission denied (publickey)" in err
    assert not (bridge.workspace / "owner-key-on-bobs-tunnel").exists()
    rc, out, err = await _ssh(bridge, keys.bob, known_hosts, "echo bob-is-in")
    assert (rc, out.strip()) == (0, b"bob-is-in"), err


def test_ssh_config_says_what_is_wrong(live_platform: RunningPlatform, tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host mine\n  User me\n")
    nobody = {**live_platform.env, "CODEFORGE_CONFIG_DIR": str(tmp_path / "empty")}
    no_login = _cli(nobody, "ssh-config", "--file", str(config))
    assert no_login.returncode == 1 and "no platform login" in no_login.stderr and "codeforge up" in no_login.stderr
    bad = _cli(live_platform.env, "ssh-config", "--file", str(config), "--url", "ftp://example.com")
    assert bad.returncode == 1 and "ftp://example.com" in bad.stderr and "ws://HOST:PORT" in bad.stderr
    closed = _cli(live_platform.env, "ssh-config", "--file", str(config), "--url", f"ws://127.0.0.1:{free_port()}")
    assert closed.returncode == 1 and "unreachable" in closed.stderr
    assert config.read_text() == "Host mine\n  User me\n"  # nothing written when no bridge answered


def test_ssh_config_writes_through_a_symlink_and_refuses_a_broken_block(journey: Journey, tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "ssh_config"
    real.parent.mkdir()
    real.write_text("Host mine\n  User me\n")
    link = tmp_path / "config"
    link.symlink_to(real)
    done = _cli(journey.env, "ssh-config", "--file", str(link), "--url", journey.url)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and "Host codeforge-demo" in real.read_text()
    broken = "Host mine\n" + BEGIN + "\nHost codeforge-demo\n"  # someone cut the end marker off
    real.write_text(broken)
    refused = _cli(journey.env, "ssh-config", "--file", str(link), "--url", journey.url)
    assert refused.returncode == 1 and "no end marker" in refused.stderr and "remove" in refused.stderr
    assert real.read_text() == broken
