"""Calls under faults and bad input, through a real bridge on the real platform:

- a `codeforge call` process killed with SIGKILL (no leave): removed within seconds, the others
  keep hearing each other;
- malformed SDP and malformed messages: closed 4400 saying what was wrong;
- a codec the server cannot handle (PCMU-only audio, H264-only video): closed 4400 naming the
  codec it needs and the ones offered;
- a peer that completes signalling but sends no media: dropped after `drop_after`, while the
  others keep talking;
- a non-participant: refused before the upgrade (HTTP 403), never in the call;
- 10 % packet loss each way (nftables in a network namespace: this kernel has no sch_netem,
  so `tc netem` is not available): the audio stays intelligible both ways (audio.py says why
  the score's threshold);
- TURN: a client allowed only relayed candidates, through coturn on loopback, is heard.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from codeforge.collab.rtc.client import CallClient, CallRefused
from codeforge.collab.rtc.ice import IceSettings, TurnServer, rtc_configuration
from tests.bridge.conftest import BridgeProcess
from tests.call.audio import (
    INTELLIGIBLE,
    RATE,
    PlayTrack,
    Recorder,
    follow,
    intelligibility,
    level_dbfs,
    speech,
    write_wav,
)
from tests.call.harness import Cast, Peer, call_url, new_cast, run_checked
from tests.collab.conftest import eventually
from tests.conftest import ROOT, RunningPlatform, free_port, require

pytestmark = pytest.mark.slow

OTHER = "Seven wise owls counted every star above the old stone bridge tonight."


# -- helpers -------------------------------------------------------------------------------------


def invite(platform: RunningPlatform, session: str, token: str, role: str = "navigator") -> None:
    """Make the member with `token` a participant of `session` too."""
    from codeforge.client import PlatformClient

    with platform.client() as host:
        invitation = host.call("collab.invite", {"session": session, "role": role}).token
    with PlatformClient(platform.url, token) as client:
        client.call("collab.join", {"invitation": invitation})


async def raw(url: str, token: str) -> tuple[ClientConnection, dict[str, Any]]:
    """A signalling websocket with nothing behind it, and the welcome."""
    websocket = await connect(url, additional_headers={"Authorization": f"Bearer {token}"})
    welcome = json.loads(await asyncio.wait_for(websocket.recv(), 30))
    assert welcome["type"] == "welcome", welcome
    return websocket, welcome


async def closed_with(websocket: ClientConnection) -> tuple[int, str, list[str]]:
    """Read until the server closes: its code, its reason and the `error` messages before."""
    errors: list[str] = []
    try:
        async with asyncio.timeout(30):
            async for text in websocket:
                message = json.loads(text)
                if message.get("type") == "error":
                    errors.append(str(message.get("message")))
    except ConnectionClosed:
        pass
    assert websocket.close_code is not None, "the server did not close"
    return websocket.close_code, websocket.close_reason or "", errors


async def offer(*, audio: list[str] | None = None, video: list[str] | None = None) -> tuple[RTCPeerConnection, str]:
    """An aiortc offer with the call's layout; `audio`/`video`: the only codecs offered."""
    pc = RTCPeerConnection(rtc_configuration(None))
    transceiver = pc.addTransceiver("audio", direction="sendrecv")
    if audio is not None:
        caps = RTCRtpSender.getCapabilities("audio").codecs
        transceiver.setCodecPreferences([c for c in caps if c.mimeType.split("/")[1] in audio])
    if video is not None:
        share = pc.addTransceiver("video", direction="sendonly")
        caps = RTCRtpSender.getCapabilities("video").codecs
        share.setCodecPreferences([c for c in caps if c.mimeType.split("/")[1] in video])
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def in_call(client: CallClient, username: str, present: bool = True, timeout: float = 30) -> None:
    await client.until(
        lambda c: (c.participant(username) is not None) == present,
        f"{username} {'in' if present else 'out of'} the call",
        timeout=timeout,
    )


