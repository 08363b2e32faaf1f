"""Calls from the editor: the `codeforge.call.*` commands of the language server the bridge
runs and `codeforge/call/state`, with real aiortc peers standing in for the editors' media
(a VS Code webview's peer connection in production: the editor sends its offer through
`codeforge.call.join` and connects to the bridge's media server with the answer).

Real bridge, platform and `codeforge connect` relays (tests/collab/lsp_helpers.py); the
peers run on an asyncio loop in a thread of the test (`Peers`), and what they receive is
checked with numpy: the other participant's tone is there, and gone when they are muted.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack

from codeforge.collab.rtc import rtc_configuration
from tests.bridge.conftest import BridgeProcess, LspPipe, member_token
from tests.collab.lsp_helpers import Editor
from tests.conftest import ROOT, RunningPlatform

INVALID_PARAMS = -32602
REQUEST_FAILED = -32803
STATE = "codeforge/call/state"
RATE = 48000
FRAME = 960  # 20 ms


# -- peers -----------------------------------------------------------------------------------


class ToneTrack(MediaStreamTrack):
    """A microphone playing a sine tone (silence when `frequency` is None), paced in real time."""

    kind = "audio"

    def __init__(self, frequency: float | None) -> None:
        super().__init__()
        self.frequency = frequency
        self._samples = 0
        self._start: float | None = None

    async def recv(self) -> Any:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._samples / RATE
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (self._samples + np.arange(FRAME)) / RATE
        if self.frequency is None:
            wave = np.zeros(FRAME, dtype=np.int16)
        else:
            wave = (np.sin(2 * np.pi * self.frequency * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(wave.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, RATE)
        self._samples += FRAME
        return frame


@dataclass
class Peer:
    """One participant's peer connection, with the contract's layout: audio sendrecv (or
    recvonly), optionally a share (video sendonly) and a watch (video recvonly)."""

    pc: Any
    heard: list[tuple[float, np.ndarray]] = field(default_factory=list)  # (arrival, mono samples)
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)  # the recorders
    video_frames: int = 0  # frames of the share it watches, decoded

    def audio(self, since: float) -> np.ndarray:
        parts = [samples for at, samples in self.heard if at >= since]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)


class Peers:
    """aiortc peers on an event loop in a thread of the test."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="peers", daemon=True)
        self.thread.start()
        self.peers: list[Peer] = []

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def offer(
        self, *, tone: float | None = None, send: bool = True, share: bool = False, watch: bool = False
    ) -> tuple[Peer, str]:
        found: tuple[Peer, str] = self.run(self._offer(tone, send, share, watch))
        return found

    async def _offer(self, tone: float | None, send: bool, share: bool, watch: bool) -> tuple[Peer, str]:
        pc = RTCPeerConnection(rtc_configuration())  # max-bundle, as every call client
        peer = Peer(pc)
        if send:
            pc.addTransceiver(ToneTrack(tone), direction="sendrecv")
        else:
            pc.addTransceiver("audio", direction="recvonly")
        if share:
            pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        if watch:
            pc.addTransceiver("video", direction="recvonly")

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind == "audio":
                peer.tasks.append(asyncio.ensure_future(self._record(peer, track)))
            else:
                peer.tasks.append(asyncio.ensure_future(self._count(peer, track)))

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState == "connected":
                peer.connected.set()

        await pc.setLocalDescription(await pc.createOffer())  # gathers every candidate first
        self.peers.append(peer)
        return peer, pc.localDescription.sdp

    async def _record(self, peer: Peer, track: Any) -> None:
        while True:
            try:
                frame = await track.recv()
            except Exception:  # the track ended (the call ended, or the peer closed)
                return
            data = frame.to_ndarray().astype(np.float64).reshape(-1)
            channels = len(frame.layout.channels)
            if channels > 1:
                data = data.reshape(-1, channels).mean(axis=1)
            peer.heard.append((time.monotonic(), data))

    async def _count(self, peer: Peer, track: Any) -> None:
        while True:
            try:
                await track.recv()
            except Exception:
                return
            peer.video_frames += 1

    def answer(self, peer: Peer, sdp: str) -> None:
        self.run(peer.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer")))
        self.run(asyncio.wait_for(peer.connected.wait(), 30), timeout=35)

    def close(self) -> None:
        for peer in self.peers:
            with contextlib.suppress(Exception):
                self.run(peer.pc.close(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def tone_strength(samples: np.ndarray, frequency: float) -> tuple[float, float]:
    """(RMS of the samples, share of their spectrum's energy within 20 Hz of `frequency`)."""
    if samples.size < RATE // 10:
        return 0.0, 0.0
    rms = float(np.sqrt(np.mean(samples**2)))
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size))) ** 2
    freqs = np.fft.rfftfreq(samples.size, 1 / RATE)
    band = spectrum[(freqs > frequency - 20) & (freqs < frequency + 20)].sum()
    return rms, float(band / max(spectrum.sum(), 1e-9))


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def hears(peer: Peer, frequency: float, seconds: float = 1.0) -> Callable[[], bool]:
    """A check: the last `seconds` the peer received carry the tone, loud."""

    def check() -> bool:
        rms, share = tone_strength(peer.audio(time.monotonic() - seconds), frequency)
        return rms > 500 and share > 0.5

    return check


