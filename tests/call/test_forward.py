"""VideoForwarder (codeforge/collab/rtc/forward.py): VP8 frames forwarded from a publisher's
receiver to watchers without decoding or encoding on the server.

Three parts:
- the hook's canary: the aiortc 1.16 code forward.py relies on is still shaped as it expects;
- the forwarding rules, driven packet by packet through a real (unconnected) RTCRtpReceiver
  and its real jitter buffer, with VP8-shaped frames (the server never looks past a frame's
  header, so their contents need not decode);
- real aiortc peers in this process: publishers send a generated video whose pixels carry
  (publisher, frame counter), the server's peer connections forward, watchers decode and read
  the counter back.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from aiortc import (
    RTCCertificate,
    RTCDtlsTransport,
    RTCIceGatherer,
    RTCIceTransport,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCRtpSender,
    VideoStreamTrack,
    rtcrtpreceiver,
)
from aiortc.codecs.vpx import Vp8Decoder, Vp8Encoder
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
from aiortc.rtp import RTCP_PSFB_FIR, RTCP_PSFB_PLI, RtcpPsfbPacket, RtpPacket
from av import VideoFrame

from codeforge.collab.rtc import forward
from codeforge.collab.rtc.forward import MAX_QUEUE, ForwardTrack, Source, VideoForwarder, is_vp8_keyframe
from codeforge.collab.rtc.ice import rtc_configuration

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=97)
STEP = 3000  # 30 fps in 1/90000 s
WAIT = 20.0  # safety limit of each wait on real peers (they take well under a second)


# --- the hook's canary ---------------------------------------------------------------------


def test_aiortc_internals_the_hook_relies_on() -> None:
    """If this fails, aiortc changed under forward.py: re-read rtcrtpreceiver.py and
    rtcrtpsender.py of the new version and move the hook (or pin aiortc 1.16 again)."""
    import aiortc

    assert aiortc.__version__.startswith("1.16."), (
        f"forward.py's hook is written for aiortc 1.16, found {aiortc.__version__}"
    )
    handle = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    # encoded frames come out of the jitter buffer's add(), and only a non-None one is decoded
    assert "pli_flag, encoded_frame = self.__jitter_buffer.add(packet)" in handle
    assert "if encoded_frame is not None and self.__decoder_thread:" in handle
    assert handle.index("__jitter_buffer.add") < handle.index("__decoder_queue.put")
    assert handle.count("__decoder_queue.put") == 1
    # and add() is all the receiver ever asks of its jitter buffer (the tap stands in for it)
    assert inspect.getsource(rtcrtpreceiver).count("self.__jitter_buffer.") == 1
    # the decoder thread creates its decoder only for a frame it is given
    worker = inspect.getsource(rtcrtpreceiver.decoder_worker)
    assert worker.index("input_q.get()") < worker.index("get_decoder(codec)")
    assert hasattr(RTCRtpReceiver, forward.SEND_PLI_METHOD)
    assert "media_ssrc" in inspect.signature(getattr(RTCRtpReceiver, forward.SEND_PLI_METHOD)).parameters
    # the sender packs a Packet (never encodes it) and turns PLI/FIR into _send_keyframe()
    next_frame = inspect.getsource(RTCRtpSender._next_encoded_frame)
    assert "if isinstance(data, Frame):" in next_frame
    assert "self.__encoder.pack(data)" in next_frame
    rtcp = inspect.getsource(RTCRtpSender._handle_rtcp_packet)
    assert "RTCP_PSFB_PLI" in rtcp and "RTCP_PSFB_FIR" in rtcp
    assert f"self.{forward.SENDER_KEYFRAME_METHOD}()" in rtcp
    # a video receiver's jitter buffer lives where tap() looks, and add() answers (pli, frame)
    receiver = RTCRtpReceiver("video", _transport())
    buffer = getattr(receiver, forward.JITTER_BUFFER_ATTR)
    assert isinstance(buffer, JitterBuffer) and buffer._is_video
    packet = RtpPacket(payload_type=97, sequence_number=1, timestamp=0)
    packet._data = b"x"  # type: ignore[attr-defined]
    assert buffer.add(packet) == (False, None)
    # the tap reads a frame out of the buffer the way aiortc does: a ring of packets from _origin
    remove_frame = inspect.getsource(JitterBuffer._remove_frame)
    assert "pos = (self._origin + count) % self._capacity" in remove_frame
    assert "packet = self._packets[pos]" in remove_frame
    assert 'data=b"".join([x._data for x in packets])' in remove_frame
    assert buffer._origin == 1 and buffer._packets[1] is packet and buffer._capacity == 512


def test_keyframe_detection() -> None:
    assert is_vp8_keyframe(_key(1))
    assert not is_vp8_keyframe(_delta(1))
    assert not is_vp8_keyframe(b"")
    assert not is_vp8_keyframe(b"\x00\x00\x00\x9d\x01")  # too short for a keyframe header
    assert not is_vp8_keyframe(b"\x00\x00\x00garbage!!")  # no start code


# --- forwarding rules, packet by packet ----------------------------------------------------


def _transport() -> RTCDtlsTransport:
    return RTCDtlsTransport(RTCIceTransport(RTCIceGatherer()), [RTCCertificate.generateCertificate()])


def _key(tag: int) -> bytes:
    # frame tag with P=0 (keyframe), the start code, width/height; then our tag; two packets' worth
    return b"\x10\x02\x00\x9d\x01\x2a\x40\x01\xf0\x00" + tag.to_bytes(4, "big") + bytes(1500)


def _delta(tag: int) -> bytes:
    return b"\x31\x02\x00" + tag.to_bytes(4, "big") + bytes(40)  # one packet


def _tag(packet: Any) -> int:
    data = bytes(packet)
    return int.from_bytes(data[10:14] if is_vp8_keyframe(data) else data[3:7], "big")


class Publisher:
    """Sends VP8-shaped frames into a real RTCRtpReceiver, as its transport would: through
    aiortc's RTP handling (depayloading, NACKs, its jitter buffer) into the tap."""

    def __init__(self, ssrc: int, seq: int = 1000, timestamp: int = 5000) -> None:
        self.receiver = RTCRtpReceiver("video", _transport())
        self.receiver._track = rtcrtpreceiver.RemoteStreamTrack(kind="video")  # as RTCPeerConnection does
        self.ssrc = ssrc
        self.seq = seq
        self.timestamp = timestamp
        self.plis: list[int] = []
        self.held: list[RtpPacket] = []
        original = self.receiver._send_rtcp_pli

        async def send_pli(media_ssrc: int) -> None:  # a spy: the real method runs too
            self.plis.append(media_ssrc)
            await original(media_ssrc)

        self.receiver._send_rtcp_pli = send_pli  # type: ignore[method-assign]

    async def start(self) -> None:
        await self.receiver.receive(RTCRtpReceiveParameters(codecs=[VP8]))

    async def send(self, data: bytes, step: int = STEP, *, marker: bool = True, hold: int | None = None) -> None:
        """One frame; `marker=False`: without the RTP marker bit; `hold`: keep that packet
        back (lost, until `resend()`)."""
        payloads = Vp8Encoder._packetize(data, picture_id=1)
        for i, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=97,
                sequence_number=self.seq & 0xFFFF,
                timestamp=self.timestamp & 0xFFFFFFFF,
                ssrc=self.ssrc,
                payload=payload,
                marker=int(marker and i == len(payloads) - 1),
            )
            self.seq += 1
            if i == hold:
                self.held.append(packet)
            else:
                await self.receiver._handle_rtp_packet(packet, arrival_time_ms=0)
        self.timestamp += step

    async def resend(self) -> None:
        for packet in self.held:
            await self.receiver._handle_rtp_packet(packet, arrival_time_ms=0)
        self.held = []

    async def stop(self) -> None:
        await self.receiver.stop()


