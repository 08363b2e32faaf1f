"""VS Code in a call, end to end: a real `codeforge bridge` (with the live platform) serves a
workspace; VS Code (code-server + Playwright's Chromium with the fake media devices
`--use-fake-device-for-media-stream --use-fake-ui-for-media-stream`, the extension installed
with `make vscode`'s script) starts a collaboration session through `codeforge connect`; two
aiortc peers (`CallClient`, members of the organization invited into the session) join its call
through the bridge's `/call/<session>` endpoint; VS Code joins from the call panel (the webview's
own WebRTC, signalling through the language server).

Checked: the peers hear VS Code (Chromium's fake microphone beeps at 400 Hz: the band's energy
in what each peer recorded, against the rest of the spectrum); VS Code receives the peers'
audio (the webview's getStats: bytes and audio energy of the inbound track) and marks who
talks; VS Code's screen share (getDisplayMedia + replaceTrack + codeforge.call.share) reaches a
peer that watches it; VS Code watches a peer's share (codeforge.call.watch: the webview decodes\nits frames); mute and leave reach the peers; VS Code rejoins and, as the host, ends
the call for everyone; a browser that forbids the microphone
shows the message naming it and the fix. No token reaches the extension's logs. The journey is
extensions/vscode/e2e/call.mjs; screenshots (the call panel's among them) go to
test-artifacts/call/.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

if TYPE_CHECKING:
    from codeforge.collab.rtc.client import AudioCapture

from tests.bridge.conftest import member_token
from tests.conftest import RunningPlatform, require
from tests.extensions.conftest import ARTIFACTS, codeforge_bin
from tests.extensions.remote_harness import running_bridge
from tests.extensions.vscode_harness import (
    BASE_SETTINGS,
    VSCODE,
    CodeServer,
    editor_env,
    extension_logs,
    journey_env,
    keep_artifacts,
    passed_steps,
)

pytestmark = pytest.mark.slow

PEERS = ("bo-call", "cy-call")
BEEP_HZ = 400.0  # Chromium's fake microphone: a short 400 Hz beep every 500 ms
TONE_HZ = 1000.0  # what the first peer says (steady): VS Code hears it
STEPS = [
    "open",
    "start-session",
    "join-call",
    "hears-the-peers",
    "share-screen",
    "watch-a-share",
    "call-panel",
    "mute",
    "leave",
    "rejoin-and-end",
    "microphone-forbidden",
]


def band_ratio(samples: np.ndarray, freq: float, rate: int = 48000) -> float:
    """Mean power within ±25 Hz of `freq` over the median power of 100 Hz to 4 kHz (averaged
    Hann-windowed spectra of 0.25 s): how far a tone stands out of everything else."""
    size = rate // 4
    if len(samples) < size:
        return 0.0
    count = len(samples) // size
    frames = samples[: count * size].astype(np.float64).reshape(count, size) * np.hanning(size)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)
    bins = np.fft.rfftfreq(size, 1 / rate)
    band = power[(bins > freq - 25) & (bins < freq + 25)].mean()
    floor = float(np.median(power[(bins > 100) & (bins < 4000)]))
    return float(band / max(floor, 1e-9))


async def _expect(node: asyncio.subprocess.Process, report: list[str], event: str, timeout: float) -> None:
    """The journey's next `@@ EVENT` line (every line goes to `report`)."""
    assert node.stdout is not None
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"the journey did not reach {event} in {timeout:.0f} s")
        raw = await asyncio.wait_for(node.stdout.readline(), left)
        if not raw:
            raise AssertionError(f"the journey ended before {event}")
        line = raw.decode(errors="replace").rstrip("\n")
        report.append(line)
        if line.startswith(f"@@ {event}"):
            return


async def _tell(node: asyncio.subprocess.Process, word: str) -> None:
    assert node.stdin is not None
    node.stdin.write(f"{word}\n".encode())
    await node.stdin.drain()


def _session_of(platform: RunningPlatform, title: str) -> str:
    with platform.client() as client:
        listed = client.call("collab.list", {"project": platform.project, "state": "active"})
    found = [s.id for s in listed.items if s.title == title]
    assert found, f"no active session titled {title!r}: {[s.title for s in listed.items]}"
    return str(found[0])