def silent(peer: Peer, seconds: float = 0.6) -> Callable[[], bool]:
    def check() -> bool:
        recent = peer.audio(time.monotonic() - seconds)
        return recent.size > RATE * seconds * 0.5 and float(np.sqrt(np.mean(recent**2))) < 100

    return check


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def peers() -> Iterator[Peers]:
    running = Peers()
    yield running
    running.close()


@pytest.fixture(scope="module")
def dave_token(live_platform: RunningPlatform) -> str:
    return member_token(live_platform, "dave-call", "developer")


@pytest.fixture(scope="module")
def gus_token(live_platform: RunningPlatform) -> str:
    return member_token(live_platform, "gus-call", "developer")


@pytest.fixture(scope="module")
def owner(live_platform: RunningPlatform) -> str:
    with live_platform.client() as client:
        return str(client.call("auth.whoami", {}).username)


@pytest.fixture
def editors() -> Iterator[list[Editor]]:
    started: list[Editor] = []
    yield started
    for editor in started:
        editor.command("codeforge.collab.end", {}, raw=True)
        editor.stop()


def _editor(
    started: list[Editor], bridge: BridgeProcess, platform: RunningPlatform, tmp: Path, user: str, token: str | None
) -> Editor:
    editor = Editor.start(
        bridge.url, platform.env, bridge.folder, token=token, name=user, log=tmp / f"connect-{user}-{len(started)}.log"
    )
    started.append(editor)
    return editor


def _error(answer: dict[str, Any]) -> dict[str, Any]:
    assert "error" in answer, answer
    assert "Traceback" not in answer["error"]["message"], answer
    return dict(answer["error"])


