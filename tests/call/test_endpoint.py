"""The bridge's /call/<session> endpoint with a real bridge process, the real platform, real
tokens and real aiortc clients (`CallClient`): participants hear each other through the
server's mix; refusals are HTTP statuses before the upgrade; malformed messages and offers
the server cannot answer close 4400 saying what was wrong; a closed or silent websocket takes
its participant out; the host mutes by message and through the platform; the session's end
ends the call; no token reaches the bridge's log. (Speech, latency and loss: helper tests.)"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

import codeforge.catalog.calls  # noqa: F401  (declares collab.call_*, called by name)
from codeforge.collab.rtc.client import AudioCapture, CallClient, CallRefused, ToneTrack, call_url
from tests.bridge import conftest as bridge_fixtures
from tests.bridge.conftest import BridgeProcess
from tests.call.harness import Cast, new_cast
from tests.conftest import RunningPlatform

pytestmark = pytest.mark.slow

HOST_TONE, NAVIGATOR_TONE = 440.0, 1000.0

rival_token = bridge_fixtures.other_org_token  # the fixture, under this module's name (an owner of another org)


def new_session(platform: RunningPlatform, members: dict[str, str]) -> Cast:
    return new_cast(platform, members)


def tone_level(samples: np.ndarray, frequency: float, rate: int = 48000) -> float:
    """RMS (in int16 units) of the band within 30 Hz of `frequency`."""
    if len(samples) < rate // 10:
        return 0.0
    spectrum = np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples)))
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    band = np.abs(spectrum[(freqs > frequency - 30) & (freqs < frequency + 30)])
    return float(np.sqrt(np.sum(band**2)) * 2 / np.sum(np.hanning(len(samples))))


async def hears(capture: AudioCapture, frequency: float, what: str, *, present: bool = True) -> None:
    """Wait until the last second of `capture` carries `frequency` (the tone is sent at
    amplitude ~9800; Opus keeps most of it) or, `present=False`, half a second of audio that
    arrived after the wait began (and the mixer's queue drained) does not."""
    since = time.monotonic() + 0.3
    deadline = since + 30
    level = 0.0
    while time.monotonic() < deadline:
        if present:
            level = tone_level(capture.samples()[-48000:], frequency)
            if level > 300:
                return
        else:
            recent = capture.since(since)[-48000:]
            level = tone_level(recent, frequency)
            if len(recent) >= 24000 and level < 30:
                return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: {frequency} Hz at level {level:.0f}")


async def joined(url: str, token: str, **options: Any) -> CallClient:
    client = CallClient(url, token, **options)
    await client.connect()
    return client


async def refused(url: str, **options: Any) -> tuple[int, str]:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(url, **options):
            pass
    response = caught.value.response
    return response.status_code, response.body.decode()


def bearer(token: str) -> dict[str, Any]:
    return {"additional_headers": {"Authorization": f"Bearer {token}"}}


async def test_participants_hear_each_other_and_the_host_mutes(
    call_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str]
) -> None:
    cast = new_session(live_platform, members)
    url = call_url(call_bridge.url, cast.session)
    host = await joined(url, cast.host, audio=ToneTrack(HOST_TONE))
    navigator = await joined(url, cast.navigator, audio=ToneTrack(NAVIGATOR_TONE))
    guest = await joined(url, cast.guest)  # listens: no microphone
    clients = [host, navigator, guest]
    captures = [AudioCapture(c.received_audio) for c in clients]
    try:
        state = await guest.until(lambda c: len((c.state or {}).get("participants", [])) == 3 and c.state, "3 in")
        roles = {p["username"]: (p["role"], p["host"]) for p in state["participants"]}
        assert roles["nav-nora"] == ("navigator", False) and roles["guest-gus"] == ("guest", False)
        assert roles[host.you] == ("driver", True)
        # Each hears the others, not themselves.
        await hears(captures[1], HOST_TONE, "the navigator hears the host")
        await hears(captures[0], NAVIGATOR_TONE, "the host hears the navigator")
        await hears(captures[2], HOST_TONE, "the guest hears the host")
        await hears(captures[2], NAVIGATOR_TONE, "the guest hears the navigator")
        await hears(captures[0], HOST_TONE, "the host does not hear itself", present=False)
        # Who talks is presence.
        await guest.until(lambda c: (c.participant("nav-nora") or {}).get("talking"), "the navigator talking")
        # A guest may not share; a refused control leaves the connection open.
        await guest.send({"type": "share", "kind": "screen"})
        await guest.until(lambda c: c.errors, "the guest's share refused")
        assert "guest" in guest.errors[-1] or "share" in guest.errors[-1]
        # Only the host mutes others.
        await navigator.mute(True, username=host.you)
        await navigator.until(lambda c: c.errors, "the navigator's mute of the host refused")
        assert "only the host" in navigator.errors[-1]
        # The host mutes the navigator by message: the mix goes quiet of it.
        await host.mute(True, username="nav-nora")
        await host.until(lambda c: (c.participant("nav-nora") or {}).get("muted_by_host"), "muted by the host")
        await hears(captures[0], NAVIGATOR_TONE, "the muted navigator is silent", present=False)
        await hears(captures[2], HOST_TONE, "the guest still hears the host")
        # Unmuting is the navigator's own.
        await navigator.mute(False)
        await host.until(lambda c: not (c.participant("nav-nora") or {}).get("muted"), "unmuted by herself")
        await hears(captures[0], NAVIGATOR_TONE, "the navigator heard again")
        # Through the platform (collab.call_mute): applied at the bridge's next report.
        with live_platform.client() as client:
            client.call("collab.call_mute", {"session": cast.session, "username": "nav-nora", "muted": True})
        await navigator.until(lambda c: (c.participant("nav-nora") or {}).get("muted"), "the platform's mute")
        await hears(captures[0], NAVIGATOR_TONE, "silent after the platform's mute", present=False)
        with live_platform.client() as client:
            shown = client.call("collab.call_show", {"session": cast.session})
        assert [p.username for p in shown.participants] == [host.you, "nav-nora", "guest-gus"]
        # The session's end ends the call: everyone is told and closed 4410.
        with live_platform.client() as client:
            client.call("collab.end", {"session": cast.session})
        for client in clients:
            code, _reason = await client.wait_closed()
            assert code == 4410 and client.event is not None and client.event["type"] == "ended"
    finally:
        for capture in captures:
            await capture.stop()
        for client in clients:
            await client.close()
    log = call_bridge.log_path.read_text(errors="replace")
    assert "GET /call/" in log  # websockets' debug lines are there, scrubbed
    for token in (cast.host, cast.navigator, cast.guest):
        assert token not in log


