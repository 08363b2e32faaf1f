"""Video forwarding without re-encoding (docs/voice.md, forward.py): a publisher's camera or
screen share goes to any number of watchers as the VP8 frames the publisher encoded.

The hook (aiortc 1.16, pinned): `RTCRtpReceiver._handle_rtp_packet` unwraps RTX, sends NACKs,
depayloads VP8 and hands each packet to its `JitterBuffer.add(packet) -> (pli, frame)`; it
queues `frame` for its decoder thread only when `frame` is not None. `tap()` puts a `_Tap` in
the jitter buffer's place (the receiver's private `__jitter_buffer` attribute): it calls the
real jitter buffer, keeps the completed encoded frame for the forwarder and returns
`(pli, None)`. So everything aiortc does on the way in still happens (NACK, RTX, statistics,
receiver reports, its own PLI on loss), but no frame ever reaches the decoder queue: the
decoder thread aiortc starts in `receive()` stays blocked on its empty queue and never
creates a VP8 decoder (aiortc creates it on the first frame only). Why this hook: it is one
call on a two-method object, it sits after all of aiortc's packet handling, and the frames
it yields are exactly what the decoder would get (the tap also completes a frame at its
marker packet instead of the next frame's first one: `_Tap`). tests/call/test_forward.py checks the
shape of this code (and of `RTCRtpSender._send_keyframe` below) and fails loudly when an
aiortc upgrade moves it.

Tap a receiver before its peer connection connects (right after `setRemoteDescription`):
frames that arrive before the tap go to aiortc's decoder.

Watchers: `ForwardTrack.recv()` returns `av.Packet`s; aiortc's `RTCRtpSender` then calls
`Vp8Encoder.pack` (payload descriptor and RTP packets) and never `encode`. A watcher's
PLI/FIR reaches `RTCRtpSender._send_keyframe`, which only sets a flag its encoder would use;
`_install_sender_hook` wraps that method (once, for every sender) so that for a sender whose
track is a `ForwardTrack` the request goes on to the publisher as an RTCP PLI.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import aiortc
import av
from aiortc import RTCRtpReceiver, RTCRtpSender
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket
from aiortc.utils import uint16_gt

__all__ = [
    "CLOCK_RATE",
    "MAX_QUEUE",
    "PLI_INTERVAL",
    "ForwardTrack",
    "Source",
    "VideoForwarder",
    "is_vp8_keyframe",
]

log = logging.getLogger(__name__)

CLOCK_RATE = 90000  # RTP video clock: pts of forwarded packets are in 1/90000 s
TIME_BASE = fractions.Fraction(1, CLOCK_RATE)
MAX_QUEUE = 60  # frames a watcher's sender may fall behind (2 s at 30 fps) before it restarts at a keyframe
PLI_INTERVAL = 0.5  # seconds between two PLIs to one publisher (many watchers joining at once ask once)
MAX_GAP = 10 * CLOCK_RATE  # a publisher's timestamp jump beyond this (or backwards) is a new stream

# aiortc 1.16's private names this module relies on (checked by tests/call/test_forward.py)
JITTER_BUFFER_ATTR = "_RTCRtpReceiver__jitter_buffer"
SEND_PLI_METHOD = "_send_rtcp_pli"
SENDER_KEYFRAME_METHOD = "_send_keyframe"


def _now() -> float:  # the forwarder's clock (a function, so tests can step it)
    return time.monotonic()


def is_vp8_keyframe(data: bytes) -> bool:
    """A VP8 frame is a keyframe when the frame tag's P bit is 0 and the start code follows
    (RFC 6386, 9.1)."""
    return len(data) >= 10 and not data[0] & 0x01 and data[3:6] == b"\x9d\x01\x2a"


@dataclass(frozen=True, slots=True)
class _Frame:
    data: bytes
    timestamp: int  # the publisher's RTP timestamp, unwrapped (never decreases)
    keyframe: bool
    arrival: float  # _now()


class _Tap:
    """Stands in for an RTCRtpReceiver's JitterBuffer: frames go to the source, not to the decoder.

    aiortc's jitter buffer completes a frame when the next frame's first packet arrives: a
    frame late, which for a screen share that sends a frame only when the screen changes can
    be a second. So the tap also takes the oldest frame as soon as all its packets up to the
    one with the RTP marker bit are in (the rest of the buffer's rules, loss and order, stay
    aiortc's), and skips it when aiortc completes it later."""

    def __init__(self, inner: JitterBuffer) -> None:
        self.inner = inner
        self.source: Source | None = None
        self._early: int | None = None  # RTP timestamp of the frame taken before aiortc completed it
        self._max_seq: int | None = None

    @property
    def capacity(self) -> int:
        return self.inner.capacity

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        pli, frame = self.inner.add(packet)
        frames: list[JitterFrame] = []
        if pli:
            self._early = None  # aiortc dropped what it held
        if frame is not None:
            if frame.timestamp != self._early:
                frames.append(frame)
            self._early = None
        # the oldest frame can complete only with its marker packet or a late (retransmitted)
        # one; otherwise aiortc completes it itself when the next frame begins
        late = self._max_seq is not None and uint16_gt(self._max_seq, packet.sequence_number)
        if not late:
            self._max_seq = packet.sequence_number
        early = self._complete_at_origin() if packet.marker or late else None
        if early is not None and early.timestamp != self._early:
            self._early = early.timestamp
            frames.append(early)
        source = self.source
        if source is not None:
            try:
                source._on_packet(packet.ssrc, pli, frames)
            except Exception:  # a bug here must not end the receiver's (the DTLS transport's) loop
                log.exception("video forwarder: dropping a frame of %s", source.key)
        # pli: aiortc sends its own PLI for the loss; None: nothing for its decoder thread
        return pli, None

    def _complete_at_origin(self) -> JitterFrame | None:
        """The oldest frame in the buffer if all its packets, through the marked one, are in."""
        inner = self.inner
        origin = inner._origin
        if origin is None:
            return None
        packets: list[RtpPacket] = []
        for count in range(inner._capacity):
            packet = inner._packets[(origin + count) % inner._capacity]
            if packet is None or (packets and packet.timestamp != packets[0].timestamp):
                return None  # a packet missing (NACKed, or lost), or no marker seen
            packets.append(packet)
            if packet.marker:
                return JitterFrame(data=b"".join(p._data for p in packets), timestamp=packets[0].timestamp)  # type: ignore[attr-defined]
        return None

    def __getattr__(self, name: str) -> Any:  # anything else aiortc may ask of a jitter buffer
        return getattr(self.inner, name)


class Source:
    """One publisher's share as the server receives it (made by `VideoForwarder.tap`)."""

    def __init__(self, forwarder: VideoForwarder, receiver: RTCRtpReceiver, key: Hashable) -> None:
        self.key = key
        self.receiver = receiver
        self._forwarder = forwarder
        self._closed = False
        self._tracks: set[ForwardTrack] = set()  # watching it now or waiting for its keyframe
        self._ssrc: int | None = None
        self._last_raw: int | None = None
        self._extended = 0
        self._last_arrival = 0.0
        self._broken = False  # frames were lost: only a keyframe repairs the stream
        self._pli_wanted = False
        self._pli_at: float | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.frames = 0
        self.keyframes = 0
        self.plis = 0

    @property
    def closed(self) -> bool:
        return self._closed

    def subscribe(self) -> ForwardTrack:
        """A new watcher's track; it starts at this source's next keyframe (requested now)."""
        track = ForwardTrack()
        track.switch(self)
        return track

    def request_keyframe(self) -> None:
        """Ask the publisher for a keyframe (RTCP PLI); at most one every PLI_INTERVAL, the
        rest wait for the next frame (and are answered by the same keyframe)."""
        if self._closed:
            return
        self._pli_wanted = True
        self._maybe_send_pli(_now())

    def close(self) -> None:
        """The publisher stopped sharing or left: its watchers show nothing until they switch."""
        if self._closed:
            return
        self._closed = True
        self._forwarder._forget(self)
        for track in list(self._tracks):
            track._source_closed(self)
        self._tracks.clear()
        for task in list(self._tasks):
            task.cancel()

    def _maybe_send_pli(self, now: float) -> None:
        if self._ssrc is None or (self._pli_at is not None and now - self._pli_at < PLI_INTERVAL):
            return  # no packet yet (its SSRC is unknown) or asked very recently: the next frame retries
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # called outside the event loop: the next packet (in the loop) sends it
        self._pli_wanted = False
        self._pli_at = now
        self.plis += 1
        send: Callable[[int], Any] = getattr(self.receiver, SEND_PLI_METHOD)
        task = loop.create_task(send(self._ssrc))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _unwrap(self, timestamp: int, now: float) -> int:
        if self._last_raw is not None:
            delta = (timestamp - self._last_raw) & 0xFFFFFFFF
            if delta >= 1 << 31:
                delta -= 1 << 32
            if not 0 <= delta <= MAX_GAP:
                # a new stream on the same m-line (the publisher replaced its track): go on
                # from where the last frame was by the time that passed
                delta = max(1, round((now - self._last_arrival) * CLOCK_RATE))
            self._extended += delta
        self._last_raw = timestamp
        self._last_arrival = now
        return self._extended

    def _on_packet(self, ssrc: int, lost: bool, frames: list[JitterFrame]) -> None:
        if self._closed:
            return
        now = _now()
        self._ssrc = ssrc
        if lost:
            self._broken = True
            self._pli_at = now  # aiortc's receiver has just sent a PLI for it
        if not frames and self._pli_wanted:
            self._maybe_send_pli(now)
        for frame in frames:
            self._on_frame(frame, now)

    def _on_frame(self, frame: JitterFrame, now: float) -> None:
        keyframe = is_vp8_keyframe(frame.data)
        timestamp = self._unwrap(frame.timestamp, now)
        self.frames += 1
        if keyframe:
            self.keyframes += 1
            self._broken = False
            self._pli_wanted = False
        elif self._pli_wanted or (self._broken and self._tracks) or any(t._waits_for(self) for t in self._tracks):
            self._maybe_send_pli(now)  # also retries a PLI that got lost
        if self._broken:
            return  # a delta frame after a loss would show corrupted pictures
        forwarded = _Frame(frame.data, timestamp, keyframe, now)
        for track in list(self._tracks):
            track._offer(self, forwarded)


class ForwardTrack(MediaStreamTrack):
    """What one watcher's sender sends: a source's VP8 frames as `av.Packet`s, switchable."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self._current: Source | None = None
        self._pending: Source | None = None  # switching to it at its next keyframe
        self._need_keyframe = True
        self._offset: int | None = None  # out pts = source timestamp + offset
        self._last_out: int | None = None
        self._last_arrival = 0.0
        self._queue: deque[av.Packet] = deque()
        self._ready = asyncio.Event()
        self.sent = 0
        self.dropped = 0
        self._stalled = False

    @property
    def backlog(self) -> int:
        """Frames waiting for the watcher's sender."""
        return len(self._queue)

    @property
    def source(self) -> Source | None:
        """The source this track shows, or will show once its keyframe arrives."""
        return self._pending or self._current

    def switch(self, source: Source | None) -> None:
        """Watch `source` (None: nothing). No renegotiation: the current video goes on until
        the new source's keyframe, then the new one starts with it (never a partial GOP)."""
        if source is not None and (source.closed or self.readyState != "live"):
            source = None
        if source is None:
            self._detach(self._pending)
            self._detach(self._current)
            self._pending = self._current = None
            self._queue.clear()
            return
        if source is self._current:
            self._detach(self._pending)
            self._pending = None
            return
        if self._current is None:
            self._detach(self._pending)
            self._pending = None
            self._current = source
            self._need_keyframe = True
            self._offset = None
        elif source is not self._pending:
            self._detach(self._pending)
            self._pending = source
        source._tracks.add(self)
        source.request_keyframe()

    def request_keyframe(self) -> None:
        """The watcher lost a picture (its PLI/FIR): ask whoever it watches for a keyframe."""
        for source in (self._current, self._pending):
            if source is not None:
                source.request_keyframe()

    async def recv(self) -> av.Packet:
        if self._stalled:
            # the sender reads again after the backlog was dropped: now a keyframe is worth asking for
            self._stalled = False
            if self._need_keyframe and self._current is not None:
                self._current.request_keyframe()
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            if self._queue:
                packet = self._queue.popleft()
                self.sent += 1
                return packet
            self._ready.clear()
            await self._ready.wait()

    def stop(self) -> None:
        super().stop()
        self.switch(None)
        self._ready.set()  # a recv() waiting ends with MediaStreamError

    def _detach(self, source: Source | None) -> None:
        # the caller clears the role `source` had (pending and current are never the same)
        if source is not None:
            source._tracks.discard(self)

    def _waits_for(self, source: Source) -> bool:
        # a stalled sender is not waiting: its PLIs would only make the publisher's video worse
        return not self._stalled and (source is self._pending or (source is self._current and self._need_keyframe))

    def _source_closed(self, source: Source) -> None:
        if source is self._pending:
            self._pending = None
        if source is self._current:
            self._current = None  # frames already queued still go out; then nothing

    def _offer(self, source: Source, frame: _Frame) -> None:
        if source is self._pending:
            if not frame.keyframe:
                return
            old, self._current, self._pending = self._current, source, None
            if old is not None and old is not source:
                old._tracks.discard(self)
            self._need_keyframe = False
            self._offset = None  # the new source's timestamps start after ours
        elif source is self._current:
            if self._need_keyframe:
                if not frame.keyframe:
                    self.dropped += 1
                    return
                self._need_keyframe = False
        else:
            return
        if frame.keyframe:
            self.dropped += len(self._queue)
            self._queue.clear()  # a keyframe needs nothing before it: the sender catches up
        elif len(self._queue) >= MAX_QUEUE:
            # the sender is not reading (not connected yet, or stalled): drop the backlog and
            # restart at a keyframe, asked for when it reads again
            self.dropped += len(self._queue) + 1
            self._queue.clear()
            self._need_keyframe = True
            self._stalled = True
            return
        self._queue.append(self._packet(frame))
        self._ready.set()

    def _packet(self, frame: _Frame) -> av.Packet:
        if self._offset is None:
            if self._last_out is None:
                self._offset = -frame.timestamp
            else:
                # continue from our last frame by the time that passed, so the watcher's
                # RTP timestamps keep increasing across sources
                step = max(1, round((frame.arrival - self._last_arrival) * CLOCK_RATE))
                self._offset = self._last_out + step - frame.timestamp
        pts = frame.timestamp + self._offset
        if self._last_out is not None and pts <= self._last_out:
            pts = self._last_out + 1
        self._last_out = pts
        self._last_arrival = frame.arrival
        packet = av.Packet(frame.data)
        packet.pts = pts
        packet.dts = pts
        packet.time_base = TIME_BASE
        packet.is_keyframe = frame.keyframe
        return packet


class VideoForwarder:
    """The sources of one call, by key (a participant's username)."""

    def __init__(self) -> None:
        _install_sender_hook()
        self._sources: dict[Hashable, Source] = {}

    def tap(self, receiver: RTCRtpReceiver, key: Hashable) -> Source:
        """Forward `receiver`'s video (VP8) as `key`'s source. Tap before the peer connection
        connects: frames that came before go to aiortc's decoder. Tapping a key again (the
        same user's newer client) closes the old source and moves its watchers to the new one."""
        inner = getattr(receiver, JITTER_BUFFER_ATTR, None)
        if isinstance(inner, _Tap):
            tap = inner  # tapped before (sharing again): its frames never went to the decoder
        elif isinstance(inner, JitterBuffer):
            if not getattr(inner, "_is_video", False):
                raise ValueError("tap needs a video receiver (a share m-line), not an audio one")
            if receiver.getSynchronizationSources():
                log.warning(
                    "video of %s was tapped after its media began: aiortc decoded the frames before; "
                    "tap right after setRemoteDescription",
                    key,
                )
            tap = _Tap(inner)
            setattr(receiver, JITTER_BUFFER_ATTR, tap)
        else:
            raise RuntimeError(
                f"aiortc {aiortc.__version__}: RTCRtpReceiver has no {JITTER_BUFFER_ATTR} where "
                "codeforge/collab/rtc/forward.py takes encoded frames (written for aiortc 1.16); "
                "pin aiortc==1.16.0 or update forward.py's hook"
            )
        source = Source(self, receiver, key)
        old = self._sources.get(key)
        if tap.source is not None and tap.source is not old:
            tap.source.close()
        tap.source = source
        self._sources[key] = source
        if old is not None:
            watchers = [t for t in old._tracks if t.source is old]
            old.close()
            for track in watchers:
                track.switch(source)
        return source

    def source(self, key: Hashable) -> Source | None:
        return self._sources.get(key)

    def remove(self, key: Hashable) -> None:
        """`key` stopped sharing or left (its watchers show nothing until they switch)."""
        source = self._sources.get(key)
        if source is not None:
            source.close()

    def close(self) -> None:
        for source in list(self._sources.values()):
            source.close()

    def stats(self) -> dict[str, int]:
        return {
            "sources": len(self._sources),
            "watchers": sum(len(s._tracks) for s in self._sources.values()),
            "frames": sum(s.frames for s in self._sources.values()),
        }

    def _forget(self, source: Source) -> None:
        if self._sources.get(source.key) is source:
            del self._sources[source.key]
        tap = getattr(source.receiver, JITTER_BUFFER_ATTR, None)
        if isinstance(tap, _Tap) and tap.source is source:
            tap.source = None  # the receiver stays tapped: its frames are dropped, never decoded


_sender_hooked = False


def _install_sender_hook() -> None:
    """Make a watcher's PLI/FIR, which aiortc turns into `RTCRtpSender._send_keyframe()` (a flag
    for its encoder, unused when forwarding), also ask the watched publisher for a keyframe."""
    global _sender_hooked
    if _sender_hooked:
        return
    original: Callable[[RTCRtpSender], None] = getattr(RTCRtpSender, SENDER_KEYFRAME_METHOD)

    def send_keyframe(sender: RTCRtpSender) -> None:
        original(sender)
        track = sender.track
        if isinstance(track, ForwardTrack):
            track.request_keyframe()

    send_keyframe.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(RTCRtpSender, SENDER_KEYFRAME_METHOD, send_keyframe)
    _sender_hooked = True
