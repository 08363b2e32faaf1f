"""The SSH server of one tunnel: asyncssh, in the bridge's process, over an in-memory socket.

Only public-key authentication, only with the keys of the member whose platform token opened
the tunnel (the platform lists them for that token); never a password. What an authenticated
client gets is what sshd gives a user: shells and commands in the workspace, SFTP (and so
scp), and `direct-tcpip` forwards (JetBrains Gateway and VS Code Remote-SSH reach the IDE
backend they start through them). A shell can reach anything the bridge's user can, so
forwards and SFTP are not confined further: confining them would protect nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

import asyncssh

__all__ = ["HOST_KEY_FILE", "host_key", "start_server", "state_dir"]

log = logging.getLogger(__name__)
# asyncssh says a dozen INFO lines per connection and channel; the bridge's own log says who
# logged in. Its detail stays one setting away (a level set on "asyncssh" is kept).
if logging.getLogger("asyncssh").level == logging.NOTSET:
    logging.getLogger("asyncssh").setLevel(logging.WARNING)

HOST_KEY_FILE = "ssh_host_ed25519_key"
# The SSH handshake and authentication must be over within this long (sshd's LoginGraceTime).
LOGIN_TIMEOUT_S = 120.0


def state_dir(workspace: Path) -> Path:
    """Where a bridge keeps what must survive its restarts (the SSH host key), outside the
    workspace (which sync would copy to every editor): $XDG_STATE_HOME/codeforge/bridge/<id>,
    one folder per served folder, or $CODEFORGE_BRIDGE_STATE_DIR when set."""
    if explicit := os.environ.get("CODEFORGE_BRIDGE_STATE_DIR"):
        return Path(explicit)
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    digest = hashlib.sha256(str(workspace).encode()).hexdigest()[:16]
    return base / "codeforge" / "bridge" / f"{workspace.name or 'root'}-{digest}"


def host_key(folder: Path) -> asyncssh.SSHKey:
    """The bridge's ed25519 host key, made on first use and kept (0600) so that clients'
    known_hosts entries stay valid across restarts."""
    path = folder / HOST_KEY_FILE
    if path.is_file():
        return asyncssh.read_private_key(path)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="codeforge bridge")
    tmp = path.with_name(f".{HOST_KEY_FILE}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.export_private_key("openssh"))
    try:
        os.link(tmp, path)  # never replaces a key another bridge process made meanwhile
    except FileExistsError:
        return asyncssh.read_private_key(path)
    finally:
        tmp.unlink()
    log.info("made the SSH host key %s", path)
    return key


class _WorkspaceSFTP(asyncssh.SFTPServer):
    """SFTP whose relative paths (and `~`, the home the client sees) start in the workspace."""

    def __init__(self, chan: asyncssh.SSHServerChannel[bytes], workspace: Path) -> None:
        super().__init__(chan)
        self._workspace = os.fsencode(workspace)

    def map_path(self, path: bytes) -> bytes:
        if not path.startswith(b"/"):
            path = os.path.join(self._workspace, path)
        return super().map_path(path)

    def exit(self) -> None:
        """The session is over: say so with status 0, as sshd's sftp-server does. asyncssh
        closes the channel without one, and OpenSSH's scp and sftp then fail (status -1)."""
        super().exit()
        with contextlib.suppress(OSError):
            self.channel.exit(0)


class _Server(asyncssh.SSHServer):
    def __init__(self, keys: frozenset[str], who: str) -> None:
        self._keys = keys
        self._who = who

    def begin_auth(self, username: str) -> bool:
        return True  # always authenticate; the login name is free, the keys are the member's

    def password_auth_supported(self) -> bool:
        return False

    def kbdint_auth_supported(self) -> bool:
        return False

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        line = key.export_public_key("openssh").decode().split()
        accepted = " ".join(line[:2]) in self._keys
        if not accepted:
            log.info("SSH key %s is not one of %s's keys", key.get_fingerprint(), self._who)
        return accepted

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int) -> bool:
        return True  # direct-tcpip: asyncssh opens the connection from the workspace

    def unix_connection_requested(self, dest_path: str) -> bool:
        return True  # direct-streamlocal (VS Code Remote-SSH's socket mode)


SessionHandler = Callable[[asyncssh.SSHServerProcess[bytes]], Awaitable[None]]


async def start_server(
    sock: socket.socket,
    *,
    host_key: asyncssh.SSHKey,
    authorized: Iterable[str],
    who: str,
    workspace: Path,
    session: SessionHandler,
) -> asyncssh.SSHServerConnection:
    """An SSH server on `sock` (one end of a socketpair); returns once the client has
    authenticated (asyncssh raises when it could not)."""
    keys = frozenset(authorized)
    return await asyncssh.run_server(
        sock,
        server_factory=lambda: _Server(keys, who),
        server_host_keys=[host_key],
        process_factory=session,
        sftp_factory=lambda chan: _WorkspaceSFTP(chan, workspace),
        allow_scp=True,  # legacy `scp -O`: asyncssh serves it through the SFTP server above
        encoding=None,  # bytes: rsync's and scp's protocols are binary
        line_editor=False,  # the shell's own line editing, through a real pty
        agent_forwarding=False,  # a workspace never gets the user's agent
        x11_forwarding=False,
        login_timeout=LOGIN_TIMEOUT_S,
        keepalive_interval=0,  # the link carries its own liveness; a laptop asleep must not drop
    )
