"""A real `codeforge bridge` for the editors' remote journeys."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import ROOT, RunningPlatform, free_port, require

__all__ = ["running_bridge", "wait_listening"]


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


@contextmanager
def running_bridge(platform: RunningPlatform, workspace: Path, keep_log: Path) -> Iterator[str]:
    """`codeforge bridge WORKSPACE` on loopback, signed in as the platform's owner (its stored
    login); yields the URL editors give `codeforge connect`. Its log is copied to `keep_log`
    at the end (beside the editors' artifacts)."""
    require(
        "bridge",
        importlib.util.find_spec("codeforge.bridge.server") is not None
        and importlib.util.find_spec("codeforge.bridge.connect") is not None,
        "codeforge.bridge.server / connect are not built yet",
    )
    port = free_port()
    log_path = workspace.parent / "bridge.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "codeforge", "bridge", str(workspace), "--host", "127.0.0.1", "--port", str(port)],
            env=platform.env,
            stdout=log,
            stderr=log,
            cwd=ROOT,
        )
    try:
        deadline = time.monotonic() + 60
        while not _listening(port):
            if process.poll() is not None:
                raise RuntimeError(f"codeforge bridge exited:\n{log_path.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"codeforge bridge did not listen within 60 s:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.05)
        yield f"ws://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        keep_log.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(log_path, keep_log)
