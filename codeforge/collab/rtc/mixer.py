"""Server-side audio mixing: each listener hears everyone but themselves.

One clock for the whole call ticks every `interval` (20 ms). Each tick takes one interval of
samples from every input (silence for an input with none: a participant whose packets stop
is silent, never waited for), sums them once in int32 and hands each listener the sum minus
its own frame, clipped to int16. So the server does N decodes (one per talker, on the tick,
from the mixer's own jitter buffer: `Jitter`) and N encodes (each listener's sender) per
interval, never N x (N-1).

Format: aiortc's Opus decoder gives packed `s16` stereo at 48 kHz (960 samples per 20 ms) and
its Opus encoder takes the same without conversion cost (measured: mono input costs as much,
the encoder re-layouts it), so the mix is done in packed stereo int16 and nothing is converted
on the common path. Other formats (tracks given to `add_input`) are resampled once, on input.

Latency stays bounded: an input holds at most `MAX_QUEUE` intervals (oldest dropped), and a
backlog that never emptied for `TRIM_WINDOW` is trimmed (packets: to none waiting, one packet
after each quiet frame, so no syllable is cut unless speech goes on for `TRIM_FORCE`; decoded
tracks: to one interval), so the delay an input adds returns to a tick after any hiccup
(measured on loopback: a packet waits 0-30 ms in the server; mouth to ear ~50-100 ms with
clients that play out through `playout`). The clock is scheduled against `loop.time()` (tick
n at start + n·interval), so it does not drift however long each tick takes; a loop blocked
for more than `MAX_QUEUE` intervals skips ahead instead of bursting (the frames' pts skip
ahead with it).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fractions
import logging
import math
from collections.abc import Callable

import aiortc.rtp
import numpy as np
from aiortc import RTCRtpReceiver
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, AudioResampler

from codeforge.collab.rtc.jitter import JITTER_BUFFER_ATTR, MAX_QUEUE, AudioTap, Jitter

__all__ = [
    "CHANNELS",
    "MAX_QUEUE",
    "SAMPLE_RATE",
    "AudioMixer",
    "MixedTrack",
    "TalkingCallback",
    "fast_audio_level",
    "playout",
]

log = logging.getLogger(__name__)

SAMPLE_RATE = 48000
CHANNELS = 2
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
OUT_QUEUE = 3  # frames a listener's sender may lag behind before the oldest is dropped
TRIM_WINDOW = 0.5  # seconds a backlog must persist before it is trimmed
TRIM_FORCE = 2.0  # seconds a due trim waits for a quiet frame before it cuts into speech
TALK_LEVEL = 0.01 * 32768  # RMS ≈ -40 dBFS: speech is -20…-30, a quiet room's mic below -50
HANG_OVER = 0.3  # seconds `talking` stays on after the last loud frame (no flicker between words)

TalkingCallback = Callable[[str, bool], None]


def fast_audio_level() -> None:
    """Make aiortc's senders compute the RFC 6465 level of each audio frame with numpy.

    `RTCRtpSender` calls `aiortc.rtp.compute_audio_level_dbov(frame)` for every audio frame
    it sends (the ssrc-audio-level header extension), on the event loop, as a pure-Python
    loop over the frame's samples: ~0.6 ms per 20 ms stereo frame, 3 % of a core per
    listener, more than the Opus encode itself. Same formula, same result (including its
    sum over every value of a packed stereo frame), ~100 times faster. Once per process."""
    if getattr(aiortc.rtp.compute_audio_level_dbov, "_codeforge", False):
        return
    _audio_level_dbov.__wrapped__ = aiortc.rtp.compute_audio_level_dbov  # type: ignore[attr-defined]
    aiortc.rtp.compute_audio_level_dbov = _audio_level_dbov


def _audio_level_dbov(frame: AudioFrame) -> int:
    values = np.frombuffer(memoryview(frame.planes[0]), dtype=np.int16)
    energy = float(np.dot(values.astype(np.int64), values.astype(np.int64)))
    rms = math.sqrt(energy / (frame.samples * 32767 * 32767))
    if rms <= 0:
        return -127
    return round(min(max(20 * math.log10(rms), -127), 0))


_audio_level_dbov._codeforge = True  # type: ignore[attr-defined]


def _clip16(values: np.ndarray) -> np.ndarray:
    """int32 -> int16, saturating (np.clip with Python bounds costs ~20 us a call in numpy's
    limit checks; minimum/maximum in place do not)."""
    np.minimum(values, 32767, out=values)
    np.maximum(values, -32768, out=values)
    return values.astype(np.int16)


class MixedTrack(MediaStreamTrack):
    """One listener's mix: what its `RTCRtpSender` sends (kind audio, s16 stereo 48 kHz)."""

    kind = "audio"

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self._frames: collections.deque[AudioFrame] = collections.deque(maxlen=OUT_QUEUE)
        self._ready = asyncio.Event()
        self.dropped = 0  # frames dropped because the sender lagged

    def _put(self, frame: AudioFrame) -> None:
        if len(self._frames) == self._frames.maxlen:
            self.dropped += 1
        self._frames.append(frame)
        self._ready.set()

    async def recv(self) -> AudioFrame:
        while not self._frames:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        return self._frames.popleft()

    def stop(self) -> None:
        super().stop()
        self._ready.set()  # wakes a waiting recv(), which then raises MediaStreamError