async def hears(ear: Recorder, mouth: PlayTrack, samples: Any, what: str, keep: Path | None = None) -> bool:
    """Say `samples` on `mouth`; whether `ear` hears them (audio.follow) from then on (what it
    heard is kept as a WAV in `keep`, for a failure's post-mortem)."""
    before = len(mouth.said)
    mouth.say(samples)
    await eventually(lambda: len(mouth.said) > before, f"{what} to start")
    sent = mouth.send_time(mouth.said[before])
    await eventually(lambda: ear.last_arrival > sent + len(samples) / RATE + 0.8, f"{what} to be heard")
    heard = ear.samples()[ear.since(sent - 0.1) :]
    if keep is not None:
        write_wav(keep / f"heard-{what.replace(' ', '-').replace(chr(39), '')}.wav", heard)
    # off the event loop: the clients' clocks keep running while numpy works
    followed = await asyncio.to_thread(follow, samples, heard)
    steps = np.diff([pts for pts, _, _ in ear.frames])
    if not followed.present:  # what the recording's timeline looked like (frames by pts)
        print(f"{what}: pts steps {dict(zip(*np.unique(steps, return_counts=True), strict=True))}")
        span = ear.frames[-1][1] - ear.frames[0][1]
        print(f"{what}: {len(ear.frames) * 0.02:.1f} s of frames over {span:.1f} s; said at {sent:.2f}, "
              f"window from pts {ear.since(sent - 0.1)} of {ear.length}; follow start {followed.start}")  # fmt: skip
    print(f"{what}: pieces found {followed.found:.2f}, {level_dbfs(heard):.0f} dBFS over {len(heard) / RATE:.1f} s")
    return followed.present


# -- a vanished peer ---------------------------------------------------------------------------------


