"""CallServer with real aiortc peers in-process: who hears whom, controls, drops, refusals."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable

import aioice.ice
import ifaddr
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender, VideoStreamTrack
from aiortc.rtp import RtpPacket
from aiortc.sdp import SessionDescription
from av import VideoFrame

from codeforge.collab.rtc import (
    CallError,
    CallServer,
    CallState,
    IceSettings,
    ice_servers_json,
    include_loopback,
    rtc_configuration,
)
from codeforge.collab.rtc.jitter import AudioTap
from tests.call.audio import FRAME, RATE, click
from tests.call.conftest import Client, join, member, power, tone, wait_for

FREQS = {"ann": 400.0, "bob": 700.0, "cyd": 1100.0}
HEARD = -40.0  # dB re full scale: a 0.25 tone through Opus is about -12; leakage stays under -60
SETTLE = 0.3  # seconds of the newest mix the checks read (after it stabilised)


async def _hear(clients: list[Client], seconds: float = 0.9) -> None:
    """Let audio flow until every client has `seconds` of recording."""
    await wait_for(
        lambda: all(c.recorder is not None and c.recorder.length >= seconds * 48000 for c in clients),
        what="recordings",
    )


async def test_three_participants_each_hear_the_others_but_not_themselves(
    call_server: CallServer, clients: list[Client]
) -> None:
    for name in ("ann", "bob", "cyd"):
        clients.append(await join(call_server, member(name, host=name == "ann"), freq=FREQS[name]))
    await _hear(clients)
    for client in clients:
        heard = client.recording(SETTLE)
        for name, freq in FREQS.items():
            level = power(heard, freq)
            if name == client.username:
                assert level < HEARD, f"{client.username} hears themselves at {level:.1f} dB"
            else:
                assert level > HEARD, f"{client.username} does not hear {name} ({level:.1f} dB)"
    state = clients[0].joined.call.state()
    assert [p["username"] for p in state["participants"]] == ["ann", "bob", "cyd"]
    assert state["state"] == "active"
    await wait_for(lambda: all(p["talking"] for p in clients[0].joined.call.state()["participants"]), what="talking")
    assert call_server.stats()["participants"] == 3


async def test_a_muted_participant_and_a_guest_are_not_in_the_mix(
    call_server: CallServer, clients: list[Client]
) -> None:
    ann = await join(call_server, member("ann", host=True), freq=FREQS["ann"])
    bob = await join(call_server, "bob", freq=FREQS["bob"])
    cyd = await join(call_server, member("cyd", "guest"), freq=FREQS["cyd"])
    clients += [ann, bob, cyd]
    call = ann.joined.call
    call.mute("bob", True, by="bob")
    await _hear(clients)
    mark = ann.recorder.length if ann.recorder else 0
    await wait_for(lambda: ann.recorder is not None and ann.recorder.length > mark + 0.5 * 48000)
    heard = ann.recording(SETTLE)
    assert power(heard, FREQS["bob"]) < HEARD  # muted
    assert power(heard, FREQS["cyd"]) < HEARD  # a guest is never mixed
    guest_hears = cyd.recording(SETTLE)
    assert power(guest_hears, FREQS["ann"]) > HEARD  # guests listen
    me = {p["username"]: p for p in call.state()["participants"]}
    assert me["bob"]["muted"] and not me["bob"]["talking"] and not me["cyd"]["talking"]
    await asyncio.sleep(0)


async def test_talking_is_reported_coalesced_and_on_change_sees_every_change(
    call_server: CallServer, clients: list[Client]
) -> None:
    seen: list[tuple[str, CallState | None]] = []
    call_server.on_change(lambda session, state: seen.append((session, state)))
    ann = await join(call_server, member("ann", host=True))  # silent until told to speak
    bob = await join(call_server, "bob")
    clients += [ann, bob]
    assert ann.mic is not None
    ann.mic.loop(tone(FREQS["ann"]))
    await wait_for(lambda: (ann.me() or {}).get("talking"), what="ann talking")
    assert bob.last("state")["call"]["participants"][0]["talking"] is True  # type: ignore[index]
    ann.mic.loop(None)
    await wait_for(lambda: not (ann.me() or {}).get("talking"), what="ann quiet (after the hang-over)")
    # joins and talking: every state reached on_change, for the session
    assert {session for session, _ in seen} == {"s1"}
    flags = [[p["talking"] for p in state["participants"]] for _, state in seen if state is not None]
    assert [False, False] in flags and [True, False] in flags
    assert flags[-1] == [False, False]


async def test_a_participant_whose_packets_stop_is_silent_then_dropped(
    call_server: CallServer, clients: list[Client]
) -> None:
    ann = await join(call_server, member("ann", host=True), freq=FREQS["ann"])
    bob = await join(call_server, "bob", freq=FREQS["bob"])
    clients += [ann, bob]
    await _hear(clients, 0.6)
    assert ann.recorder is not None
    assert power(ann.recording(SETTLE), FREQS["bob"]) > HEARD
    vanished = asyncio.get_running_loop().time()
    _vanish(bob)  # its sockets close: no RTP, no RTCP, no goodbye
    call = ann.joined.call
    await wait_for(lambda: "bob" not in call.usernames, timeout=6, what="bob dropped")
    dropped = asyncio.get_running_loop().time()
    assert dropped - vanished >= call_server.drop_after  # not before drop_after without media
    removed = bob.last("removed")
    assert removed is not None and removed["code"] == 4408 and "join again" in removed["reason"]
    # between the vanishing and the drop, ann's mix went on (no stall), without bob's tone
    since = time.monotonic() - (asyncio.get_running_loop().time() - vanished) + 0.3
    start = ann.recorder.since(since)
    gap = ann.recorder.samples()[start : start + int(0.6 * 48000)]
    assert len(gap) >= int(0.5 * 48000)
    assert power(gap, FREQS["bob"]) < HEARD
    assert [p["username"] for p in call.state()["participants"]] == ["ann"]


def _vanish(client: Client) -> None:
    """Close the client's UDP sockets under aiortc: like a machine that lost its network."""
    ice = client.pc.getTransceivers()[0].sender.transport.transport
    for protocol in ice.iceGatherer._connection._protocols:
        if protocol.transport is not None:
            protocol.transport.close()


