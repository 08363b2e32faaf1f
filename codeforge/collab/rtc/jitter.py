"""The mixer's audio jitter buffer: a participant's Opus packets by sequence number, played
out by the mixer's clock (`Jitter`), fed by `AudioTap`, which stands in for aiortc's own
buffer inside an audio `RTCRtpReceiver` (aiortc 1.16's private `__jitter_buffer`, as
forward.py does for video; tests/call/test_mixer.py fails loudly if an upgrade renames it)."""

from __future__ import annotations

from typing import cast

import av
from aiortc.codecs.opus import SAMPLES_PER_FRAME, OpusDecoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.rtp import RtpPacket
from av import AudioFrame

__all__ = ["JITTER_BUFFER_ATTR", "MAX_QUEUE", "RESTART", "AudioTap", "Jitter"]

MAX_QUEUE = 5  # intervals an input may hold (≈ 100 ms at 20 ms): the most latency it can add
RESTART = 3000  # a sequence number this far from the expected one starts a new stream
JITTER_BUFFER_ATTR = "_RTCRtpReceiver__jitter_buffer"  # aiortc 1.16's private name


class Jitter:
    """A participant's encoded Opus packets by sequence number, played out by the mixer's clock.

    Why not aiortc's: its audio JitterBuffer (capacity 16, prefetch 4) holds 80 ms, and after
    a single lost packet it stalls until 16 later packets are in, drops the frames before the
    hole with them and keeps ~300 ms of delay from then on (it releases one frame per packet
    that arrives). Here the clock pulls: a packet is played at the first tick after it
    arrived; a tick with nothing to play is silence in the slot of the packet expected, so
    when later packets come and it is still missing it is skipped at once: a loss costs
    20 ms of silence and no delay. A packet late by less than a tick is still played, one
    tick later: the buffer is one packet deeper (adapting to jitter) until the backlog rule
    trims it again."""

    def __init__(self) -> None:
        self.packets: dict[int, bytes] = {}  # extended sequence number -> Opus payload
        self.next: int | None = None  # the next sequence number to play
        self.highest: int | None = None
        self.waited = 0  # ticks played as silence while `next` was missing (its slot and later ones)
        self.decoder = OpusDecoder()
        self.timestamp = 0
        self.lost = 0  # packets never played (missing when their turn came)
        self.late = 0  # packets that came after their turn
        self.trimmed = 0  # packets dropped to bring the delay down

    def add(self, sequence: int, payload: bytes) -> None:
        if self.highest is None:
            extended = sequence
        else:  # 16-bit sequence numbers wrap: take the one nearest the highest seen
            extended = self.highest + ((sequence - self.highest + 0x8000) & 0xFFFF) - 0x8000
        if self.next is not None and abs(extended - self.next) > RESTART:
            self.packets.clear()  # a new stream (another SSRC, a restarted client): start over
            self.next, self.waited, extended = None, 0, sequence
        elif self.next is not None and extended < self.next:
            self.late += 1  # its tick is past
            return
        self.highest = extended if self.highest is None else max(self.highest, extended)
        self.packets[extended] = payload
        if len(self.packets) > MAX_QUEUE:
            self.skip(len(self.packets) - MAX_QUEUE)

    def pop(self) -> bytes | None:
        """The payload to play now, or None (nothing to play: silence this tick)."""
        while self.packets:
            if self.next is None:
                self.next = min(self.packets)
            payload = self.packets.pop(self.next, None)
            if payload is not None:
                self.next += 1
                self.waited = 0
                return payload
            if not self.waited:
                self.waited = 1  # later ones are here: the missing one gets this tick
                return None
            # a tick was played as silence in its place already: lost (or too late), skip it
            self.waited -= 1
            self.lost += 1
            self.next += 1
        if self.next is not None:
            self.waited = min(self.waited + 1, MAX_QUEUE)  # an underrun: this tick is the slot of `next`
        return None

    def skip(self, count: int) -> None:
        """Drop the `count` oldest packets waiting (a backlog: latency back down)."""
        for sequence in sorted(self.packets)[:count]:
            del self.packets[sequence]
            self.next = sequence + 1
            self.trimmed += 1
        self.waited = 0

    def decode(self, payload: bytes) -> list[AudioFrame]:
        self.timestamp += SAMPLES_PER_FRAME
        try:
            return cast(list[AudioFrame], self.decoder.decode(JitterFrame(payload, self.timestamp)))
        except av.FFmpegError:  # a corrupt packet: its slot is silence
            return []


class AudioTap:
    """Stands in for an audio RTCRtpReceiver's JitterBuffer (the receiver's private
    `__jitter_buffer`, as forward.py does for video): after aiortc's own handling (SRTP,
    statistics, receiver reports, depayloading) every packet goes to the mixer's `Jitter`,
    and none to aiortc's decoder thread, which stays idle."""

    capacity = 16

    def __init__(self, jitter: Jitter) -> None:
        self.jitter = jitter

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        payload = getattr(packet, "_data", None)
        self.jitter.add(packet.sequence_number, payload if payload is not None else packet.payload)
        return False, None