async def test_refusals_come_before_the_upgrade(
    call_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str], rival_token: str
) -> None:
    cast = new_session(live_platform, members)
    url = call_url(call_bridge.url, cast.session)
    status, body = await refused(url)
    assert status == 401 and "no token" in body
    status, body = await refused(f"{url}?token=cf_nonsense")
    assert status == 401 and "token refused" in body
    status, body = await refused(url, **bearer(cast.outsider))
    assert status == 403 and "participant" in body
    status, body = await refused(url, **bearer(rival_token))
    assert status == 403
    status, body = await refused(f"{call_bridge.url}/call/not-a-session", **bearer(cast.host))
    assert status == 404 and "/call/<collaboration session id>" in body
    # A guest cannot start a call: 409, saying who can.
    status, body = await refused(url, **bearer(cast.guest))
    assert status == 409 and "start the call" in body
    # The CallClient says the same.
    with pytest.raises(CallRefused) as caught:
        await joined(url, cast.guest)
    assert caught.value.status == 409
    # Once the host is in, the guest joins (the token in the query string, as browsers send it).
    host = await joined(url, cast.host, audio=ToneTrack())
    guest = await joined(f"{url}?token={cast.guest}", "")
    try:
        await host.until(lambda c: c.participant("guest-gus"), "the guest in the call")
    finally:
        await guest.leave()
        await host.leave()
    # Ended: 410 before the upgrade.
    with live_platform.client() as client:
        client.call("collab.end", {"session": cast.session})
    status, body = await refused(url, **bearer(cast.host))
    assert status == 410 and "ended" in body
    log = call_bridge.log_path.read_text(errors="replace")
    for token in (cast.guest, cast.outsider):
        assert token not in log