async def test_a_client_that_closes_without_leaving_is_removed(call_server: CallServer, clients: list[Client]) -> None:
    ann = await join(call_server, "ann")
    bob = await join(call_server, "bob")
    clients += [ann, bob]
    await bob.pc.close()  # DTLS close_notify: the server's connection closes
    call = ann.joined.call
    await wait_for(lambda: call.usernames == ["ann"], timeout=6, what="bob removed")


async def test_the_same_user_joining_again_replaces_the_older_client(
    call_server: CallServer, clients: list[Client]
) -> None:
    ann = await join(call_server, member("ann", host=True), freq=FREQS["ann"])
    bob = await join(call_server, "bob", freq=FREQS["bob"])
    clients += [ann, bob]
    call = ann.joined.call
    call.mute("bob", True, by="ann")
    joined_at = call.state()["participants"][1]["joined_at"]
    bob2 = await join(call_server, "bob", freq=FREQS["cyd"])
    clients.append(bob2)
    removed = bob.last("removed")
    assert removed is not None and removed["code"] == 4409
    bobs = [p for p in call.state()["participants"] if p["username"] == "bob"]
    assert len(bobs) == 1 and bobs[0]["joined_at"] == joined_at
    assert bobs[0]["muted_by_host"]  # rejoining does not undo the host's mute
    call.mute("bob", False, by="bob")
    await _hear([bob2], 0.8)
    assert bob2.recorder is not None and ann.recorder is not None
    mark = ann.recorder.length
    await wait_for(lambda: ann.recorder is not None and ann.recorder.length > mark + 0.6 * 48000)
    heard = ann.recording(SETTLE)
    assert power(heard, FREQS["cyd"]) > HEARD  # the newer client is heard
    assert power(heard, FREQS["bob"]) < HEARD  # the older one is not
    assert power(bob2.recording(SETTLE), FREQS["ann"]) > HEARD