@pytest.fixture
async def publishers() -> Any:
    made: list[Publisher] = []

    async def make(ssrc: int, **kw: int) -> Publisher:
        publisher = Publisher(ssrc, **kw)
        await publisher.start()
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        await publisher.stop()


class Clock:
    """forward.py's clock, stepped by the test (PLI spacing is by time)."""

    def __init__(self) -> None:
        self.now = 100.0

    def step(self, seconds: float = forward.PLI_INTERVAL) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    made = Clock()
    monkeypatch.setattr(forward, "_now", lambda: made.now)
    return made


async def _settle() -> None:
    """Let the tasks started so far run (PLIs are sent from tasks)."""
    for _ in range(3):
        await asyncio.sleep(0)


async def _drain(track: ForwardTrack) -> list[Any]:
    await _settle()
    out = []
    while track.backlog:
        out.append(await track.recv())
    return out


async def test_a_watcher_starts_at_a_keyframe_and_asks_for_one(publishers: Any, clock: Clock) -> None:
    forwarder = VideoForwarder()
    ann = await publishers(111)
    source = forwarder.tap(ann.receiver, "ann")
    await ann.send(_key(0))
    await ann.send(_delta(1))
    assert source.frames == 2 and ann.plis == []  # nobody watches: nothing asked

    track = source.subscribe()  # the PLI goes out
    await ann.send(_delta(2))  # a delta: dropped
    assert await _drain(track) == []
    assert ann.plis == [111]
    await ann.send(_key(3))
    await ann.send(_delta(4))
    packets = await _drain(track)
    assert [_tag(p) for p in packets] == [3, 4]
    assert [p.is_keyframe for p in packets] == [True, False]
    assert [p.pts for p in packets] == [0, STEP]  # the watcher's own timeline, in 1/90000 s
    assert all(p.time_base.denominator == 90000 for p in packets)
    clock.step()
    await ann.send(_delta(5))
    assert [_tag(p) for p in await _drain(track)] == [5]
    assert ann.plis == [111]  # the keyframe came: no retry


