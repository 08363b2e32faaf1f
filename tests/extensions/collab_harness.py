"""Headless Neovims for the collaboration journey, driven over RPC.

Each runs `tests/extensions/collab_nvim.lua` with the CodeForge plugin on 'runtimepath' and
listens on a Unix socket; `rpc` calls one of its functions with `nvim --server SOCK
--remote-expr` (the editor's own RPC client, so no msgpack library is needed).
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.extensions.conftest import EXTENSIONS

__all__ = ["AGENT", "RunningNvim", "rpc", "running_nvim"]

AGENT = Path(__file__).with_name("collab_nvim.lua")


@dataclass
class RunningNvim:
    name: str
    socket: Path
    process: subprocess.Popen[bytes]
    log: Path


def rpc(nvim: Path, socket: Path, fn: str, *args: Any, timeout: float = 30) -> Any:
    """`CollabE2E[fn](*args)` in the Neovim at `socket`; its value, or RuntimeError with its error."""
    request = json.dumps({"fn": fn, "args": list(args)}, ensure_ascii=False).replace("'", "''")
    done = subprocess.run(
        [str(nvim), "--server", str(socket), "--remote-expr", f"v:lua.CollabE2E.call('{request}')"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"rpc {fn} to {socket} failed ({done.returncode}): {done.stderr.strip()}")
    answer = json.loads(done.stdout)
    if not answer.get("ok"):
        raise RuntimeError(f"{fn} failed in Neovim: {answer.get('error')}")
    return answer.get("value")


@contextmanager
def running_nvim(nvim: Path, name: str, folder: Path, env: dict[str, str], home: Path) -> Iterator[RunningNvim]:
    """A headless Neovim named `name` on `folder` (its cwd), listening at `home`/`name`.sock;
    its stdout and stderr go to `home`/`name`.log. Quit (then killed if need be) at the end."""
    home.mkdir(parents=True, exist_ok=True)
    socket = home / f"{name}.sock"
    log_path = home / f"{name}.log"
    env = {
        **env,
        "LOCAL_DIR": str(folder),
        "XDG_STATE_HOME": str(home / name / "state"),
        "XDG_DATA_HOME": str(home / name / "data"),
        "XDG_CONFIG_HOME": str(home / name / "config"),
    }
    command = [
        str(nvim),
        "--headless",
        "--listen",
        str(socket),
        "-u",
        "NONE",
        "-i",
        "NONE",
        "-n",
        "--cmd",
        f"set rtp^={EXTENSIONS / 'nvim'}",
        "-c",
        f"luafile {AGENT}",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"Neovim {name} exited:\n{log_path.read_text(errors='replace')[-3000:]}")
            if socket.exists():
                try:
                    rpc(nvim, socket, "status", timeout=5)
                    break
                except RuntimeError:
                    pass  # listening, but the agent is not loaded yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"Neovim {name} did not listen within 30 s:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.05)
        yield RunningNvim(name=name, socket=socket, process=process, log=log_path)
    finally:
        if process.poll() is None:
            subprocess.run(
                [str(nvim), "--server", str(socket), "--remote-expr", "execute('qa!')"],
                capture_output=True,
                timeout=10,
                check=False,
            )
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