async def test_update_members_removes_and_changes_roles_at_once(call_server: CallServer, clients: list[Client]) -> None:
    ann = await join(call_server, member("ann", host=True), freq=FREQS["ann"])
    bob = await join(call_server, "bob", freq=FREQS["bob"])
    cyd = await join(call_server, "cyd", freq=FREQS["cyd"])
    clients += [ann, bob, cyd]
    call = ann.joined.call
    call_server.update_members("s1", [member("ann", host=True), member("bob", "guest")])
    removed = cyd.last("removed")
    assert removed is not None and removed["code"] == 4403 and "no longer a participant" in removed["reason"]
    await wait_for(lambda: call.usernames == ["ann", "bob"], what="cyd removed")
    assert call.state()["participants"][1]["role"] == "guest"
    assert ann.recorder is not None
    mark = ann.recorder.length
    await wait_for(lambda: ann.recorder is not None and ann.recorder.length > mark + 0.6 * 48000)
    assert power(ann.recording(SETTLE), FREQS["bob"]) < HEARD  # a guest now: not mixed
    call_server.update_members("s1", [member("ann", host=True), member("bob", "navigator")])
    assert call.state()["participants"][1]["role"] == "navigator"
    mark = ann.recorder.length
    await wait_for(lambda: ann.recorder is not None and ann.recorder.length > mark + 0.6 * 48000)
    assert power(ann.recording(SETTLE), FREQS["bob"]) > HEARD  # may talk again: mixed at once
    call_server.update_members("other-session", [])  # a session without a call: nothing happens


async def test_end_tells_everyone_and_forgets_the_call(call_server: CallServer, clients: list[Client]) -> None:
    seen: list[CallState | None] = []
    call_server.on_change(lambda session, state: seen.append(state))
    ann = await join(call_server, member("ann", host=True))
    bob = await join(call_server, "bob", send_audio=False)  # a listener without a microphone
    clients += [ann, bob]
    call = ann.joined.call
    await call_server.end("s1", "the host ended the call")
    for client in (ann, bob):
        assert client.last("ended") == {"type": "ended", "reason": "the host ended the call"}
    assert seen[-1] is not None and seen[-1]["state"] == "ended" and seen[-1]["participants"] == []
    assert call_server.call("s1") is None and call_server.stats()["calls"] == 0
    with pytest.raises(CallError) as refused:
        call.mute("ann", True, by="ann")
    assert refused.value.code == 4410
    again = await join(call_server, "ann")
    clients.append(again)
    assert again.joined.call is not call and call_server.call("s1") is again.joined.call
    await call_server.close()
    assert again.last("ended") == {"type": "ended", "reason": "the bridge is stopping"}
    with pytest.raises(CallError) as stopping:
        await join(call_server, "bob")
    assert stopping.value.code == 4410


async def test_mute_rules(call_server: CallServer, clients: list[Client]) -> None:
    ann = await join(call_server, member("ann", host=True), connect=False)
    bob = await join(call_server, "bob", connect=False)
    clients += [ann, bob]
    call = ann.joined.call
    with pytest.raises(CallError) as refused:
        call.mute("ann", True, by="bob")
    assert refused.value.code == 4403 and "only the host" in refused.value.message
    call.mute("bob", True, by="ann")
    with pytest.raises(CallError) as refused:
        call.mute("bob", False, by="ann")
    assert refused.value.code == 4403 and "only bob can unmute" in refused.value.message
    assert bob.me() == {**(bob.me() or {}), "muted": True, "muted_by_host": True}
    call.mute("bob", False, by="bob")
    assert (bob.me() or {})["muted"] is False and (bob.me() or {})["muted_by_host"] is False
    with pytest.raises(CallError) as unknown:
        call.mute("zed", True, by="ann")
    assert unknown.value.code == 4400
    # the host need not be in the call: the roster (update_members) knows who hosts
    call_server.update_members("s1", [member("ann"), member("bob"), member("hal", host=True)])
    call.mute("ann", True, by="hal")
    assert call.state()["participants"][0]["muted_by_host"]


async def test_share_and_watch_rules(call_server: CallServer, clients: list[Client]) -> None:
    ann = await join(call_server, member("ann", host=True), connect=False)
    gus = await join(call_server, member("gus", "guest"), share=VideoStreamTrack(), connect=False)
    clients += [ann, gus]
    call = ann.joined.call
    with pytest.raises(CallError) as refused:
        call.share("ann", "screen")
    assert refused.value.code == 4400 and "no share m-line" in refused.value.message
    with pytest.raises(CallError) as refused:
        call.share("gus", "screen")
    assert refused.value.code == 4403 and "guest" in refused.value.message
    with pytest.raises(CallError) as refused:
        call.watch("ann", "gus")
    assert refused.value.code == 4400 and "no watch m-line" in refused.value.message
    with pytest.raises(CallError) as refused:
        call.share("ann", "window")  # type: ignore[arg-type]
    assert refused.value.code == 4400