async def test_a_frame_is_forwarded_at_its_last_packet_and_only_once(publishers: Any) -> None:
    forwarder = VideoForwarder()
    ann = await publishers(12)
    source = forwarder.tap(ann.receiver, "ann")
    track = source.subscribe()
    await ann.send(_key(0), hold=1)  # its second packet is lost for now (a NACK goes out)
    assert await _drain(track) == []
    await ann.resend()  # the retransmission completes it
    assert [_tag(p) for p in await _drain(track)] == [0]
    await ann.send(_key(1), hold=0)  # its first packet is late: the marked one came first
    assert await _drain(track) == []
    await ann.resend()
    assert [_tag(p) for p in await _drain(track)] == [1]
    await ann.send(_delta(2), marker=False)  # no marker bit: complete when the next frame begins
    assert await _drain(track) == []
    await ann.send(_delta(3))
    await ann.send(_delta(4))
    assert [_tag(p) for p in await _drain(track)] == [2, 3, 4]
    assert source.frames == 5


async def test_keyframe_requests_are_spaced_and_retried(publishers: Any, clock: Clock) -> None:
    forwarder = VideoForwarder()
    ann = await publishers(5)
    source = forwarder.tap(ann.receiver, "ann")
    await ann.send(_key(0))
    tracks = [source.subscribe() for _ in range(5)]  # five watchers join at once: one PLI
    source.request_keyframe()
    await ann.send(_delta(1))
    assert await _drain(tracks[0]) == []
    assert ann.plis == [5]
    clock.step()
    await ann.send(_delta(2))  # no keyframe came: the PLI is sent again
    await ann.send(_key(3))
    clock.step()
    await ann.send(_delta(4))
    for track in tracks:
        assert [_tag(p) for p in await _drain(track)] == [3, 4]
    assert ann.plis == [5, 5]  # satisfied: no more