async def raw(url: str, token: str) -> tuple[ClientConnection, dict[str, Any]]:
    """A websocket with no peer connection behind it; its welcome."""
    ws = await connect(url, **bearer(token))
    return ws, json.loads(await ws.recv())


async def closed_with(ws: ClientConnection) -> tuple[int | None, str]:
    """The close code, and its reason with the `error` messages before it (the whole text)."""
    errors = []
    with pytest.raises(ConnectionClosed):
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
            if message.get("type") == "error":
                errors.append(message["message"])
    return ws.close_code, " ".join([ws.close_reason or "", *errors])


async def offer(audio_codec: str | None = None, video_codec: str | None = None) -> str:
    """An aiortc offer whose audio (and video) offers only the given codec."""
    pc = RTCPeerConnection()
    try:
        audio = pc.addTransceiver("audio", direction="sendrecv")
        if audio_codec:
            codecs = RTCRtpSender.getCapabilities("audio").codecs
            audio.setCodecPreferences([c for c in codecs if c.mimeType == f"audio/{audio_codec}"])
        if video_codec:
            video = pc.addTransceiver("video", direction="sendonly")
            codecs = RTCRtpSender.getCapabilities("video").codecs
            video.setCodecPreferences([c for c in codecs if c.mimeType == f"video/{video_codec}"])
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


async def test_malformed_messages_and_refused_offers_close_4400(
    call_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str]
) -> None:
    cast = new_session(live_platform, members)
    url = call_url(call_bridge.url, cast.session)
    cases: list[tuple[str, str]] = [
        ("this is not json", "not JSON"),
        ("[1, 2]", "a JSON object"),
        (json.dumps({"type": "dance"}), 'unknown message type "dance"'),
        (json.dumps({"type": "mute", "muted": True}), "mute before the offer"),
        (json.dumps({"type": "offer"}), "'sdp' must be"),
        (json.dumps({"type": "offer", "sdp": "v=0 garbage"}), "SDP"),
        (json.dumps({"type": "offer", "sdp": await offer(audio_codec="PCMU")}), "your offer has PCMU"),
        (json.dumps({"type": "offer", "sdp": await offer("opus", video_codec="H264")}), "your offer has H264"),
    ]
    for text, says in cases:
        ws, welcome = await raw(url, cast.navigator)
        assert welcome["type"] == "welcome" and welcome["you"] == "nav-nora"
        await ws.send(text)
        code, reason = await closed_with(ws)
        assert (code, says in reason) == (4400, True), (text[:60], code, reason)
    # A joined participant's malformed control closes it too, and it leaves the call.
    host = await joined(url, cast.host, audio=ToneTrack())
    navigator = await joined(url, cast.navigator, audio=ToneTrack())
    try:
        await host.until(lambda c: c.participant("nav-nora"), "the navigator in")
        await navigator.send(json.dumps({"type": "mute", "muted": "yes"}))
        code, reason = await navigator.wait_closed()
        assert code == 4400 and "'muted' must be true or false" in reason
        await host.until(lambda c: c.participant("nav-nora") is None, "the navigator out of the call")
        # A second offer is refused the same way (no renegotiation).
        again = await joined(url, cast.navigator, audio=ToneTrack())
        await again.send({"type": "offer", "sdp": await offer()})
        code, reason = await again.wait_closed()
        assert code == 4400 and "second offer" in reason
    finally:
        await host.leave()