async def test_a_codeforge_call_killed_without_leaving_is_removed_and_the_others_keep_talking(
    call_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str], tmp_path: Path
) -> None:
    """The third participant is `codeforge call` itself (its --input a WAV of another sentence
    four times over), SIGKILLed mid-sentence: no leave, no close handshake."""
    require("espeak-ng", shutil.which("espeak-ng") is not None, "apt-get install espeak-ng")
    said, other = speech(tmp_path), speech(tmp_path, OTHER)
    gap = np.zeros(RATE // 2, dtype=np.int16)
    wav = write_wav(tmp_path / "other4.wav", np.concatenate([other, gap] * 4))
    cast: Cast = new_cast(live_platform, members)
    invite(live_platform, cast.session, cast.outsider)
    url = call_url(call_bridge, cast.session)
    host_mouth, nav_mouth = PlayTrack(), PlayTrack()
    host = CallClient(url, cast.host, audio=host_mouth)
    navigator = CallClient(url, cast.navigator, audio=nav_mouth)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEFORGE_")}
    env.update(CODEFORGE_URL=live_platform.url, CODEFORGE_TOKEN=cast.outsider, CODEFORGE_CONFIG_DIR=str(tmp_path))
    bridge = call_url(call_bridge, cast.session).rsplit("/call/", 1)[0]
    command = [sys.executable, "-m", "codeforge", "call", cast.session, "--bridge", bridge, "--input", str(wav),
               "--output", str(tmp_path / "heard.wav")]  # fmt: skip
    process: asyncio.subprocess.Process | None = None
    try:
        await host.connect()
        await navigator.connect()
        host_ear, nav_ear = Recorder(host.received_audio).start(), Recorder(navigator.received_audio).start()
        with (tmp_path / "call.log").open("wb") as log:
            process = await asyncio.create_subprocess_exec(*command, env=env, stdout=log, stderr=log, cwd=ROOT)
        await in_call(host, "out-otto", timeout=60)
        started = time.monotonic()
        period = (len(other) + len(gap)) / RATE
        # a whole sentence lies in any two periods from here
        await eventually(lambda: host_ear.last_arrival > started + 2 * period + 0.5, "the sentence from codeforge call")
        heard = await asyncio.to_thread(follow, other, host_ear.samples()[host_ear.since(started) :])
        assert heard.present, f"codeforge call was never heard: {heard.peaks}"
        process.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await in_call(host, "out-otto", present=False, timeout=15)
        await in_call(navigator, "out-otto", present=False, timeout=15)
        print(f"removed {time.monotonic() - killed:.1f} s after SIGKILL")
        # host and navigator still hear each other
        assert await hears(nav_ear, host_mouth, said, "the host's sentence", tmp_path), "not heard"
        assert await hears(host_ear, nav_mouth, said, "the navigator's sentence", tmp_path), "not heard"
        await host_ear.stop()
        await nav_ear.stop()
    finally:
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        await host.leave()
        await navigator.leave()
    assert cast.outsider not in (tmp_path / "call.log").read_text(errors="replace")


# -- bad input -----------------------------------------------------------------------------------------


async def test_malformed_sdp_and_messages_are_closed_4400_saying_what(
    call_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str]
) -> None:
    cast = new_cast(live_platform, members)
    url = call_url(call_bridge, cast.session)
    for sent, says in (
        # aiortc's parser takes any text with no m-line: then the missing media is what is wrong
        (json.dumps({"type": "offer", "sdp": "v=0\r\nthis is not SDP at all\r\n"}), "no media"),
        (json.dumps({"type": "offer", "sdp": "m=audio nonsense\r\n"}), "not SDP"),
        (json.dumps({"type": "offer", "sdp": ""}), "'sdp'"),
        (json.dumps({"type": "offer", "sdp": 42}), "'sdp'"),
        ("{not json", "JSON"),
        (json.dumps({"type": "dance"}), "dance"),
    ):
        websocket, _ = await raw(url, cast.navigator)
        await websocket.send(sent)
        code, reason, _ = await closed_with(websocket)
        assert code == 4400 and says in reason, (sent, code, reason)
    # the call is still usable afterwards
    client = CallClient(url, cast.navigator)
    await client.connect()
    await client.leave()


@pytest.mark.parametrize(
    ("codecs", "says"),
    [
        ({"audio": ["PCMU"]}, ("Opus", "PCMU")),
        ({"audio": ["PCMU", "PCMA", "G722"]}, ("Opus", "G722")),
        ({"video": ["H264"]}, ("VP8", "H264")),
    ],
)
async def test_a_codec_the_server_cannot_handle_is_refused_clearly(
    call_bridge: BridgeProcess,
    live_platform: RunningPlatform,
    members: dict[str, str],
    codecs: dict[str, list[str]],
    says: tuple[str, ...],
) -> None:
    cast = new_cast(live_platform, members)
    websocket, _ = await raw(call_url(call_bridge, cast.session), cast.host)
    pc, sdp = await offer(**codecs)
    try:
        await websocket.send(json.dumps({"type": "offer", "sdp": sdp}))
        code, reason, errors = await closed_with(websocket)
    finally:
        await pc.close()
    told = " ".join([reason, *errors])
    assert code == 4400 and says[0] in told, (code, reason, errors)
    assert says[1] in told, (code, reason, errors)


