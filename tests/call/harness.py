"""A real platform, a real bridge and a collaboration session for call tests, and a call
participant as a subprocess (so it can be SIGKILLed or run in a network namespace).

    call_bridge              module-scoped `codeforge bridge` on the live platform
    cast(platform, members)  a new session: host (the platform's owner), navigator, guest, outsider
    members                  module-scoped member tokens (navigator, guest, outsider)
    call_url(bridge, cast)   ws://…/call/<session>
    Peer                     `python -m tests.call.harness peer …`: a CallClient in its own process
                             that says a WAV (paced), records what it hears and writes the
                             recording (frames by pts with arrival times) when told to stop

The peer's token goes through its environment (CODEFORGE_CALL_TOKEN), never its arguments:
`ps` shows arguments to everyone on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.bridge.conftest import BridgeProcess, make_workspace, member_token, start_bridge
from tests.call.audio import Recording
from tests.conftest import ROOT, RunningPlatform

__all__ = ["Cast", "Peer", "call_bridge", "call_url", "members", "new_cast", "run_checked", "state_home"]


@dataclass
class Cast:
    session: str
    host: str  # tokens
    navigator: str
    guest: str
    outsider: str


@pytest.fixture(scope="module")
def state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bridges' state folder (their collaboration store), out of the user's home."""
    folder = tmp_path_factory.mktemp("state")
    previous = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("XDG_STATE_HOME", None)
    else:
        os.environ["XDG_STATE_HOME"] = previous


@pytest.fixture(scope="module")
def members(live_platform: RunningPlatform) -> dict[str, str]:
    return {
        "navigator": member_token(live_platform, "nav-nora", "developer"),
        "guest": member_token(live_platform, "guest-gus", "viewer"),
        "outsider": member_token(live_platform, "out-otto", "developer"),
    }


@pytest.fixture(scope="module")
def call_bridge(
    tmp_path_factory: pytest.TempPathFactory, live_platform: RunningPlatform, state_home: Path
) -> Iterator[BridgeProcess]:
    folder = make_workspace(tmp_path_factory.mktemp("call") / "workspace", live_platform.project)
    # every interface: a client in a network namespace reaches it over a veth pair
    bridge = start_bridge(folder, live_platform, args=["--host", "0.0.0.0", "--log-level", "DEBUG"])
    yield bridge
    bridge.stop()


def new_cast(platform: RunningPlatform, members: dict[str, str]) -> Cast:
    from codeforge.client import PlatformClient

    with platform.client() as host:
        session = host.call("collab.start", {"project": platform.project, "title": "call"}).id
        navigator = host.call("collab.invite", {"session": session, "role": "navigator"}).token
        guest = host.call("collab.invite", {"session": session, "role": "guest"}).token
    for who, invitation in (("navigator", navigator), ("guest", guest)):
        with PlatformClient(platform.url, members[who]) as client:
            client.call("collab.join", {"invitation": invitation})
    return Cast(session, platform.token, members["navigator"], members["guest"], members["outsider"])


def call_url(bridge: BridgeProcess, session: str, host: str = "127.0.0.1") -> str:
    port = bridge.url.rsplit(":", 1)[1].split("/")[0]
    return f"ws://{host}:{port}/call/{session}"


# -- a participant in its own process ---------------------------------------------------------------


@dataclass
class Peer:
    """A CallClient subprocess; `prefix` runs it inside something (`ip netns exec NS`)."""

    process: asyncio.subprocess.Process
    recording: Path

    @classmethod
    async def start(cls, url: str, token: str, folder: Path, *, say: Path | None = None, repeat: float = 0.0,
                    prefix: tuple[str, ...] = (), ice: dict[str, Any] | None = None) -> Peer:  # fmt: skip
        """Join; with `say`, speak the WAV every `repeat` seconds (once when 0) from the join on."""
        recording = folder / f"peer-{os.urandom(4).hex()}.npz"
        command = [*prefix, sys.executable, "-m", "tests.call.harness", "peer", url, str(recording)]
        if say is not None:
            command += ["--say", str(say), "--repeat", str(repeat)]
        if ice is not None:
            command += ["--ice", json.dumps(ice)]
        env = {**os.environ, "CODEFORGE_CALL_TOKEN": token, "PYTHONUNBUFFERED": "1"}
        process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, env=env, cwd=ROOT
        )
        peer = cls(process, recording)
        line = await peer.line(60)
        if not line.get("connected"):
            raise AssertionError(f"the peer did not join: {line}")
        return peer

    async def line(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not raw:
            code = await self.process.wait()
            return {"exit": code}
        return dict(json.loads(raw))

    async def stop(self) -> dict[str, Any]:
        """Leave, write the recording; what it printed last (its send times)."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"stop\n")
        await self.process.stdin.drain()
        result = await self.line(60)
        await asyncio.wait_for(self.process.wait(), 30)
        return result

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    def heard(self) -> Recording:
        """What it heard (after `stop`)."""
        data = np.load(self.recording)
        parts = np.split(data["samples"], data["bounds"]) if len(data["pts"]) else []
        return Recording([(int(p), float(a), s) for p, a, s in zip(data["pts"], data["arrived"], parts, strict=True)])


def run_checked(*command: str) -> str:
    """A command the test needs (ip, nft): its output, or an AssertionError with its stderr."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


async def _peer_main(args: argparse.Namespace) -> None:
    from codeforge.collab.rtc.client import CallClient
    from codeforge.collab.rtc.ice import IceSettings, TurnServer
    from tests.call.audio import PlayTrack, Recorder, read_wav

    ice = None
    if args.ice:
        spec = json.loads(args.ice)
        ice = IceSettings(stun=tuple(spec.get("stun", ())), turn=tuple(TurnServer(**t) for t in spec.get("turn", ())))
    mouth = PlayTrack()
    client = CallClient(args.url, os.environ["CODEFORGE_CALL_TOKEN"], audio=mouth, ice=ice)
    await client.connect()
    recorder = Recorder(client.received_audio).start()
    print(json.dumps({"connected": True, "you": client.you}), flush=True)
    speaker = None
    if args.say:
        samples, _ = read_wav(Path(args.say))

        async def speak() -> None:
            while True:
                mouth.say(samples)
                if not args.repeat:
                    return
                await asyncio.sleep(args.repeat)

        speaker = asyncio.create_task(speak())
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if speaker is not None:
        speaker.cancel()
    await recorder.stop()
    await client.leave()
    frames = recorder.frames
    np.savez(
        args.recording,
        pts=np.array([f[0] for f in frames], dtype=np.int64),
        arrived=np.array([f[1] for f in frames]),
        samples=np.concatenate([f[2] for f in frames]) if frames else np.zeros(0, dtype=np.int16),
        bounds=np.cumsum([len(f[2]) for f in frames])[:-1].astype(np.int64),
    )
    said = {str(s): mouth.send_time(s) for s in mouth.said}
    print(json.dumps({"said": said}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.call.harness")
    parser.add_argument("role", choices=["peer"])
    parser.add_argument("url")
    parser.add_argument("recording")
    parser.add_argument("--say")
    parser.add_argument("--repeat", type=float, default=0.0)
    parser.add_argument("--ice")
    asyncio.run(_peer_main(parser.parse_args()))


if __name__ == "__main__":
    main()