async def test_a_share_reaches_its_watcher_and_stops(call_server: CallServer, clients: list[Client]) -> None:
    ann = await join(call_server, member("ann", host=True), share=VideoStreamTrack())
    bob = await join(call_server, "bob", watch=True)
    clients += [ann, bob]
    call = ann.joined.call
    with pytest.raises(CallError) as refused:
        call.watch("bob", "ann")
    assert refused.value.code == 4400 and "ann is not sharing" in refused.value.message
    call.share("ann", "screen")
    call.watch("bob", "ann")
    watched = bob.pc.getTransceivers()[1].receiver.track
    frame = await asyncio.wait_for(watched.recv(), 10)
    assert isinstance(frame, VideoFrame)
    assert (frame.width, frame.height) == (640, 480)
    assert (bob.me() or {})["watching"] == "ann"
    assert call.state()["participants"][0]["sharing"] == "screen"
    call.share("ann", None)
    assert (bob.me() or {})["watching"] is None


async def test_a_call_connects_on_loopback_alone(
    call_server: CallServer, clients: list[Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine whose only interface is `lo`: aioice alone would gather no candidate."""
    only_lo = [adapter for adapter in ifaddr.get_adapters() if any(ip.ip == "127.0.0.1" for ip in adapter.ips)]
    monkeypatch.setattr(ifaddr, "get_adapters", lambda: only_lo)
    ann = await join(call_server, "ann", freq=FREQS["ann"])
    bob = await join(call_server, "bob")
    clients += [ann, bob]
    for client in (ann, bob):
        candidates = client.pc.getTransceivers()[0].sender.transport.transport.iceGatherer.getLocalCandidates()
        assert {c.ip for c in candidates} == {"127.0.0.1"}
    await _hear([bob], 0.6)
    assert power(bob.recording(SETTLE), FREQS["ann"]) > HEARD


async def _offer(audio: list[str] | None = None, video: list[str] | None = None, *, audio_first: bool = True) -> str:
    """A real aiortc offer whose audio (and optional sendonly video) carries only `audio`/`video` codecs."""
    pc = RTCPeerConnection(rtc_configuration())
    try:
        kinds: list[tuple[str, list[str] | None, str]] = [("audio", audio, "sendrecv"), ("video", video, "sendonly")]
        if not audio_first:
            kinds.reverse()
        for kind, wanted, direction in kinds:
            if kind == "video" and video is None:
                continue
            transceiver = pc.addTransceiver(kind, direction=direction)
            if wanted is not None:
                capabilities = RTCRtpSender.getCapabilities(kind)
                assert capabilities is not None
                transceiver.setCodecPreferences([c for c in capabilities.codecs if c.mimeType.split("/")[1] in wanted])
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp
    finally:
        await pc.close()


async def _refused(server: CallServer, sdp: str) -> str:
    with pytest.raises(CallError) as refused:
        await server.join("s1", member("ann"), sdp, lambda event: None)
    assert refused.value.code == 4400
    assert server.call("s1") is None  # a refused first join starts nothing
    return refused.value.message


async def test_malformed_offers_are_refused_with_a_reason(call_server: CallServer) -> None:
    assert "the offer is not SDP" in await _refused(call_server, "")
    assert "must start with 'v=0'" in await _refused(call_server, '{"type": "offer"}')
    assert "no media" in await _refused(call_server, "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n")
    broken = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio nine UDP/TLS/RTP/SAVPF x\r\n"
    assert "the offer is not SDP" in await _refused(call_server, broken)
    good = await _offer()
    no_ice = "\r\n".join(line for line in good.split("\r\n") if not line.startswith("a=ice-"))
    assert "the offer was refused" in await _refused(call_server, no_ice)
    first_video = await _offer(video=["VP8"], audio_first=False)
    assert "first m-line is video" in await _refused(call_server, first_video)


async def test_codecs_the_server_cannot_handle_are_refused_clearly(call_server: CallServer) -> None:
    pcmu = await _refused(call_server, await _offer(["PCMU"]))
    assert pcmu == "audio must offer Opus (the server mixes Opus at 48 kHz); your offer has PCMU"
    g722 = await _refused(call_server, await _offer(["G722", "PCMA"]))
    assert g722.endswith("your offer has G722, PCMA")
    h264 = await _refused(call_server, await _offer(video=["H264"]))
    assert h264.startswith("video must offer VP8: the call forwards video without re-encoding")
    assert h264.endswith("your offer has H264")


async def test_the_answer_carries_only_opus_and_vp8(call_server: CallServer, clients: list[Client]) -> None:
    ann = await join(call_server, "ann", share=VideoStreamTrack(), watch=True, connect=False)
    clients.append(ann)
    answer = SessionDescription.parse(ann.joined.answer_sdp)
    assert [m.kind for m in answer.media] == ["audio", "video", "video"]
    assert [m.direction for m in answer.media] == ["sendrecv", "recvonly", "sendonly"]
    assert {c.mimeType for c in answer.media[0].rtp.codecs} == {"audio/opus"}
    for video in answer.media[1:]:
        assert {c.mimeType for c in video.rtp.codecs} <= {"video/VP8", "video/rtx"}


async def test_mouth_to_ear_on_loopback_through_playout(call_server: CallServer, clients: list[Client]) -> None:
    """A click said by ann reaches bob's ear (a client playing out with the mixer's jitter
    buffer): ~75 ms on an idle machine, the server's own share a tick or two. The margin is
    generous (a loaded test machine starves every process alike); the issue's 300 ms is
    checked through a bridge by test_call_peers."""
    ann = await join(call_server, member("ann", host=True))
    bob = await join(call_server, "bob", low_latency=True)
    clients += [ann, bob]
    assert ann.mic is not None and bob.recorder is not None
    await _hear([bob], 0.3)
    delays: list[float] = []
    mic, recorder = ann.mic, bob.recorder
    for _ in range(6):  # a click caught in a loaded machine's stall is dropped (latency stays bounded): retry
        count = len(mic.said) + 1
        mic.say(click(0.1))

        def sent(n: int = count) -> bool:
            return len(mic.said) == n and mic.said[-1] - mic.said[-1] % FRAME in mic.sent

        await wait_for(sent, what="click sent")
        said_at = mic.send_time(mic.said[-1])
        heard = next_loud(bob, said_at)
        with contextlib.suppress(AssertionError):
            await wait_for(heard, timeout=1.5, what="click heard")
        if heard() is not None:
            delays.append((heard() or 0.0) - said_at)
            if len(delays) == 3:
                break

        def over(end: float = time.monotonic() + 0.15) -> bool:  # the click's last frames came (quiet after)
            return any(arrived > end and np.abs(s).max() < 100 for _, arrived, s in recorder.frames[-5:])

        await wait_for(over, what="click over")
    assert delays, "no click was heard"
    assert min(delays) < 0.5, delays
    await bob.pc.close()  # the playout's clock stops with the peer connection
    await wait_for(lambda: recorder.track.readyState == "ended", what="playout ended")


def next_loud(client: Client, after: float) -> Callable[[], float | None]:
    """When the first loud sample the client received after `after` came out of its receiver."""

    def find() -> float | None:
        assert client.recorder is not None
        for _, arrived, samples in client.recorder.frames:
            if arrived > after and np.abs(samples).max() > 8000:
                return arrived + int(np.argmax(np.abs(samples) > 8000)) / RATE
        return None

    return find


async def test_a_peer_that_never_connects_is_dropped(call_server: CallServer, clients: list[Client]) -> None:
    """Answered, but its client never applies the answer: no ICE, no DTLS, no media."""
    ann = await join(call_server, "ann")
    clients.append(ann)
    silent = RTCPeerConnection(rtc_configuration())
    silent.addTransceiver("audio", direction="sendrecv")
    await silent.setLocalDescription(await silent.createOffer())
    events: list[dict[str, object]] = []
    joined = await call_server.join("s1", member("bob"), silent.localDescription.sdp, events.append)
    assert joined.call.usernames == ["ann", "bob"]
    await wait_for(lambda: joined.call.usernames == ["ann"], timeout=8, what="bob dropped")
    assert events[-1]["type"] == "removed" and events[-1]["code"] == 4408
    await silent.close()


def test_ice_settings_from_the_environment() -> None:
    settings = IceSettings.from_env(
        {
            "CODEFORGE_CALL_STUN": "stun:stun.example.org:3478, stun:10.0.0.1",
            "CODEFORGE_CALL_TURN": "turn:turn.example.org:3478?transport=udp",
            "CODEFORGE_CALL_TURN_USERNAME": "codeforge",
            "CODEFORGE_CALL_TURN_PASSWORD": "s3cret-pass",
        }
    )
    assert settings.stun == ("stun:stun.example.org:3478", "stun:10.0.0.1")
    assert "s3cret-pass" not in repr(settings)  # never in logs by way of a repr
    assert ice_servers_json(settings) == [
        {"urls": "stun:stun.example.org:3478"},
        {"urls": "stun:10.0.0.1"},
        {"urls": "turn:turn.example.org:3478?transport=udp", "username": "codeforge", "credential": "s3cret-pass"},
    ]
    servers = rtc_configuration(settings).iceServers or []
    assert [(s.urls, s.username) for s in servers][-1] == ("turn:turn.example.org:3478?transport=udp", "codeforge")
    assert rtc_configuration().iceServers == []  # not aiortc's default (Google's STUN)
    assert ice_servers_json(None) == [] and IceSettings.from_env({}) == IceSettings()


def test_bad_ice_settings_say_which_variable() -> None:
    with pytest.raises(ValueError, match=r"CODEFORGE_CALL_STUN: 'stun\.example\.org' is not a stun: URL"):
        IceSettings.from_env({"CODEFORGE_CALL_STUN": "stun.example.org"})
    with pytest.raises(ValueError, match="CODEFORGE_CALL_TURN: 'stun:x:1' is a stun: URL"):
        IceSettings.from_env(
            {
                "CODEFORGE_CALL_TURN": "stun:x:1",
                "CODEFORGE_CALL_TURN_USERNAME": "u",
                "CODEFORGE_CALL_TURN_PASSWORD": "p",
            }
        )
    with pytest.raises(ValueError, match="CODEFORGE_CALL_TURN_PASSWORD is not") as missing:
        IceSettings.from_env({"CODEFORGE_CALL_TURN": "turn:x:1", "CODEFORGE_CALL_TURN_USERNAME": "u"})
    assert "CODEFORGE_CALL_TURN_USERNAME" not in str(missing.value)  # it is set: only the missing one is named


def test_loopback_is_added_once() -> None:
    include_loopback()
    include_loopback()
    addresses = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    assert addresses.count("127.0.0.1") == 1
    assert "127.0.0.1" not in aioice.ice.get_host_addresses(use_ipv4=False, use_ipv6=True)


async def test_lost_packets_cost_their_own_20_ms_and_nothing_more(
    call_server: CallServer, clients: list[Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    """10 % of ann's packets lost on the way in: bob still hears her tone in every stretch
    of his recording, each loss a 20 ms gap (aiortc's own jitter buffer would stall for
    ~300 ms at the first loss and keep that delay)."""
    rng = random.Random(7)
    add = AudioTap.add

    def lossy(tap: AudioTap, packet: RtpPacket) -> tuple[bool, None]:
        if tap.jitter is lossy_jitter[0] and rng.random() < 0.1:
            return False, None
        return add(tap, packet)  # type: ignore[return-value]

    lossy_jitter: list[object] = [None]
    monkeypatch.setattr(AudioTap, "add", lossy)
    ann = await join(call_server, member("ann", host=True), freq=FREQS["ann"])
    mixer = ann.joined.call.mixer
    assert mixer is not None
    lossy_jitter[0] = mixer._inputs["ann"].jitter
    bob = await join(call_server, "bob")
    clients += [ann, bob]
    await _hear([bob], 1.5)
    heard = bob.recording(1.0)
    # 5 ms windows: a lost packet's 20 ms gap lands across two received frames (Opus' delay)
    windows = heard[: len(heard) // 240 * 240].reshape(-1, 240)
    rms = np.sqrt(np.mean(windows.astype(np.float64) ** 2, axis=1))
    silent = rms < 0.1 * np.median(rms)
    assert 0.02 < silent.mean() < 0.25  # about the loss rate, each loss ~15 ms of full silence
    longest = max(len(run) for run in "".join("s" if s else "." for s in silent).split("."))
    # never a stall: a loss is ~3 windows, a few in a row or a loaded machine's hiccup more;
    # aiortc's own jitter buffer would go quiet for ~300 ms (60 windows) at the first loss
    assert longest <= 30
    assert power(heard, FREQS["ann"]) > HEARD
    stats = mixer.stats()
    assert stats["lost"] > 0 and stats["late"] == 0