async def test_a_peer_that_sends_no_media_is_dropped_and_the_others_are_not(
    call_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str], tmp_path: Path
) -> None:
    """Signalling done, an answer received, then nothing: no ICE, no RTP, no RTCP. The
    websocket stays open (its pings are answered), so only the media watch can see it."""
    require("espeak-ng", shutil.which("espeak-ng") is not None, "apt-get install espeak-ng")
    said = speech(tmp_path)
    cast = new_cast(live_platform, members)
    invite(live_platform, cast.session, cast.outsider)
    url = call_url(call_bridge, cast.session)
    host_mouth = PlayTrack()
    host, navigator = CallClient(url, cast.host, audio=host_mouth), CallClient(url, cast.navigator)
    websocket, _ = await raw(url, cast.outsider)
    pc, sdp = await offer()
    await pc.close()  # the offer's candidates now lead nowhere
    try:
        await host.connect()
        await navigator.connect()
        ear = Recorder(navigator.received_audio).start()
        await websocket.send(json.dumps({"type": "offer", "sdp": sdp}))
        events: list[dict[str, Any]] = []

        async def read() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for text in websocket:
                    events.append(json.loads(text))

        reader = asyncio.ensure_future(read())
        await eventually(lambda: any(e["type"] == "answer" for e in events), "the silent peer's answer")
        await in_call(host, "out-otto")
        answered = time.monotonic()
        # while it sits there, the call goes on
        assert await hears(ear, host_mouth, said, "the host's sentence"), "not heard"
        await in_call(host, "out-otto", present=False, timeout=30)
        print(f"the silent peer was dropped {time.monotonic() - answered:.1f} s after its answer")
        await eventually(lambda: any(e["type"] == "removed" for e in events), "the removed event", timeout=10)
        removed = next(e for e in events if e["type"] == "removed")
        assert "media" in removed["reason"] and "join again" in removed["reason"], removed
        await asyncio.wait_for(reader, 10)  # and the server closed the websocket, saying why
        assert websocket.close_code == 4408 and "join again" in (websocket.close_reason or "")
        assert await hears(ear, host_mouth, said, "the host's sentence again"), "not heard"
        await ear.stop()
    finally:
        await websocket.close()
        await host.leave()
        await navigator.leave()


async def test_a_non_participant_is_refused_before_the_upgrade(
    call_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str]
) -> None:
    cast = new_cast(live_platform, members)
    url = call_url(call_bridge, cast.session)
    host = CallClient(url, cast.host)
    await host.connect()
    try:
        with pytest.raises(CallRefused) as refused:
            await CallClient(url, cast.outsider, audio=PlayTrack()).connect()
        assert refused.value.status == 403 and "participant" in refused.value.reason
        with pytest.raises(CallRefused) as refused:
            await CallClient(url, "cf_not-a-token").connect()
        assert refused.value.status == 401
        assert host.participant("out-otto") is None
        assert [p["username"] for p in (host.state or {})["participants"]] == [host.you]
    finally:
        await host.leave()
    log = call_bridge.logs()
    assert cast.outsider not in log and cast.host not in log


# -- the network -------------------------------------------------------------------------------------


@pytest.fixture
def lossy_namespace() -> Iterator[tuple[str, str, Callable[[], dict[str, int]]]]:
    """A network namespace joined to this one by a veth pair, dropping 10 % of UDP packets each
    way (nftables `numgen random`): (the namespace, this side's address, the drop counters)."""
    require("netns", shutil.which("ip") is not None and shutil.which("nft") is not None, "needs ip and nft")
    require("netns", os.geteuid() == 0, "network namespaces need root")
    tag = os.urandom(3).hex()
    ns, outer, inner = f"cfcall{tag}", f"cfo{tag}", f"cfi{tag}"
    subnet = 100 + int(tag, 16) % 100
    here, there = f"10.{subnet}.77.1", f"10.{subnet}.77.2"
    try:
        run_checked("ip", "netns", "add", ns)
        run_checked("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        run_checked("ip", "link", "set", inner, "netns", ns)
        run_checked("ip", "addr", "add", f"{here}/24", "dev", outer)
        run_checked("ip", "link", "set", outer, "up")
        for command in (
            ("ip", "addr", "add", f"{there}/24", "dev", inner),
            ("ip", "link", "set", inner, "up"),
            ("ip", "link", "set", "lo", "up"),
            ("nft", "add", "table", "inet", "loss"),
            ("nft", "add chain inet loss out { type filter hook output priority 0 ; }"),
            ("nft", "add chain inet loss in { type filter hook input priority 0 ; }"),
        ):
            run_checked("ip", "netns", "exec", ns, *command)
        for chain in ("out", "in"):
            rule = f"add rule inet loss {chain} meta l4proto udp counter numgen random mod 100 < 10 counter drop"
            run_checked("ip", "netns", "exec", ns, "nft", rule)
    except AssertionError as exc:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "link", "del", outer], capture_output=True)
        require("netns", False, f"cannot make a network namespace with loss here: {exc}")

    def counters() -> dict[str, int]:
        listing = run_checked("ip", "netns", "exec", ns, "nft", "-j", "list", "table", "inet", "loss")
        packets = [
            item["counter"]["packets"]
            for entry in json.loads(listing)["nftables"]
            if "rule" in entry
            for item in entry["rule"]["expr"]
            if "counter" in item
        ]
        out_all, out_dropped, in_all, in_dropped = packets
        return {"out": out_all, "out_dropped": out_dropped, "in": in_all, "in_dropped": in_dropped}

    yield ns, here, counters
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    subprocess.run(["ip", "link", "del", outer], capture_output=True)