class _Input:
    """One participant's audio: decoded packed stereo int16 chunks waiting to be mixed, fed by
    a task reading a track, or by the clock decoding its `Jitter`'s packets."""

    def __init__(self, key: str, track: MediaStreamTrack | None, muted: bool, jitter: Jitter | None = None) -> None:
        self.key = key
        self.track = track
        self.jitter = jitter
        self.muted = muted
        self.chunks: collections.deque[np.ndarray] = collections.deque()
        self.buffered = 0  # int16 values held (samples x channels)
        self.floor: int | None = None  # lowest backlog after a take since the last trim check
        self.trim_due = 0  # packets to drop, one per quiet tick (a standing backlog found)
        self.trim_waited = 0  # ticks the due trim has waited for quiet
        self.talking = False
        self.quiet_ticks = 0
        self.resampler: AudioResampler | None = None
        self.task: asyncio.Task[None] | None = None

    def push(self, values: np.ndarray, limit: int) -> None:
        self.chunks.append(values)
        self.buffered += len(values)
        if self.buffered > limit:
            self.drop(self.buffered - limit)

    def take(self, count: int) -> np.ndarray | None:
        if self.buffered < count:
            return None
        parts: list[np.ndarray] = []
        need = count
        while need:
            head = self.chunks[0]
            if len(head) <= need:
                parts.append(self.chunks.popleft())
                need -= len(head)
            else:
                parts.append(head[:need])
                self.chunks[0] = head[need:]
                need = 0
        self.buffered -= count
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def drop(self, count: int) -> None:
        count -= count % CHANNELS  # keep left and right in step
        while count > 0 and self.chunks:
            head = self.chunks[0]
            if len(head) <= count:
                self.chunks.popleft()
                count -= len(head)
                self.buffered -= len(head)
            else:
                self.chunks[0] = head[count:]
                self.buffered -= count
                count = 0