async def test_switch_waits_for_the_new_sources_keyframe(publishers: Any, clock: Clock) -> None:
    forwarder = VideoForwarder()
    ann, bob = await publishers(1), await publishers(2, timestamp=4_000_000_000)
    ann_source, bob_source = forwarder.tap(ann.receiver, "ann"), forwarder.tap(bob.receiver, "bob")
    track = ann_source.subscribe()
    await ann.send(_key(10))
    await ann.send(_delta(11))
    await bob.send(_delta(20))  # bob runs mid-GOP
    out = await _drain(track)
    track.switch(bob_source)
    assert track.source is bob_source
    await bob.send(_delta(21))
    await ann.send(_delta(12))  # ann's video goes on while bob's keyframe is awaited
    out += await _drain(track)
    assert bob.plis == [2]
    clock.step(0.2)
    await bob.send(_key(22))  # bob's keyframe: the switch happens
    await ann.send(_delta(13))  # no longer forwarded
    await bob.send(_delta(23))
    out += await _drain(track)
    assert [_tag(p) for p in out] == [10, 11, 12, 22, 23]
    assert [p.is_keyframe for p in out] == [True, False, False, True, False]
    pts = [p.pts for p in out]
    assert pts[:3] == [0, STEP, 2 * STEP]
    # after the switch: on from ann's last frame by the time that passed, then bob's pace
    assert pts[3] == pts[2] + round(0.2 * 90000) and pts[4] - pts[3] == STEP
    assert ann_source._tracks == set() and bob_source._tracks == {track}

    track.switch(bob_source)  # the same source again: nothing changes
    track.switch(ann_source)
    track.switch(bob_source)  # changed its mind before ann's keyframe: stays on bob
    await bob.send(_delta(24))
    await ann.send(_key(14))
    assert [_tag(p) for p in await _drain(track)] == [24]
    assert ann_source._tracks == set()

    track.switch(None)  # watch nobody
    await bob.send(_key(25))
    assert await _drain(track) == [] and track.source is None


async def test_a_loss_holds_frames_until_a_keyframe(publishers: Any, clock: Clock) -> None:
    forwarder = VideoForwarder()
    ann = await publishers(7)
    track = forwarder.tap(ann.receiver, "ann").subscribe()
    await ann.send(_key(0))
    out = await _drain(track)
    assert ann.plis == [7]  # on subscribe
    ann.seq -= 300  # the jitter buffer resets (as after a long loss) and reports it
    await ann.send(_delta(1))
    await ann.send(_delta(2))
    out += await _drain(track)
    assert ann.plis == [7, 7]  # aiortc's own PLI for the loss
    clock.step()
    await ann.send(_delta(3))  # still no keyframe: asked again
    await _settle()
    assert ann.plis == [7, 7, 7]
    await ann.send(_key(4))
    await ann.send(_delta(5))
    out += await _drain(track)
    assert [_tag(p) for p in out] == [0, 4, 5]


async def test_timestamps_stay_monotonic_through_wraps_and_restarts(publishers: Any) -> None:
    forwarder = VideoForwarder()
    ann = await publishers(9, timestamp=(1 << 32) - STEP)
    track = forwarder.tap(ann.receiver, "ann").subscribe()
    await ann.send(_key(0))
    await ann.send(_delta(1))  # wraps past 2**32
    await ann.send(_delta(2))
    ann.timestamp = 2_000_000_000  # the publisher replaced its track: its timestamps jump
    await ann.send(_delta(3))
    pts = [p.pts for p in await _drain(track)]
    assert pts[:3] == [0, STEP, 2 * STEP]
    assert len(pts) == 4 and pts[3] > pts[2] and pts[3] - pts[2] < 10 * 90000


async def test_a_publisher_that_leaves(publishers: Any) -> None:
    forwarder = VideoForwarder()
    ann, bob = await publishers(1), await publishers(2)
    ann_source, bob_source = forwarder.tap(ann.receiver, "ann"), forwarder.tap(bob.receiver, "bob")
    watching_ann, switching = ann_source.subscribe(), bob_source.subscribe()
    await ann.send(_key(0))
    switching.switch(ann_source)  # waits for ann's keyframe
    forwarder.remove("ann")
    assert ann_source.closed and forwarder.source("ann") is None
    assert watching_ann.source is None and switching.source is bob_source  # bob's, until it switches
    await ann.send(_key(1))  # frames still arrive from ann: nobody gets them, nothing breaks
    assert [_tag(p) for p in await _drain(watching_ann)] == [0]  # what was queued before
    assert await _drain(switching) == []
    ann_source.request_keyframe()  # a late request to a closed source is ignored
    watching_ann.switch(ann_source)  # so is switching to it
    assert watching_ann.source is None

    watching_ann.switch(bob_source)
    await bob.send(_key(20))
    assert [_tag(p) for p in await _drain(watching_ann)] == [20]
    assert [_tag(p) for p in await _drain(switching)] == [20]
    assert forwarder.stats() == {"sources": 1, "watchers": 2, "frames": 1}