async def test_ten_percent_packet_loss_each_way_stays_intelligible(
    call_bridge: BridgeProcess,
    live_platform: RunningPlatform,
    members: dict[str, str],
    tmp_path: Path,
    lossy_namespace: tuple[str, str, Callable[[], dict[str, int]]],
) -> None:
    require("espeak-ng", shutil.which("espeak-ng") is not None, "apt-get install espeak-ng")
    ns, here, counters = lossy_namespace
    said, other = speech(tmp_path), speech(tmp_path, OTHER)
    wav = write_wav(tmp_path / "said.wav", said)
    cast = new_cast(live_platform, members)
    host_mouth = PlayTrack()
    host = CallClient(call_url(call_bridge, cast.session), cast.host, audio=host_mouth)
    peer: Peer | None = None
    try:
        await host.connect()
        ear = Recorder(host.received_audio).start()
        # the navigator, in the lossy namespace, says the sentence twice; the host answers
        period = len(said) / RATE + 1.0
        peer = await Peer.start(
            call_url(call_bridge, cast.session, host=here), cast.navigator, tmp_path, say=wav, repeat=period,
            prefix=("ip", "netns", "exec", ns),
        )  # fmt: skip
        await in_call(host, "nav-nora")
        begun = time.monotonic()
        # the host answers once media flows both ways (ICE and DTLS take retries under loss)
        await eventually(lambda: ear.last_arrival > begun + period, "the namespace's first sentence")
        host_mouth.say(other)
        await eventually(lambda: ear.last_arrival > begun + 2 * period + 1.5, "two sentences from the namespace")
        said_times = (await peer.stop())["said"]
        peer_heard = peer.heard()
        loss = counters()
        print(f"nftables: {loss}")
        # both directions really lost packets (about 10 % of the UDP each way)
        assert loss["out_dropped"] > 0.05 * loss["out"] and loss["in_dropped"] > 0.05 * loss["in"], loss
        recording = ear.samples()
        write_wav(tmp_path / "host-heard.wav", recording)  # kept for a failure's post-mortem
        write_wav(tmp_path / "namespace-heard.wav", peer_heard.samples())
        scores = []
        for start, end in ((begun, begun + period + 1.0), (begun + period, begun + 2 * period + 1.0)):
            # one sentence's window each (the namespace says it every `period` seconds)
            window = recording[ear.since(start) : ear.since(end)]
            followed = await asyncio.to_thread(follow, said, window)
            scores.append(await asyncio.to_thread(intelligibility, said, followed.aligned))
        back_followed = await asyncio.to_thread(follow, other, peer_heard.samples())
        back = await asyncio.to_thread(intelligibility, other, back_followed.aligned)
        print(
            f"the host's copies of the namespace's sentence: {scores}; the namespace's copy of the host's: {back:.2f}"
        )
        assert len(said_times) >= 2
        assert max(scores) >= INTELLIGIBLE, scores
        await ear.stop()
        assert back >= INTELLIGIBLE, f"the namespace's copy of the host's sentence scores {back:.2f}"
    finally:
        if peer is not None:
            peer.kill()
            await peer.process.wait()
        await host.leave()