def _invite(platform: RunningPlatform, session: str, tokens: dict[str, str]) -> None:
    from codeforge.client import PlatformClient

    for token in tokens.values():
        with platform.client() as host:
            invitation = host.call("collab.invite", {"session": session, "role": "navigator"}).token
        with PlatformClient(platform.url, token) as client:
            client.call("collab.join", {"invitation": invitation})


def _screen() -> Any:
    """A generated screen share: 640x360 frames at 30 fps with a bar that moves (so frames
    differ, as a screen's do)."""
    from aiortc import VideoStreamTrack
    from av import VideoFrame

    class Screen(VideoStreamTrack):
        count = 0

        async def recv(self) -> VideoFrame:
            pts, time_base = await self.next_timestamp()
            image = np.full((360, 640, 3), (30, 60, 120), dtype=np.uint8)
            x = (self.count * 8) % 600
            image[:, x : x + 40] = (240, 200, 40)
            self.count += 1
            frame = VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = pts, time_base
            return frame

    return Screen()


async def _recorded(capture: AudioCapture, since: float, seconds: float) -> None:
    """Until `capture` holds `seconds` of audio that arrived after `since` (a recording's length:
    the frames come at the pace of real time)."""
    deadline = time.monotonic() + seconds + 30
    while len(capture.since(since)) < seconds * capture.sample_rate:
        assert time.monotonic() < deadline, f"{seconds} s of audio did not arrive within {seconds + 30:.0f} s"
        await asyncio.sleep(0.1)


async def _journey(node: asyncio.subprocess.Process, report: list[str], platform: RunningPlatform, bridge_url: str,
                   tokens: dict[str, str]) -> dict[str, float]:  # fmt: skip
    from codeforge.collab.rtc.client import CallClient, ToneTrack, call_url

    measured: dict[str, float] = {}
    await _expect(node, report, "session-started", 180)
    session = await asyncio.to_thread(_session_of, platform, "Call journey")
    await asyncio.to_thread(_invite, platform, session, tokens)
    url = call_url(bridge_url, session)
    a = CallClient(url, tokens[PEERS[0]], audio=ToneTrack(TONE_HZ, 0.3), can_share=True)
    b = CallClient(url, tokens[PEERS[1]], audio=ToneTrack(TONE_HZ, 0.0), watch=True)
    await a.connect()
    await b.connect()
    try:
        from codeforge.collab.rtc.client import AudioCapture

        heard_a, heard_b = AudioCapture(a.received_audio), AudioCapture(b.received_audio)
        await _tell(node, "peers-in")

        await _expect(node, report, "vscode-joined", 120)
        joined = time.monotonic()
        owner = await a.until(
            lambda c: next((p["username"] for p in (c.state or {}).get("participants", []) if p.get("host")), None),
            "VS Code's user (the host) in the call",
        )
        # Four seconds of the mix after VS Code joined: eight of its beeps.
        for capture in (heard_a, heard_b):
            await _recorded(capture, joined, 4.0)
        for name, capture in (("a", heard_a), ("b", heard_b)):
            recorded = capture.since(joined)
            measured[f"beep_{name}"] = band_ratio(recorded, BEEP_HZ, capture.sample_rate)
            measured[f"rms_{name}"] = float(np.sqrt(np.mean(recorded.astype(np.float64) ** 2)))
        measured["tone_b"] = band_ratio(heard_b.since(joined), TONE_HZ, heard_b.sample_rate)
        await _tell(node, "heard")

        await _expect(node, report, "sharing", 150)
        await b.until(lambda c: (c.participant(owner) or {}).get("sharing") == "screen", "VS Code's share in the state")
        await b.watch(owner)
        video = b.received_video
        assert video is not None, "the watching peer has no video track"
        frames = [await asyncio.wait_for(video.recv(), 30) for _ in range(5)]
        measured["watched_width"] = float(getattr(frames[-1], "width", 0))
        await _tell(node, "watched")

        # The first peer shares a generated screen; VS Code chooses to watch it.
        await a.share(_screen(), "screen")
        await _expect(node, report, "watching", 150)
        await a.until(lambda c: (c.participant(owner) or {}).get("watching") == PEERS[0], "VS Code watching")
        await _tell(node, "watch-seen")

        await _expect(node, report, "muted", 150)
        await a.share(None)
        await a.until(lambda c: (c.participant(owner) or {}).get("muted") is True, "VS Code muted, as the peers see it")
        await _tell(node, "mute-seen")

        await _expect(node, report, "left", 150)
        await a.until(lambda c: c.participant(owner) is None, "VS Code gone from the call")
        await _tell(node, "left-seen")

        await _expect(node, report, "ended", 150)
        for client in (a, b):
            await client.wait_closed(30)
            assert (client.event or {}).get("type") == "ended", (client.event, client.close_code)
        await _tell(node, "ended-seen")
    finally:
        for client in (a, b):
            if not client.closed:
                await client.leave()
            else:
                await client.close()
    return measured