async def test_a_newer_client_of_the_same_user_takes_the_watchers(publishers: Any) -> None:
    forwarder = VideoForwarder()
    old, new = await publishers(1), await publishers(2)
    old_source = forwarder.tap(old.receiver, "ann")
    track = old_source.subscribe()
    new_source = forwarder.tap(new.receiver, "ann")
    assert old_source.closed and forwarder.source("ann") is new_source and track.source is new_source
    await new.send(_key(1))
    assert [_tag(p) for p in await _drain(track)] == [1]
    # tapping the same receiver again (sharing again) replaces its source too
    again = forwarder.tap(new.receiver, "ann")
    assert new_source.closed and track.source is again


async def test_a_sender_that_stalls_restarts_at_a_keyframe(publishers: Any, clock: Clock) -> None:
    forwarder = VideoForwarder()
    ann = await publishers(3)
    track = forwarder.tap(ann.receiver, "ann").subscribe()
    await ann.send(_key(0))
    clock.step()
    for tag in range(1, MAX_QUEUE + 2):
        await ann.send(_delta(tag))
    # frames 0..59 queued, 60 overflows: all dropped; 61 is no keyframe: dropped too
    assert track.backlog == 0 and track.dropped == MAX_QUEUE + 2
    clock.step()
    await ann.send(_delta(62))
    await asyncio.sleep(0)
    assert len(ann.plis) == 1  # on subscribe; none while the sender does not read
    reading = asyncio.ensure_future(track.recv())  # it reads again: now the keyframe is asked for
    await _settle()
    assert len(ann.plis) == 2
    await ann.send(_key(1000))
    assert _tag(await reading) == 1000


async def test_a_watchers_pli_or_fir_asks_the_publisher(publishers: Any, clock: Clock) -> None:
    forwarder = VideoForwarder()
    ann = await publishers(4)
    track = forwarder.tap(ann.receiver, "ann").subscribe()
    await ann.send(_key(0))
    await asyncio.sleep(0)
    assert ann.plis == [4]
    sender = RTCRtpSender(track, _transport())
    for fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
        clock.step()
        await sender._handle_rtcp_packet(RtcpPsfbPacket(fmt=fmt, ssrc=99, media_ssrc=sender._ssrc))
        await asyncio.sleep(0)
    assert ann.plis == [4, 4, 4]
    # a sender of something else is left as aiortc made it
    other = RTCRtpSender(VideoStreamTrack(), _transport())
    await other._handle_rtcp_packet(RtcpPsfbPacket(fmt=RTCP_PSFB_PLI, ssrc=99, media_ssrc=other._ssrc))
    assert other._RTCRtpSender__force_keyframe  # type: ignore[attr-defined]


async def test_a_stopped_track_ends(publishers: Any) -> None:
    forwarder = VideoForwarder()
    ann = await publishers(6)
    source = forwarder.tap(ann.receiver, "ann")
    track = source.subscribe()
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)
    track.stop()
    with pytest.raises(MediaStreamError):
        await waiting
    with pytest.raises(MediaStreamError):
        await track.recv()
    assert source._tracks == set()
    track.switch(source)  # a stopped track watches nothing (aiortc's sender stopped with it)
    assert track.source is None and source._tracks == set()


async def test_tap_refuses_what_it_cannot_forward() -> None:
    forwarder = VideoForwarder()
    with pytest.raises(ValueError, match="video receiver"):
        forwarder.tap(RTCRtpReceiver("audio", _transport()), "ann")

    class NotAReceiver:
        pass

    with pytest.raises(RuntimeError, match=r"pin aiortc==1\.16\.0"):
        forwarder.tap(NotAReceiver(), "ann")  # type: ignore[arg-type]


