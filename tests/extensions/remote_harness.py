"""A real `codeforge bridge` for the editors' remote journeys."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import ROOT, RunningPlatform, free_port, require

__all__ = ["RunningBridge", "running_bridge", "wait_listening"]


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def wait_listening(port: int, process: subprocess.Popen[bytes], what: str = "the server") -> None:
    """Until `process` listens on 127.0.0.1:`port`; fails if it exits or takes over 60 s."""
    deadline = time.monotonic() + 60
    while not _listening(port):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on port {port} within 60 s")
        time.sleep(0.05)


@dataclass
class RunningBridge:
    """A `codeforge bridge` process on loopback; `pid` changes when it is started again."""

    url: str
    process: subprocess.Popen[bytes]
    restarts: int = 0

    @property
    def pid(self) -> int:
        return self.process.pid


@contextmanager
def running_bridge(
    platform: RunningPlatform, workspace: Path, keep_log: Path, *, restart_when_killed: bool = False
) -> Iterator[RunningBridge]:
    """`codeforge bridge WORKSPACE` on loopback, signed in as the platform's owner (its stored
    login). With `restart_when_killed`, a bridge that dies is started again on the same port,
    as a supervisor (systemd, a container's restart policy) would: an editor attached to it
    must reconnect by itself. Its log is copied to `keep_log` at the end."""
    require(
        "bridge",
        importlib.util.find_spec("codeforge.bridge.server") is not None
        and importlib.util.find_spec("codeforge.bridge.connect") is not None,
        "codeforge.bridge.server / connect are not built yet",
    )
    port = free_port()
    log_path = workspace.parent / "bridge.log"
    command = [sys.executable, "-m", "codeforge", "bridge", str(workspace), "--host", "127.0.0.1", "--port", str(port)]

    def start() -> subprocess.Popen[bytes]:
        with log_path.open("ab") as log:
            process = subprocess.Popen(command, env=platform.env, stdout=log, stderr=log, cwd=ROOT)
        try:
            wait_listening(port, process, "codeforge bridge")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{log_path.read_text()[-4000:]}") from None
        return process

    bridge = RunningBridge(url=f"ws://127.0.0.1:{port}", process=start())
    done = threading.Event()

    def supervise() -> None:
        while not done.wait(0.1):
            if bridge.process.poll() is not None and not done.is_set():
                bridge.process = start()
                bridge.restarts += 1

    supervisor = threading.Thread(target=supervise, daemon=True)
    if restart_when_killed:
        supervisor.start()
    try:
        yield bridge
    finally:
        done.set()
        if supervisor.is_alive():
            supervisor.join(30)
        bridge.process.terminate()
        try:
            bridge.process.wait(15)
        except subprocess.TimeoutExpired:
            bridge.process.kill()
            bridge.process.wait()
        keep_log.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(log_path, keep_log)