@pytest.fixture
def turn_server(tmp_path: Path) -> Iterator[TurnServer]:
    """coturn on loopback with a static user (long-term credentials), allowed to relay to
    loopback peers (the bridge is one)."""
    binary = shutil.which("turnserver")
    require("coturn", binary is not None, "apt-get install coturn")
    assert binary is not None
    port, low = free_port(), 49_152 + int.from_bytes(os.urandom(2)) % 10_000
    password = os.urandom(8).hex()
    log = tmp_path / "turnserver.log"
    process = subprocess.Popen(
        [binary, "-n", "-v", "--listening-ip", "127.0.0.1", "--relay-ip", "127.0.0.1", "--listening-port", str(port),
         "--min-port", str(low), "--max-port", str(low + 200), "--lt-cred-mech", "--user", f"caller:{password}",
         "--realm", "codeforge.test", "--allow-loopback-peers", "--no-tls", "--no-dtls", "--no-cli",
         "--log-file", str(log), "--simple-log", "--no-stdout-log", "--pidfile", str(tmp_path / "turn.pid")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path,
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while "Total General servers" not in (log.read_text(errors="replace") if log.exists() else ""):
        if process.poll() is not None or time.monotonic() > deadline:
            text = log.read_text(errors="replace") if log.exists() else ""
            process.kill()
            raise AssertionError(f"turnserver did not start ({process.poll()}):\n{text[-2000:]}")
        time.sleep(0.05)
    yield TurnServer(f"turn:127.0.0.1:{port}?transport=udp", "caller", password)
    process.terminate()
    process.wait(10)


async def test_a_client_through_turn_only_is_heard(
    call_bridge: BridgeProcess,
    live_platform: RunningPlatform,
    members: dict[str, str],
    tmp_path: Path,
    turn_server: TurnServer,
) -> None:
    """The navigator's client gets only the TURN server and may use only relayed candidates
    (RTCConfiguration's iceTransportPolicy "relay": aioice then gathers no host candidate):
    everything it sends goes through coturn."""
    require("espeak-ng", shutil.which("espeak-ng") is not None, "apt-get install espeak-ng")
    said = speech(tmp_path)
    cast = new_cast(live_platform, members)
    url = call_url(call_bridge, cast.session)

    host = CallClient(url, cast.host)
    nav_mouth = PlayTrack()
    navigator = CallClient(url, cast.navigator, audio=nav_mouth, ice=IceSettings(turn=(turn_server,), relay_only=True))
    try:
        await host.connect()
        ear = Recorder(host.received_audio).start()
        await navigator.connect()
        assert navigator.pc is not None
        candidates = [
            line for line in navigator.pc.localDescription.sdp.splitlines() if line.startswith("a=candidate:")
        ]
        assert candidates and all(" typ relay" in line for line in candidates), candidates
        assert await hears(ear, nav_mouth, said, "the navigator's sentence through TURN"), "not heard"
        await ear.stop()
    finally:
        await navigator.leave()
        await host.leave()
    text = (tmp_path / "turnserver.log").read_text(errors="replace")
    # coturn allocated a relay for our user and bound a channel to the bridge: the media went through it
    assert "user <caller>: incoming packet ALLOCATE processed, success" in text, text[-2000:]
    assert "CHANNEL_BIND processed, success" in text or "CREATE_PERMISSION processed, success" in text
    assert turn_server.credential not in call_bridge.logs()