def _who(call: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    return {p["username"]: p for p in (call or {}).get("participants", [])}


# -- tests -----------------------------------------------------------------------------------


def test_outside_a_session_every_call_command_says_how_to_get_one(
    live_bridge: BridgeProcess, live_platform: RunningPlatform, editors: list[Editor], tmp_path: Path
) -> None:
    alice = _editor(editors, live_bridge, live_platform, tmp_path, "alice", None)
    for command, argument in (
        ("codeforge.call.join", {"sdp": "v=0\r\n"}),
        ("codeforge.call.leave", {}),
        ("codeforge.call.mute", {}),
        ("codeforge.call.share", {"kind": "screen"}),
        ("codeforge.call.watch", {"username": "bob"}),
        ("codeforge.call.end", {}),
        ("codeforge.call.participants", {}),
        ("codeforge.call.link", {}),
    ):
        error = _error(alice.command(command, argument, raw=True))
        assert error["code"] == REQUEST_FAILED and "no collaboration session" in error["message"], (command, error)
        assert "codeforge.collab.start" in error["data"]["fix"], command
    # Bad arguments are named before anything else is looked at.
    for command, argument, name in (
        ("codeforge.call.join", {}, "sdp"),
        ("codeforge.call.join", {"sdp": ""}, "sdp"),
        ("codeforge.call.share", {"kind": "window"}, "kind"),
        ("codeforge.call.mute", {"muted": "maybe"}, "muted"),
        ("codeforge.call.mute", {"username": ""}, "username"),
        ("codeforge.call.watch", {"who": "bob"}, "who"),
    ):
        error = _error(alice.command(command, argument, raw=True))
        assert error["code"] == INVALID_PARAMS and error["data"]["errors"][0]["field"] == name, (command, error)
    error = _error(alice.command("codeforge.call.mute", "loud", raw=True))
    assert error["code"] == INVALID_PARAMS and "one argument, an object" in error["message"]


def test_outside_a_bridge_every_call_command_says_to_connect_first(
    live_platform: RunningPlatform, tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "codeforge", "lsp"],
        env=live_platform.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip
    client = LspPipe(process)
    try:
        client.initialize(tmp_path)
        for command, argument in (
            ("codeforge.call.join", {"sdp": "v=0"}),
            ("codeforge.call.mute", {}),
            ("codeforge.call.link", {}),
            ("codeforge.call.participants", {}),
        ):
            answer = client.request("workspace/executeCommand", {"command": command, "arguments": [argument]})
            error = _error(answer)
            assert "connect to a workspace first (codeforge connect URL)" in error["message"], (command, error)
        client.request("shutdown")
        client.notify("exit")
        assert process.wait(20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.timeout(240)
def test_editors_join_hear_the_mix_mute_and_see_the_state(
    live_bridge: BridgeProcess,
    live_platform: RunningPlatform,
    owner: str,
    dave_token: str,
    gus_token: str,
    editors: list[Editor],
    peers: Peers,
    tmp_path: Path,
) -> None:
    alice = _editor(editors, live_bridge, live_platform, tmp_path, "alice", None)
    session = alice.command("codeforge.collab.start", {"title": "call 📞"})["id"]
    # Entering the session says there is no call yet.
    assert alice.notification(STATE) == {"call": None}
    dave = _editor(editors, live_bridge, live_platform, tmp_path, "dave", dave_token)
    dave.command("codeforge.collab.join", {"invitation": alice.command("codeforge.collab.invite", {})["token"]})
    gus = _editor(editors, live_bridge, live_platform, tmp_path, "gus", gus_token)
    gus.command(
        "codeforge.collab.join", {"invitation": alice.command("codeforge.collab.invite", {"role": "guest"})["token"]}
    )
    assert gus.notification(STATE) == {"call": None}

    # A malformed offer is refused, naming the field; nobody joined.
    error = _error(alice.command("codeforge.call.join", {"sdp": "this is not SDP"}, raw=True))
    assert error["code"] == INVALID_PARAMS and error["data"]["errors"][0]["field"] == "sdp", error

    # alice (the host) speaks a 440 Hz tone; dave listens (his microphone silent).
    a, offer = peers.offer(tone=440.0)
    joined = alice.command("codeforge.call.join", {"sdp": offer})
    assert joined["sdp"].startswith("v=0") and isinstance(joined["iceServers"], list)
    assert joined["call"]["session"] == session and _who(joined["call"])[owner]["host"] is True
    peers.answer(a, joined["sdp"])
    d, offer = peers.offer(tone=None)
    joined = dave.command("codeforge.call.join", {"sdp": offer})
    peers.answer(d, joined["sdp"])
    assert set(_who(joined["call"])) == {owner, "dave-call"}
    wait_for(hears(d, 440.0), "dave to hear alice's tone in his mix")
    # alice's own mix leaves her out: she hears dave's silence, not herself.
    wait_for(silent(a), "alice's mix to be without her own voice")

    # gus (a guest, not in the call) sees who is in it and that alice talks.
    # (One notification: talking does not change again while the tone plays.)
    gus.notification(
        STATE, lambda p: set(_who(p["call"])) == {owner, "dave-call"} and _who(p["call"])[owner]["talking"] is True
    )
    # ... and as presence: alice's cursor in a shared file carries `talking` to whoever is there.
    shared = live_bridge.folder / "call_presence.txt"
    shared.write_text("talking\n")
    seen_by_gus, at_alice = gus.open(shared), alice.open(shared)
    alice.notify(
        "codeforge/collab/cursor",
        {"uri": at_alice, "selections": [{"anchor": {"line": 0, "character": 1}, "head": {"line": 0, "character": 1}}]},
    )
    gus.notification(
        "codeforge/collab/presence",
        lambda p: p["uri"] == seen_by_gus and any(x["username"] == owner and x["talking"] for x in p["participants"]),
    )

    # The host mutes dave by username (his media, whichever client carries it).
    muted = alice.command("codeforge.call.mute", {"username": "dave-call"})
    assert (
        _who(muted["call"])["dave-call"]["muted"] is True and _who(muted["call"])["dave-call"]["muted_by_host"] is True
    )
    gus.notification(STATE, lambda p: _who(p["call"]).get("dave-call", {}).get("muted") is True)
    # dave may not mute the host, nor unmute someone else; a name not in the call is named.
    error = _error(dave.command("codeforge.call.mute", {"username": owner}, raw=True))
    assert error["code"] == REQUEST_FAILED and error["data"]["type"] == "permission-denied", error
    error = _error(alice.command("codeforge.call.mute", {"username": "ünï😀"}, raw=True))
    assert error["code"] == REQUEST_FAILED and "ünï😀 is not in the call" in error["message"], error
    # alice mutes herself: dave's mix goes silent; unmuted, the tone is back.
    alice.command("codeforge.call.mute", {"muted": True})
    wait_for(silent(d), "dave's mix to go silent when alice is muted")
    alice.command("codeforge.call.mute", {"muted": False})
    wait_for(hears(d, 440.0), "alice's tone back after she unmuted")

    # The participants, and what `codeforge call` needs.
    listed = gus.command("codeforge.call.participants", {})
    assert set(_who(listed["call"])) == {owner, "dave-call"}
    assert isinstance(listed["iceServers"], list)
    assert alice.command("codeforge.call.link", {}) == {"bridge": live_bridge.url, "session": session}

    # Sharing without a share m-line, and watching someone who does not share, are refused.
    error = _error(dave.command("codeforge.call.share", {"kind": "screen"}, raw=True))
    assert error["code"] in (INVALID_PARAMS, REQUEST_FAILED) and "share" in error["message"].lower(), error
    error = _error(dave.command("codeforge.call.watch", {"username": "dave-call"}, raw=True))
    assert error["code"] == INVALID_PARAMS and "your own" in error["message"], error

    # The guest joins to listen and watch: sharing is refused (guests listen and watch), and
    # the guest's microphone is never mixed.
    g, offer = peers.offer(tone=660.0, share=True, watch=True)
    joined = gus.command("codeforge.call.join", {"sdp": offer})
    peers.answer(g, joined["sdp"])
    assert _who(joined["call"])["gus-call"]["role"] == "guest"
    error = _error(gus.command("codeforge.call.share", {"kind": "screen"}, raw=True))
    assert error["code"] == REQUEST_FAILED and error["data"]["type"] == "permission-denied", error
    wait_for(hears(g, 440.0), "the guest to hear alice")
    _rms, share_660 = tone_strength(d.audio(time.monotonic() - 1.0), 660.0)
    assert share_660 < 0.05, f"the guest's microphone reached dave's mix ({share_660:.2f} of it at 660 Hz)"

    # The catalog's operation from the editor: the session is the editor's, and it applies at
    # once on this bridge (not only at the bridge's next report to the platform).
    alice.command("codeforge.collab.call_mute", {"username": "gus-call"})
    gus.notification(STATE, lambda p: _who(p["call"]).get("gus-call", {}).get("muted_by_host") is True)

    # dave joins again with a share m-line (his newer client replaces the older one, and his
    # editor is told), shares his "screen", and the guest watches it.
    d2, offer = peers.offer(tone=None, share=True)
    peers.answer(d2, dave.command("codeforge.call.join", {"sdp": offer})["sdp"])
    dave.wait(lambda: any("another client" in m for m in dave.messages_shown()), "dave told of his newer client")
    shared = dave.command("codeforge.call.share", {"kind": "screen"})
    assert _who(shared["call"])["dave-call"]["sharing"] == "screen"
    watching = gus.command("codeforge.call.watch", {"username": "dave-call"})
    assert _who(watching["call"])["gus-call"]["watching"] == "dave-call"
    wait_for(lambda: g.video_frames >= 5, "the guest to receive dave's shared screen")
    stopped = dave.command("codeforge.call.share", {"kind": None})
    assert _who(stopped["call"])["dave-call"]["sharing"] is None

    # dave leaves: everyone sees it; he cannot leave twice.
    left = dave.command("codeforge.call.leave", {})
    assert "dave-call" not in _who(left["call"])
    gus.notification(STATE, lambda p: "dave-call" not in _who(p["call"]) and owner in _who(p["call"]))
    error = _error(dave.command("codeforge.call.leave", {}, raw=True))
    assert "not in the call" in error["message"], error

    # Only the host (or an admin) ends the call; then everyone hears it ended.
    error = _error(gus.command("codeforge.call.end", {}, raw=True))
    assert error["code"] == REQUEST_FAILED, error

    # An editor that goes (its language-server session ends) takes its peer connection out of
    # the call, though the connection itself is still up.
    editors.remove(gus)
    gus.stop()
    alice.notification(STATE, lambda p: set(_who(p["call"])) == {owner})
    ended = alice.command("codeforge.call.end", {})
    assert ended["call"]["state"] == "ended"
    dave.notification(STATE, lambda p: p["call"] is None or p["call"]["state"] == "ended")
    error = _error(alice.command("codeforge.call.mute", {}, raw=True))
    assert "no call going on" in error["message"], error