async def test_a_closed_or_silent_websocket_takes_its_participant_out(
    call_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str]
) -> None:
    cast = new_session(live_platform, members)
    url = call_url(call_bridge.url, cast.session)
    host = await joined(url, cast.host, audio=ToneTrack())
    navigator = await joined(url, cast.navigator, audio=ToneTrack())
    try:
        await host.until(lambda c: c.participant("nav-nora"), "the navigator in")
        # Closed without a leave (the process quit): out at once, not at the media timeout.
        await navigator.close()
        await host.until(lambda c: c.participant("nav-nora") is None, "the closed navigator out")
        # A websocket that stops answering pings (a frozen process, a dead network): out too.
        navigator = await joined(url, cast.navigator, audio=ToneTrack())
        await host.until(lambda c: c.participant("nav-nora"), "the navigator back")
        navigator._ws.transport.pause_reading()
        await host.until(lambda c: c.participant("nav-nora") is None, "the unresponsive navigator out")
        # Leaving closes 1000; a newer client of the same user replaces the older (4409).
        first = await joined(url, cast.navigator, audio=ToneTrack())
        second = await joined(url, cast.navigator, audio=ToneTrack())
        code, _ = await first.wait_closed()
        assert code == 4409 and first.event is not None and first.event["type"] == "removed"
        await second.leave()
        assert second.close_code == 1000
        await host.until(lambda c: c.participant("nav-nora") is None, "the navigator left")
        # The host ends the call by message (the platform records it).
        await host.end()
        code, _ = await host.wait_closed()
        assert code == 4410
        with live_platform.client() as client:
            assert client.call("collab.call_show", {"session": cast.session}).state == "ended"
    finally:
        await navigator.close()
        await host.close()


def test_module_paths(tmp_path: Path) -> None:
    """call_url drops a bridge URL's path and query, and refuses what is not one."""
    assert call_url("ws://127.0.0.1:8471/lsp?x=1", "a" * 32) == f"ws://127.0.0.1:8471/call/{'a' * 32}"
    with pytest.raises(ValueError, match="not a bridge URL"):
        call_url("http://127.0.0.1:8471", "a" * 32)


async def test_the_call_follows_the_session(
    call_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str]
) -> None:
    """Roles and removals reach the call through the bridge's access registry (asked again
    every 2 s); an end made on the platform reaches it at the next report."""
    cast = new_session(live_platform, members)
    url = call_url(call_bridge.url, cast.session)
    host = await joined(url, cast.host, audio=ToneTrack(HOST_TONE))
    navigator = await joined(url, cast.navigator, audio=ToneTrack(NAVIGATOR_TONE))
    capture = AudioCapture(host.received_audio)
    try:
        await hears(capture, NAVIGATOR_TONE, "the navigator heard")
        with live_platform.client() as client:
            client.call("collab.set_role", {"session": cast.session, "username": "nav-nora", "role": "guest"})
        await host.until(lambda c: (c.participant("nav-nora") or {}).get("role") == "guest", "a guest now")
        await hears(capture, NAVIGATOR_TONE, "a guest's audio is not mixed", present=False)
        with live_platform.client() as client:
            client.call("collab.remove", {"session": cast.session, "username": "nav-nora"})
        code, reason = await navigator.wait_closed()
        assert code == 4403 and "no longer a participant" in reason
        await host.until(lambda c: c.participant("nav-nora") is None, "the removed navigator out")
        with live_platform.client() as client:
            client.call("collab.call_end", {"session": cast.session})
        code, _ = await host.wait_closed()
        assert code == 4410 and host.event is not None and host.event["type"] == "ended"
    finally:
        await capture.stop()
        await navigator.close()
        await host.close()


async def test_a_participant_who_shares_also_watches(
    call_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str]
) -> None:
    from aiortc.mediastreams import MediaStreamError, VideoStreamTrack

    cast = new_session(live_platform, members)
    url = call_url(call_bridge.url, cast.session)
    host = await joined(url, cast.host, share=VideoStreamTrack())
    navigator = await joined(url, cast.navigator, share=VideoStreamTrack(), share_kind="camera", watch=True)
    try:
        await navigator.until(lambda c: (c.participant(host.you) or {}).get("sharing") == "screen", "the host shares")
        await navigator.watch(host.you)
        assert navigator.received_video is not None
        frames = 0
        with contextlib.suppress(MediaStreamError, TimeoutError):
            while frames < 5:
                await asyncio.wait_for(navigator.received_video.recv(), 10)
                frames += 1
        assert frames == 5, "the host's share did not reach a watcher that shares too"
    finally:
        await navigator.leave()
        await host.leave()