@pytest.mark.timeout(600)
def test_call_journey(code_server: CodeServer, live_platform: RunningPlatform, tmp_path: Path) -> None:
    require("aiortc", _has("aiortc") and _has("codeforge.collab.rtc.client"), "pip install -e .[calls]")
    require("bridge call endpoint", _has("codeforge.bridge.call"), "codeforge.bridge.call is not built yet")
    artifacts = ARTIFACTS / "call"
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "codeforge.yaml").write_text("project: demo\n")
    tokens = {user: member_token(live_platform, user, "developer") for user in PEERS}
    home = code_server.home(tmp_path)
    local = tmp_path / "vscode"
    shutil.copytree(workspace, local)
    report: list[str] = []
    with running_bridge(live_platform, workspace, artifacts / "bridge.log") as bridge:
        settings = {
            **BASE_SETTINGS,
            "codeforge.server.command": str(codeforge_bin()),
            # No token in any setting: `codeforge connect` uses the login `codeforge up` stored.
            "codeforge.remote.url": bridge.url,
        }
        try:
            with code_server.running(home, local, editor_env(live_platform, codeforge_on_path=True), settings) as (
                url,
                _pid,
            ):
                env = journey_env(
                    url,
                    artifacts,
                    tmp_path,
                    LOCAL_DIR=str(local),
                    BRIDGE_HOST=bridge.url.split("://", 1)[1],
                    PEER_A=PEERS[0],
                    PEER_B=PEERS[1],
                )
                measured, code = asyncio.run(_run(env, report, live_platform, bridge.url, tokens))
                (artifacts / "journey.log").write_text("\n".join(report) + f"\nmeasured: {measured}\n")
                logs = extension_logs(home)
                assert code == 0, f"journey failed ({code}):\n" + "\n".join(report)[-6000:] + f"\n{logs}"
        except BaseException:
            (artifacts / "journey.log").write_text("\n".join(report))
            keep_artifacts(home, artifacts, live_platform.log_path)
            raise
    assert passed_steps("\n".join(report)) == STEPS, "\n".join(report)
    # The peers hear VS Code's microphone: its beep stands far out of the rest of what they
    # hear (measured here: see journey.log), and the second peer hears the first one's tone.
    assert measured["beep_a"] > 20 and measured["beep_b"] > 20, measured
    assert measured["tone_b"] > 20, measured
    assert measured["watched_width"] > 0, measured
    shots = sorted(p.name for p in artifacts.glob("*.png"))
    assert any("call-panel" in name for name in shots), shots
    # Tokens never reach the extension's logs (the output channel, the extension host).
    everything = "\n".join(p.read_text(errors="replace") for p in (home / "user-data" / "logs").rglob("*.log"))
    for secret in (live_platform.token, *tokens.values()):
        assert secret not in everything


async def _run(env: dict[str, str], report: list[str], platform: RunningPlatform, bridge_url: str,
               tokens: dict[str, str]) -> tuple[dict[str, float], int]:  # fmt: skip
    node = await asyncio.create_subprocess_exec(
        "node",
        "e2e/call.mjs",
        cwd=VSCODE,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        measured = await _journey(node, report, platform, bridge_url, tokens)
        assert node.stdout is not None
        rest = await asyncio.wait_for(node.stdout.read(), 180)
        report.extend(rest.decode(errors="replace").splitlines())
        return measured, await asyncio.wait_for(node.wait(), 30)
    except BaseException:
        if node.returncode is None:
            node.kill()
        assert node.stdout is not None
        rest = await node.stdout.read()
        report.extend(rest.decode(errors="replace").splitlines())
        raise


def _has(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False