class AudioMixer:
    """Inputs by key (a participant's receiver or decoded track), outputs by key (a listener's
    mix); `key` is the participant's username in a call."""

    def __init__(self, interval: float = 0.02, *, clock: bool = True) -> None:
        """`clock=False`: no clock task; the owner calls `tick()` (tests, benchmarks)."""
        fast_audio_level()  # the listeners' senders would spend more on it than on Opus
        if not 0.0025 <= interval <= 0.06:
            raise ValueError(f"interval {interval} s: Opus frames are 2.5 to 60 ms")
        self.interval = interval
        self.samples = round(SAMPLE_RATE * interval)  # per channel, per tick
        self._count = self.samples * CHANNELS  # int16 values per tick
        self._inputs: dict[str, _Input] = {}
        self._outputs: dict[str, MixedTrack] = {}
        self._callbacks: list[TalkingCallback] = []
        self._clock: asyncio.Task[None] | None = None
        self._closed = False
        self._manual = not clock
        self._pts = 0
        self._silence = np.zeros(self._count, dtype=np.int16)
        self._talk_energy = TALK_LEVEL**2 * self._count
        self._hang_ticks = max(1, math.ceil(HANG_OVER / interval))
        self._trim_ticks = max(1, round(TRIM_WINDOW / interval))
        self._force_ticks = max(1, round(TRIM_FORCE / interval))
        self._since_trim = 0
        self.ticks = 0
        self.late_ticks = 0  # ticks that ran more than one interval after their time

    # -- inputs and outputs ---------------------------------------------------------------------

    def add_input(self, key: str, track: MediaStreamTrack, *, muted: bool = False) -> None:
        """Mix `track` (audio) as `key`. Muted (or a guest's): read, never mixed."""
        if self._closed:
            raise RuntimeError("the mixer is closed")
        self.remove_input(key)
        entry = _Input(key, track, muted)
        self._inputs[key] = entry
        entry.task = asyncio.ensure_future(self._read(entry))
        self._start()

    def add_receiver(self, key: str, receiver: RTCRtpReceiver, *, muted: bool = False) -> None:
        """Mix what an audio `RTCRtpReceiver` receives as `key`, taking its Opus packets before
        aiortc's jitter buffer (see `Jitter`); decoded by the clock, one decode per tick.
        Call it before the peer connection connects. Without the hook (another aiortc), falls
        back to reading `receiver.track`."""
        if self._closed:
            raise RuntimeError("the mixer is closed")
        inner = getattr(receiver, JITTER_BUFFER_ATTR, None)
        if not isinstance(inner, JitterBuffer | AudioTap):
            log.warning("aiortc's audio receiver has no %s: mixing its decoded track instead", JITTER_BUFFER_ATTR)
            self.add_input(key, receiver.track, muted=muted)
            return
        self.remove_input(key)
        jitter = Jitter()
        setattr(receiver, JITTER_BUFFER_ATTR, AudioTap(jitter))
        self._inputs[key] = _Input(key, None, muted, jitter)
        self._start()

    def remove_input(self, key: str) -> None:
        entry = self._inputs.pop(key, None)
        if entry is None:
            return
        if entry.task is not None:
            entry.task.cancel()
        if entry.talking:
            self._tell(key, False)

    def set_muted(self, key: str, muted: bool) -> None:
        """A muted input counts as silence (and stops talking at once)."""
        entry = self._inputs.get(key)
        if entry is None or entry.muted == muted:
            return
        entry.muted = muted
        if muted:
            entry.drop(entry.buffered)  # what was said before the mute is not played after it
            if entry.jitter is not None:
                entry.jitter.skip(len(entry.jitter.packets))
            if entry.talking:
                entry.talking = False
                self._tell(key, False)

    def output(self, key: str) -> MixedTrack:
        """The listener `key`'s mix (created once; everyone but `key` itself)."""
        if self._closed:
            raise RuntimeError("the mixer is closed")
        track = self._outputs.get(key)
        if track is None or track.readyState != "live":
            track = self._outputs[key] = MixedTrack(key)
        self._start()
        return track

    def remove_output(self, key: str) -> None:
        track = self._outputs.pop(key, None)
        if track is not None:
            track.stop()

    def remove(self, key: str) -> None:
        """Both the input and the output of `key` (a participant leaves)."""
        self.remove_input(key)
        self.remove_output(key)

    def stats(self) -> dict[str, int]:
        """For health: inputs, outputs, ticks, late ticks, and packets lost, late and trimmed."""
        jitters = [entry.jitter for entry in self._inputs.values() if entry.jitter is not None]
        return {
            "inputs": len(self._inputs),
            "outputs": len(self._outputs),
            "ticks": self.ticks,
            "late_ticks": self.late_ticks,
            "lost": sum(j.lost for j in jitters),
            "late": sum(j.late for j in jitters),
            "trimmed": sum(j.trimmed for j in jitters),
        }

    @property
    def keys(self) -> set[str]:
        return set(self._inputs) | set(self._outputs)

    # -- voice activity -------------------------------------------------------------------------

    def talking(self, key: str) -> bool:
        entry = self._inputs.get(key)
        return entry is not None and entry.talking

    def on_talking(self, callback: TalkingCallback) -> Callable[[], None]:
        """`callback(key, talking)` on every change; returns an unsubscribe."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def _tell(self, key: str, talking: bool) -> None:
        for callback in list(self._callbacks):
            try:
                callback(key, talking)
            except Exception:  # a listener's bug must not stop the clock
                log.exception("a talking callback failed for %s", key)

    # -- reading --------------------------------------------------------------------------------

    async def _read(self, entry: _Input) -> None:
        limit = MAX_QUEUE * self._count
        assert entry.track is not None
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await entry.track.recv()
                if not isinstance(frame, AudioFrame):
                    continue
                for values in self._stereo_s16(entry, frame):
                    entry.push(values, limit)

    def _stereo_s16(self, entry: _Input, frame: AudioFrame) -> list[np.ndarray]:
        """Packed stereo int16 at 48 kHz (aiortc's decoder already gives that: no copy). Mono
        is duplicated into both channels at full level (swresample's upmix would take 3 dB)."""
        channels = len(frame.layout.channels)
        if frame.format.name == "s16" and frame.sample_rate == SAMPLE_RATE and channels <= CHANNELS:
            data = frame.to_ndarray().reshape(-1)
            return [data if channels == CHANNELS else np.repeat(data, CHANNELS)]
        if entry.resampler is None:
            layout = "mono" if channels == 1 else "stereo"
            entry.resampler = AudioResampler(format="s16", layout=layout, rate=SAMPLE_RATE)
        out = [f.to_ndarray().reshape(-1) for f in entry.resampler.resample(frame)]
        return [np.repeat(values, CHANNELS) for values in out] if channels == 1 else out

    # -- the clock ------------------------------------------------------------------------------

    def _start(self) -> None:
        if self._clock is None and not self._closed and not self._manual:
            self._clock = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + self.interval
        while True:
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            late = loop.time() - due
            if late > self.interval:
                self.late_ticks += 1
                if late > MAX_QUEUE * self.interval:
                    # blocked for long: skip ahead, do not burst; the frames' time follows the
                    # clock (a gap a player keeps, not a shift it would carry for good)
                    self._pts += int(late / self.interval) * self.samples
                    due = loop.time()
            try:
                self.tick()
            except Exception:
                log.exception("mixing failed (tick %d)", self.ticks)
            due += self.interval

    def tick(self) -> None:
        """One interval: take a frame from every input, give every output its mix."""
        self.ticks += 1
        count = self._count
        mixed: dict[str, np.ndarray] = {}
        for entry in self._inputs.values():
            if entry.jitter is not None:
                self._play(entry, count)
            values = entry.take(count)
            backlog = entry.buffered if entry.jitter is None else len(entry.jitter.packets)
            entry.floor = backlog if entry.floor is None else min(entry.floor, backlog)
            if values is None or entry.muted:
                loud = False
            else:
                mixed[entry.key] = values
                level = values.astype(np.float32)
                loud = float(np.dot(level, level)) >= self._talk_energy  # RMS² x n: no sqrt, no mean
            self._voice(entry, loud)
            if entry.trim_due:
                self._trim(entry, loud)
        self._since_trim += 1
        if self._since_trim >= self._trim_ticks:
            self._since_trim = 0
            for entry in self._inputs.values():
                if entry.jitter is not None:
                    # a packet (or more) waited after every tick for TRIM_WINDOW: the cushion
                    # a late packet once made is not needed, and costs 20 ms each
                    entry.trim_due = entry.floor or 0
                    if not entry.trim_due:
                        entry.trim_waited = 0
                elif entry.floor is not None and entry.floor > count:
                    entry.drop(entry.floor - count)  # a standing backlog: back to one interval
                entry.floor = None
        if not self._outputs:
            return
        if mixed:
            total = np.zeros(count, dtype=np.int32)
            for values in mixed.values():
                np.add(total, values, out=total)
            everyone = _clip16(total)
        else:
            total = None
            everyone = self._silence
        pts = self._pts
        self._pts += self.samples
        for key, track in self._outputs.items():
            own = mixed.get(key)
            if own is None or total is None:
                values = everyone
            elif len(mixed) == 1:
                values = self._silence  # only the listener spoke: nothing for them to hear
            else:
                values = _clip16(np.subtract(total, own, dtype=np.int32))
            track._put(self._frame(values, pts))

    def _trim(self, entry: _Input, loud: bool) -> None:
        """Drop one waiting packet after a quiet frame (a skipped 20 ms of silence is not
        heard; one of speech clips a syllable), or all that are due once speech has gone on
        for TRIM_FORCE (the delay must come down some time)."""
        assert entry.jitter is not None
        entry.trim_waited += 1
        if loud and entry.trim_waited < self._force_ticks:
            return
        drop = 1 if not loud else entry.trim_due
        entry.jitter.skip(min(drop, len(entry.jitter.packets)))
        entry.trim_due -= drop
        if entry.trim_due <= 0:
            entry.trim_due = entry.trim_waited = 0

    def _play(self, entry: _Input, count: int) -> None:
        """Decode the input's next packets until a tick's worth is there (none: silence)."""
        jitter = entry.jitter
        assert jitter is not None
        limit = MAX_QUEUE * count
        while entry.buffered < count:
            payload = jitter.pop()
            if payload is None:
                return
            if entry.muted:
                return  # not decoded: a muted talker costs nothing (one packet per tick consumed)
            for frame in jitter.decode(payload):
                for values in self._stereo_s16(entry, frame):
                    entry.push(values, limit)

    def _frame(self, values: np.ndarray, pts: int) -> AudioFrame:
        frame = AudioFrame.from_ndarray(values.reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = pts
        frame.time_base = TIME_BASE
        return frame

    def _voice(self, entry: _Input, loud: bool) -> None:
        if loud:
            entry.quiet_ticks = 0
            if not entry.talking:
                entry.talking = True
                self._tell(entry.key, True)
        elif entry.talking:
            entry.quiet_ticks += 1
            if entry.quiet_ticks >= self._hang_ticks:
                entry.talking = False
                self._tell(entry.key, False)

    async def close(self) -> None:
        """Stop the clock and every input reader; outputs end (their recv raises)."""
        self._closed = True
        for key in list(self._inputs):
            self.remove_input(key)
        for key in list(self._outputs):
            self.remove_output(key)
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
            self._clock = None


def playout(receiver: RTCRtpReceiver, *, interval: float = 0.02) -> MixedTrack:
    """A client's received audio through the mixer's jitter buffer instead of aiortc's (which
    adds 80 ms and, after a lost packet, ~300 ms for good): the receiver's packets played on
    a clock of its own, as a track to play or record. Call it right after
    `setRemoteDescription`, before media flows. Stopping the track (or the peer connection
    closing) stops its clock."""
    mixer = AudioMixer(interval)
    mixer.add_receiver("remote", receiver)
    track = mixer.output("local")

    def ended() -> None:
        task = asyncio.ensure_future(mixer.close())
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    track.on("ended", ended)
    transport = receiver.transport

    @transport.on("statechange")
    def closed() -> None:  # the peer connection closed: nothing more will come
        if transport.state in ("closed", "failed"):
            track.stop()

    return track


_closing: set[asyncio.Task[None]] = set()  # mixers of stopped playout tracks, closing
