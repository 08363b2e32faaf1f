"""Call test helpers: real aiortc peers in-process against a real `CallServer`, and the
fixtures of tests that go through a bridge (tests/call/harness.py: `call_bridge`, `members`,
`state_home`).

call_server        a CallServer (drop_after 2 s: drop tests stay quick, and the RTCP of a
                   listener without a microphone comes every 0.5-1.5 s), closed after
clients            the Clients a test made (closed after it)
join(server, …)    a client peer connection (the client offers, like CallClient and browsers)
                   with a PlayTrack microphone (looping a tone) and a Recorder on its mix
                   (`low_latency=True`: played out through `playout`, the mixer's jitter buffer)
tone(freq)         a 0.1 s tone loop (whole cycles: loops without a click)
power(x, freq)     FFT power of a recording at a frequency, relative to the strongest bin
wait_for(cond)     await a condition of the event loop's state (polled every 20 ms)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from codeforge.collab.rtc import CallServer, Event, Joined, Member, playout, rtc_configuration
from tests.call.audio import RATE, PlayTrack, Recorder
from tests.call.harness import call_bridge, members, state_home  # noqa: F401  (fixtures, found by name)

__all__ = ["Client", "join", "member", "power", "tone", "wait_for"]

COLORS = ("#e6194b", "#3cb44b", "#4363d8", "#f58231")


def member(username: str, role: str = "driver", *, host: bool = False) -> Member:
    return Member(username=username, name=username.title(), color=COLORS[len(username) % 4], role=role, host=host)  # type: ignore[arg-type]


def tone(freq: float, level: float = 0.25) -> np.ndarray:
    t = np.arange(RATE // 10) / RATE
    return (np.sin(2 * np.pi * freq * t) * level * 32767).astype(np.int16)


def power(samples: np.ndarray, freq: float) -> float:
    """Power at `freq` (±10 Hz) in dB relative to a full-scale sine: -inf for digital silence."""
    x = samples.astype(np.float64) / 32768
    if not len(x):
        return float("-inf")
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / RATE)
    band = spectrum[(freqs > freq - 10) & (freqs < freq + 10)].sum()
    reference = (np.hanning(len(x)).sum() / 2) ** 2  # a full-scale sine's peak bin
    return float(10 * np.log10(band / reference)) if band > 0 else float("-inf")


async def wait_for(condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        await asyncio.sleep(0.02)


@dataclass
class Client:
    username: str
    pc: RTCPeerConnection
    joined: Joined
    mic: PlayTrack | None
    recorder: Recorder | None
    events: list[Event] = field(default_factory=list)

    def last(self, kind: str) -> Event | None:
        return next((e for e in reversed(self.events) if e["type"] == kind), None)

    def me(self) -> dict[str, Any] | None:
        state = self.last("state")
        if state is None:
            return None
        return next((p for p in state["call"]["participants"] if p["username"] == self.username), None)

    def recording(self, seconds: float) -> np.ndarray:
        """The last `seconds` of what this client heard (mono int16)."""
        assert self.recorder is not None
        return self.recorder.samples()[-int(seconds * RATE) :]

    async def connected(self) -> None:
        await wait_for(lambda: self.pc.connectionState == "connected", what=f"{self.username} connected")

    async def close(self) -> None:
        if self.recorder is not None:
            await self.recorder.stop()
        if self.mic is not None:
            self.mic.stop()
        await self.pc.close()


async def join(
    server: CallServer,
    who: Member | str,
    *,
    session: str = "s1",
    freq: float | None = None,
    send_audio: bool = True,
    share: MediaStreamTrack | None = None,
    watch: bool = False,
    connect: bool = True,
    low_latency: bool = False,
) -> Client:
    """A client joins: offer (audio, then share, then watch), the server's answer, connected."""
    m = member(who) if isinstance(who, str) else who
    pc = RTCPeerConnection(rtc_configuration())
    mic: PlayTrack | None = None
    if send_audio:
        mic = PlayTrack()
        if freq is not None:
            mic.loop(tone(freq))
        pc.addTransceiver(mic, direction="sendrecv")
    else:
        pc.addTransceiver("audio", direction="recvonly")
    if share is not None:
        pc.addTransceiver(share, direction="sendonly")
    if watch:
        pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    events: list[Event] = []
    try:
        joined = await server.join(session, m, pc.localDescription.sdp, events.append)
    except BaseException:
        await pc.close()
        raise
    await pc.setRemoteDescription(RTCSessionDescription(sdp=joined.answer_sdp, type="answer"))
    receiver = pc.getTransceivers()[0].receiver
    recorder = Recorder(playout(receiver) if low_latency else receiver.track).start()
    client = Client(m.username, pc, joined, mic, recorder, events)
    if connect:
        await client.connected()
    return client


@pytest.fixture
async def call_server() -> AsyncIterator[CallServer]:
    server = CallServer(drop_after=2.0)
    try:
        yield server
    finally:
        with contextlib.suppress(Exception):
            await server.close()


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    """Clients a test made (appended by it); closed after it, whatever happened."""
    made: list[Client] = []
    yield made
    for client in made:
        with contextlib.suppress(Exception):
            await client.close()