async def test_tapping_after_media_began_is_logged(publishers: Any, caplog: pytest.LogCaptureFixture) -> None:
    ann = await publishers(8)
    # a packet came in before the tap (an unknown payload type, so nothing is decoded here)
    await ann.receiver._handle_rtp_packet(RtpPacket(payload_type=100, sequence_number=1, ssrc=8), arrival_time_ms=0)
    forwarder = VideoForwarder()
    with caplog.at_level(logging.WARNING, logger="codeforge.collab.rtc.forward"):
        forwarder.tap(ann.receiver, "ann")
    assert "tap right after setRemoteDescription" in caplog.text
    caplog.clear()
    forwarder.remove("ann")  # stops sharing, then shares again: the receiver stayed tapped
    with caplog.at_level(logging.WARNING, logger="codeforge.collab.rtc.forward"):
        forwarder.tap(ann.receiver, "ann")
    assert caplog.text == ""


# --- real peers ----------------------------------------------------------------------------

WIDTH, HEIGHT, BARS = 320, 240, 16
BAR = WIDTH // BARS


class PatternTrack(VideoStreamTrack):
    """30 fps frames whose 16 vertical bars spell (publisher << 12) | frame counter."""

    def __init__(self, publisher: int) -> None:
        super().__init__()
        self.publisher = publisher
        self.count = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        code = (self.publisher << 12) | (self.count & 0xFFF)
        self.count += 1
        luma = np.full((HEIGHT, WIDTH), 16, np.uint8)
        for bit in range(BARS):
            if code >> bit & 1:
                luma[:, bit * BAR : (bit + 1) * BAR] = 235
        frame = VideoFrame.from_ndarray(
            np.concatenate([luma, np.full((HEIGHT // 2, WIDTH), 128, np.uint8)]), format="yuv420p"
        )
        frame.pts, frame.time_base = pts, time_base
        return frame


def read_code(frame: VideoFrame) -> int | None:
    """(publisher << 12) | counter, or None for a picture that is not cleanly one of ours."""
    if (frame.width, frame.height) != (WIDTH, HEIGHT):
        return None
    luma = frame.to_ndarray(format="yuv420p")[:HEIGHT].astype(np.float32)
    levels = [luma[HEIGHT // 4 : 3 * HEIGHT // 4, bit * BAR + 4 : (bit + 1) * BAR - 4].mean() for bit in range(BARS)]
    if any(60 < level < 190 for level in levels):
        return None
    return sum(1 << bit for bit, level in enumerate(levels) if level >= 128)


class Watcher:
    """A watcher's peer connection, recording (pts, publisher, counter) of each decoded frame."""

    def __init__(self, pc: RTCPeerConnection) -> None:
        self.pc = pc
        self.frames: list[tuple[int, int | None, int | None]] = []
        self.changed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self, track: MediaStreamTrack) -> None:
        self.task = asyncio.ensure_future(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, VideoFrame)
            code = read_code(frame)
            self.frames.append(
                (frame.pts or 0, None if code is None else code >> 12, None if code is None else code & 0xFFF)
            )
            self.changed.set()

    def of(self, publisher: int) -> list[int]:
        return [count for _, who, count in self.frames if who == publisher and count is not None]

    async def wait(self, what: str, done: Callable[[], bool]) -> None:
        async def until() -> None:
            while not done():
                self.changed.clear()
                await self.changed.wait()

        try:
            await asyncio.wait_for(until(), WAIT)
        except TimeoutError:
            pytest.fail(f"the watcher never got {what}; it decoded {[(w, c) for _, w, c in self.frames][-20:]}")


class Room:
    """The server's side (a VideoForwarder and one peer connection per participant) and the
    participants' peer connections, all in this process, signalled directly."""

    def __init__(self) -> None:
        self.forwarder = VideoForwarder()
        self.pcs: list[RTCPeerConnection] = []
        self.server_pcs: list[RTCPeerConnection] = []

    def _pc(self, server: bool) -> RTCPeerConnection:
        pc = RTCPeerConnection(rtc_configuration())  # host candidates, loopback included
        (self.server_pcs if server else self.pcs).append(pc)
        return pc

    async def publish(self, key: str, publisher: int) -> tuple[RTCPeerConnection, RTCPeerConnection, Source]:
        pc, server = self._pc(False), self._pc(True)
        pc.addTransceiver(PatternTrack(publisher), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        await server.setRemoteDescription(pc.localDescription)
        source = self.forwarder.tap(server.getTransceivers()[0].receiver, key)  # before it connects
        await server.setLocalDescription(await server.createAnswer())
        await pc.setRemoteDescription(server.localDescription)
        return pc, server, source

    async def watch(self, track: ForwardTrack) -> Watcher:
        pc, server = self._pc(False), self._pc(True)
        watcher = Watcher(pc)
        pc.on("track", watcher.start)
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        await server.setRemoteDescription(pc.localDescription)
        server.addTrack(track)
        await server.setLocalDescription(await server.createAnswer())
        await pc.setRemoteDescription(server.localDescription)
        return watcher

    async def close(self) -> None:
        self.forwarder.close()
        await asyncio.gather(*(pc.close() for pc in self.pcs + self.server_pcs))


class CodecCount:
    """Which VP8 decoders and encoders the process made and used (any peer connection)."""

    def __init__(self) -> None:
        self.decoders: list[Vp8Decoder] = []
        self.encoded: set[int] = set()
        self.packed: set[int] = set()


@pytest.fixture
def codecs(monkeypatch: pytest.MonkeyPatch) -> Iterator[CodecCount]:
    count = CodecCount()
    init, encode, pack = Vp8Decoder.__init__, Vp8Encoder.encode, Vp8Encoder.pack

    def counted_init(self: Vp8Decoder) -> None:
        count.decoders.append(self)
        init(self)

    def counted_encode(self: Vp8Encoder, frame: Any, force_keyframe: bool = False) -> Any:
        count.encoded.add(id(self))
        return encode(self, frame, force_keyframe)

    def counted_pack(self: Vp8Encoder, packet: Any) -> Any:
        count.packed.add(id(self))
        return pack(self, packet)

    monkeypatch.setattr(Vp8Decoder, "__init__", counted_init)
    monkeypatch.setattr(Vp8Encoder, "encode", counted_encode)
    monkeypatch.setattr(Vp8Encoder, "pack", counted_pack)
    yield count


@pytest.fixture
async def room() -> Any:
    made = Room()
    yield made
    await made.close()


def _server_encoders(room: Room) -> list[Vp8Encoder]:
    encoders = []
    for pc in room.server_pcs:
        for transceiver in pc.getTransceivers():
            encoder = getattr(transceiver.sender, "_RTCRtpSender__encoder", None)
            if encoder is not None:
                encoders.append(encoder)
    return encoders


def _steady(frames: list[tuple[int, int | None, int | None]], publisher: int) -> None:
    """Frames of one publisher: counters increase, and the watcher's timestamps advance by
    exactly the publisher's 1/30 s per frame (smooth playback: no jumps, no repeats)."""
    ours = [(pts, count) for pts, who, count in frames if who == publisher and count is not None]
    assert len(ours) >= 2
    for (pts0, count0), (pts1, count1) in itertools.pairwise(ours):
        assert count1 > count0, ours
        # ±1: PyAV's decoder rounds pts through its own time base (2999, 6000, 9000, 11999, ...)
        assert abs(pts1 - pts0 - (count1 - count0) * STEP) <= 1, ours


async def test_watchers_see_the_publisher_and_the_server_never_decodes_or_encodes(
    room: Room, codecs: CodecCount, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aiortc")
    publisher_pc, _, source = await room.publish("ann", 1)
    first = await room.watch(source.subscribe())
    await first.wait("ten frames of ann", lambda: len(first.of(1)) >= 10)
    # aiortc's encoder sends a keyframe only every 3000 frames: a late watcher needs a PLI
    late = await room.watch(source.subscribe())
    await late.wait("ten frames of ann", lambda: len(late.of(1)) >= 10)

    for watcher in (first, late):
        assert all(who == 1 for _, who, _ in watcher.frames), "a picture was corrupt or not ann's"
        _steady(watcher.frames, 1)
    assert late.of(1)[0] > first.of(1)[0]

    # a watcher's PLI reaches the publisher's encoder
    publisher_sender = publisher_pc.getTransceivers()[0].sender
    asked: list[int] = []
    original = publisher_sender._send_keyframe

    def send_keyframe() -> None:
        asked.append(1)
        original()

    publisher_sender._send_keyframe = send_keyframe  # type: ignore[method-assign]
    receiver = late.pc.getTransceivers()[0].receiver
    (ssrc,) = [s.source for s in receiver.getSynchronizationSources()]
    await receiver._send_rtcp_pli(ssrc)
    await first.wait("the publisher's keyframe after a watcher's PLI", lambda: bool(asked))

    # the server: two decoders in the process (one per watcher), none for the publisher's
    # stream; its senders packed frames with encoders that never encoded (no libvpx context)
    assert len(codecs.decoders) == 2
    encoders = _server_encoders(room)
    assert len(encoders) == 2
    for encoder in encoders:
        assert id(encoder) in codecs.packed and id(encoder) not in codecs.encoded and encoder.codec is None
    assert len(codecs.encoded) == 1  # the publisher's
    assert not [r for r in caplog.records if "decode" in r.getMessage()]


async def test_switching_sources_and_a_publisher_leaving(
    room: Room, codecs: CodecCount, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aiortc")
    _, _, ann = await room.publish("ann", 1)
    bob_pc, bob_server, bob = await room.publish("bob", 2)
    track = ann.subscribe()
    watcher = await room.watch(track)
    await watcher.wait("ann's video", lambda: len(watcher.of(1)) >= 5)

    track.switch(bob)  # no renegotiation: the same track and m-line
    await watcher.wait("bob's video after the switch", lambda: len(watcher.of(2)) >= 10)
    whose = [who for _, who, _ in watcher.frames]
    assert None not in whose, "a corrupt picture: the switch sent a partial GOP"
    switched = whose.index(2)
    assert set(whose[:switched]) == {1} and set(whose[switched:]) == {2}
    pts = [p for p, _, _ in watcher.frames]
    assert all(b > a for a, b in itertools.pairwise(pts)), "the watcher's timestamps went back"
    _steady(watcher.frames, 1)
    _steady(watcher.frames, 2)

    # bob leaves: the watcher gets nothing more, its connection stays, and it can switch back
    room.forwarder.remove("bob")
    await bob_pc.close()
    await bob_server.close()
    assert track.source is None and bob.closed
    seen, ann_seen = len(watcher.frames), len(watcher.of(1))
    track.switch(ann)
    await watcher.wait("ann's video again", lambda: len(watcher.of(1)) >= ann_seen + 5)
    after = [who for _, who, _ in watcher.frames[seen:]]  # bob's last frames may still have been on their way
    assert None not in after and set(after[after.index(1) :]) == {1}
    assert watcher.pc.connectionState == "connected"
    assert len(codecs.decoders) == 1 and all(e.codec is None for e in _server_encoders(room))
    assert not [r for r in caplog.records if "decode" in r.getMessage()]


async def test_a_publisher_that_stops_and_shares_something_else(room: Room, codecs: CodecCount) -> None:
    """Stopping and starting a share is `replaceTrack` on the client: the same m-line, but the
    new track's timestamps start over (aiortc) or jump (browsers). The watcher's must not."""
    publisher_pc, _, source = await room.publish("ann", 1)
    watcher = await room.watch(source.subscribe())
    await watcher.wait("ann's camera", lambda: len(watcher.of(1)) >= 5)
    sender = publisher_pc.getTransceivers()[0].sender
    sender.replaceTrack(None)  # stops sharing: nothing is sent, the watcher keeps its connection
    frames = source.frames
    await asyncio.sleep(0.1)  # lets the publisher's sender notice (no assertion on time)
    sender.replaceTrack(PatternTrack(3))  # shares its screen now
    await watcher.wait("ann's screen", lambda: len(watcher.of(3)) >= 5)
    assert source.frames > frames
    whose = [who for _, who, _ in watcher.frames]
    assert None not in whose and set(whose[whose.index(3) :]) == {3}
    pts = [p for p, _, _ in watcher.frames]
    assert all(b > a for a, b in itertools.pairwise(pts)), "the watcher's timestamps went back"
    _steady(watcher.frames, 3)
    assert len(codecs.decoders) == 1 and all(e.codec is None for e in _server_encoders(room))
