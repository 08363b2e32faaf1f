"""AudioMixer on its own: tracks fed frame by frame, the clock driven by hand (`tick()`)."""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import aiortc.rtp
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver
from aiortc.codecs.opus import OpusEncoder
from aiortc.jitterbuffer import JitterBuffer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtp import RtpPacket
from av import AudioFrame

from codeforge.collab.rtc.jitter import JITTER_BUFFER_ATTR, MAX_QUEUE, AudioTap
from codeforge.collab.rtc.mixer import TRIM_FORCE, TRIM_WINDOW, AudioMixer, MixedTrack, fast_audio_level

N = 960  # samples per channel per 20 ms tick


class FedTrack(MediaStreamTrack):
    """A decoded participant track the test feeds (like aiortc's receiver: s16 stereo 48 kHz)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.queue: asyncio.Queue[AudioFrame | None] = asyncio.Queue()

    def feed(self, value: int, *, samples: int = N, layout: str = "stereo", rate: int = 48000) -> None:
        channels = 2 if layout == "stereo" else 1
        data = np.full((1, samples * channels), value, dtype=np.int16)
        frame = AudioFrame.from_ndarray(data, format="s16", layout=layout)
        frame.sample_rate, frame.pts, frame.time_base = rate, 0, fractions.Fraction(1, rate)
        self.queue.put_nowait(frame)

    def end(self) -> None:
        self.queue.put_nowait(None)

    async def recv(self) -> AudioFrame:
        frame = await self.queue.get()
        if frame is None:
            raise MediaStreamError
        return frame


async def pump() -> None:
    """Let the mixer's reader tasks take what was fed."""
    for _ in range(10):
        await asyncio.sleep(0)


def last(track: MixedTrack) -> np.ndarray:
    frames = list(track._frames)
    assert frames, f"no frame for {track.key}"
    return frames[-1].to_ndarray().reshape(-1)


@pytest.fixture
async def mixer() -> AsyncIterator[AudioMixer]:
    m = AudioMixer(0.02, clock=False)
    yield m
    await m.close()


async def test_each_listener_hears_the_sum_minus_itself(mixer: AudioMixer) -> None:
    tracks = {key: FedTrack() for key in "abc"}
    outs = {key: mixer.output(key) for key in "abcd"}  # d only listens
    for key, track in tracks.items():
        mixer.add_input(key, track)
    for value, track in zip((100, 20, 3), tracks.values(), strict=True):
        track.feed(value)
    await pump()
    mixer.tick()
    assert set(last(outs["a"])) == {23}
    assert set(last(outs["b"])) == {103}
    assert set(last(outs["c"])) == {120}
    assert set(last(outs["d"])) == {123}
    frame = outs["a"]._frames[-1]
    assert (frame.format.name, frame.layout.name, frame.sample_rate, frame.samples) == ("s16", "stereo", 48000, N)


async def test_the_sum_is_clipped_not_wrapped(mixer: AudioMixer) -> None:
    a, b, c = FedTrack(), FedTrack(), FedTrack()
    out = mixer.output("c")
    for key, track in (("a", a), ("b", b), ("c", c)):
        mixer.add_input(key, track)
    a.feed(30000)
    b.feed(30000)
    c.feed(-30000)
    await pump()
    mixer.tick()
    assert set(last(out)) == {32767}  # int16 would wrap to negative


async def test_an_input_without_a_frame_is_silence_and_nobody_waits(mixer: AudioMixer) -> None:
    a, b = FedTrack(), FedTrack()
    out = mixer.output("listener")
    mixer.add_input("a", a)
    mixer.add_input("b", b)
    a.feed(7)
    await pump()
    mixer.tick()  # b sent nothing: a is heard alone
    assert set(last(out)) == {7}
    mixer.tick()  # nobody sent: the listener still gets a frame (silence), in time
    assert set(last(out)) == {0}
    pts = [int(f.pts or 0) for f in out._frames]
    assert pts == sorted(pts) and pts[-1] - pts[-2] == N


async def test_an_input_holds_at_most_max_queue_intervals(mixer: AudioMixer) -> None:
    a = FedTrack()
    out = mixer.output("listener")
    mixer.add_input("a", a)
    for value in range(1, 21):  # 400 ms arrive at once (a burst after a stall)
        a.feed(value)
    await pump()
    heard = []
    for _ in range(MAX_QUEUE + 2):
        mixer.tick()
        heard.append(int(last(out)[0]))
    # the oldest were dropped: only the newest MAX_QUEUE frames are played, then silence
    assert heard == [*range(21 - MAX_QUEUE, 21), 0, 0]


async def test_a_standing_backlog_is_trimmed_to_one_interval(mixer: AudioMixer) -> None:
    a = FedTrack()
    out = mixer.output("listener")
    mixer.add_input("a", a)
    value = 0
    for _ in range(3):  # three frames ahead, then one frame per tick: a standing 60 ms delay
        value += 1
        a.feed(value)
    for _ in range(60):
        value += 1
        a.feed(value)
        await pump()
        mixer.tick()
    # after a second the backlog was cut to one interval: the newest fed frame is one tick away
    assert int(last(out)[0]) == value - 1


async def test_mono_and_other_rates_are_converted(mixer: AudioMixer) -> None:
    a, b = FedTrack(), FedTrack()
    out = mixer.output("listener")
    mixer.add_input("a", a)
    mixer.add_input("b", b)
    a.feed(50, layout="mono")
    for _ in range(4):  # 16 kHz mono, 20 ms frames: resampled to 48 kHz stereo
        b.feed(1000, samples=320, layout="mono", rate=16000)
    await pump()
    mixer.tick()
    mixer.tick()
    values = last(out)
    assert len(values) == 2 * N
    assert abs(int(np.median(values)) - 1000) <= 20  # b's level, resampled (a's frame was in tick 1)


async def test_muted_inputs_are_silence_and_lose_what_they_queued(mixer: AudioMixer) -> None:
    a, b = FedTrack(), FedTrack()
    out = mixer.output("listener")
    mixer.add_input("a", a, muted=True)
    mixer.add_input("b", b)
    a.feed(5)
    b.feed(9)
    await pump()
    mixer.tick()
    assert set(last(out)) == {9}
    b.feed(9)
    a.feed(5)
    await pump()
    mixer.set_muted("b", True)  # what b queued before the mute is never played
    mixer.set_muted("a", False)
    a.feed(6)
    await pump()
    mixer.tick()
    assert set(last(out)) == {5}


async def test_talking_turns_on_at_once_and_off_after_the_hang_over(mixer: AudioMixer) -> None:
    a = FedTrack()
    changes: list[tuple[str, bool]] = []
    mixer.on_talking(lambda key, talking: changes.append((key, talking)))
    mixer.output("listener")
    mixer.add_input("a", a)
    a.feed(8000)
    await pump()
    mixer.tick()
    assert mixer.talking("a") and changes == [("a", True)]
    quiet_ticks = 0
    while mixer.talking("a"):
        a.feed(20)  # a quiet room: well under the threshold
        await pump()
        mixer.tick()
        quiet_ticks += 1
    assert quiet_ticks * 0.02 == pytest.approx(0.3)  # the hang-over
    assert changes == [("a", True), ("a", False)]
    a.feed(8000)
    await pump()
    mixer.set_muted("a", True)  # a mute stops talking at once
    mixer.tick()
    assert not mixer.talking("a")


async def test_removed_and_closed(mixer: AudioMixer) -> None:
    a = FedTrack()
    out = mixer.output("a")
    mixer.add_input("a", a)
    mixer.remove("a")
    assert out.readyState == "ended"
    with pytest.raises(MediaStreamError):
        await out.recv()
    b = FedTrack()
    mixer.add_input("b", b)
    b.end()  # the participant's track ended: its reader stops, the mixer goes on
    await pump()
    mixer.tick()
    await mixer.close()
    with pytest.raises(RuntimeError, match="closed"):
        mixer.output("c")


async def test_the_clock_runs_on_its_own_and_the_sender_reads_it() -> None:
    mixer = AudioMixer(0.02)
    try:
        a = FedTrack()
        out = mixer.output("listener")
        mixer.add_input("a", a)
        a.feed(11)
        frames = [await out.recv() for _ in range(3)]
        assert [f.pts for f in frames] == [0, N, 2 * N]
        assert {int(f.to_ndarray()[0][0]) for f in frames} == {11, 0}
    finally:
        await mixer.close()


def test_an_interval_opus_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError, match=r"2\.5 to 60 ms"):
        AudioMixer(0.1)


# -- packets from an aiortc receiver (the server's path) ---------------------------------------


def _opus_packets(count: int, level: float = 0.3) -> list[bytes]:
    """`count` 20 ms Opus packets of a loud 600 Hz tone, from aiortc's own encoder."""
    encoder = OpusEncoder()
    t = np.arange(N * (count + 2)) / 48000
    tone = np.repeat((np.sin(2 * np.pi * 600 * t) * level * 32767).astype(np.int16), 2)
    packets: list[bytes] = []
    for i in range(count + 2):
        frame = AudioFrame.from_ndarray(tone[i * 2 * N : (i + 1) * 2 * N].reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 48000, i * N, fractions.Fraction(1, 48000)
        payloads, _ = encoder.encode(frame)
        packets += payloads
    return packets[:count]


def _rtp(sequence: int, payload: bytes) -> RtpPacket:
    packet = RtpPacket(payload_type=96, sequence_number=sequence % 65536, timestamp=sequence * N)
    packet._data = payload  # type: ignore[attr-defined]
    return packet


@pytest.fixture
async def receiver() -> AsyncIterator[RTCRtpReceiver]:
    pc = RTCPeerConnection()
    yield pc.addTransceiver("audio").receiver
    await pc.close()


def _loud(track: MixedTrack) -> bool:
    return bool(np.abs(last(track)).max() > 3000)


async def test_the_receiver_hook_exists_in_this_aiortc(mixer: AudioMixer, receiver: RTCRtpReceiver) -> None:
    """Fails loudly when an aiortc upgrade renames the jitter buffer the mixer replaces."""
    assert isinstance(getattr(receiver, JITTER_BUFFER_ATTR), JitterBuffer)
    mixer.add_receiver("a", receiver)
    assert isinstance(getattr(receiver, JITTER_BUFFER_ATTR), AudioTap)


async def test_packets_play_at_the_next_tick_and_a_loss_costs_one_tick_no_delay(
    mixer: AudioMixer, receiver: RTCRtpReceiver
) -> None:
    mixer.add_receiver("a", receiver)
    tap = getattr(receiver, JITTER_BUFFER_ATTR)
    out = mixer.output("listener")
    payloads = _opus_packets(30)
    start = 65530  # the sequence numbers wrap on the way
    heard = []
    for i, payload in enumerate(payloads):
        if i != 12:  # lost on the way
            tap.add(_rtp(start + i, payload))
        mixer.tick()
        heard.append(_loud(out))
    jitter = mixer._inputs["a"].jitter
    assert jitter is not None
    assert heard[3:] == [i != 12 for i in range(3, 30)]  # one silent tick, then on time again
    assert (jitter.lost, len(jitter.packets)) == (1, 0)  # nothing waits: no delay was added


async def test_a_late_packet_is_still_played_and_a_backlog_is_trimmed(
    mixer: AudioMixer, receiver: RTCRtpReceiver
) -> None:
    mixer.add_receiver("a", receiver)
    tap = getattr(receiver, JITTER_BUFFER_ATTR)
    out = mixer.output("listener")
    payloads = _opus_packets(80)
    for i in range(5):
        tap.add(_rtp(i, payloads[i]))
        mixer.tick()
    mixer.tick()  # packet 5 is late: this tick is silence in its slot
    tap.add(_rtp(5, payloads[5]))  # it arrives before the next tick: played then, one tick late
    jitter = mixer._inputs["a"].jitter
    assert jitter is not None
    heard = []
    for i in range(6, 80):
        tap.add(_rtp(i, payloads[i]))
        mixer.tick()
        heard.append(_loud(out))
    assert all(heard[2:]) and jitter.lost == 0 and jitter.late == 0
    # the packet of delay the late one added stood for a second: trimmed back to none waiting
    assert len(jitter.packets) <= 1
    tap.add(_rtp(3, payloads[3]))  # far too late (its tick is long past): ignored
    assert jitter.late == 1


async def test_a_backlog_is_trimmed_in_a_pause_not_in_speech(mixer: AudioMixer, receiver: RTCRtpReceiver) -> None:
    """A standing backlog found during speech waits for a quiet frame (a skipped 20 ms of
    silence is not heard; one of speech cuts a syllable), and speech that never pauses is
    cut after TRIM_FORCE all the same (the delay must come down)."""
    mixer.add_receiver("a", receiver)
    tap = getattr(receiver, JITTER_BUFFER_ATTR)
    out = mixer.output("listener")
    loud, quiet = _opus_packets(200), _opus_packets(20, level=0.0)
    jitter = mixer._inputs["a"].jitter
    assert jitter is not None
    for i in range(3):  # three packets ahead, then one per tick: a standing 40-60 ms delay
        tap.add(_rtp(i, loud[i]))
    sequence = 3
    for _ in range(round(TRIM_WINDOW / mixer.interval) + 20):  # speech, past the trim window
        tap.add(_rtp(sequence, loud[sequence]))
        sequence += 1
        mixer.tick()
        assert _loud(out)
    assert jitter.trimmed == 0 and len(jitter.packets) >= 2  # due, but no syllable was cut
    for _ in range(8):  # a pause (after the backlog of speech plays): one packet goes per quiet tick
        tap.add(_rtp(sequence, quiet[sequence % 20]))
        sequence += 1
        mixer.tick()
    assert jitter.trimmed >= 2 and len(jitter.packets) <= 1
    for i in range(3):  # a new backlog, and speech that never pauses
        tap.add(_rtp(sequence + i, loud[(sequence + i) % 200]))
    sequence += 3
    ticks = 0
    while jitter.trimmed < 4 and ticks < round((TRIM_WINDOW + TRIM_FORCE) / mixer.interval) + 30:
        tap.add(_rtp(sequence, loud[sequence % 200]))
        sequence += 1
        mixer.tick()
        ticks += 1
    assert jitter.trimmed >= 4 and ticks >= round(TRIM_FORCE / mixer.interval)  # cut, but only after TRIM_FORCE


async def test_a_blocked_clock_skips_ahead_in_time_too() -> None:
    """A loop blocked for long: the clock does not burst the missed ticks, and the next
    frame's pts is where the clock is (a gap a player keeps, not a delay it carries)."""
    mixer = AudioMixer()
    out = mixer.output("listener")
    try:
        first = await asyncio.wait_for(out.recv(), 1)
        time.sleep(0.5)  # the event loop blocked for 25 intervals
        frames = [await asyncio.wait_for(out.recv(), 1) for _ in range(2)]
        gap = (frames[-1].pts - first.pts) / 48000
        assert gap >= 0.45, f"the pts moved {gap:.2f} s over a 0.5 s block"
    finally:
        await mixer.close()


async def test_a_muted_receiver_is_not_decoded(mixer: AudioMixer, receiver: RTCRtpReceiver) -> None:
    mixer.add_receiver("a", receiver, muted=True)
    tap = getattr(receiver, JITTER_BUFFER_ATTR)
    out = mixer.output("listener")
    for i, payload in enumerate(_opus_packets(10)):
        tap.add(_rtp(i, payload))
        mixer.tick()
        assert not _loud(out)
    jitter = mixer._inputs["a"].jitter
    assert jitter is not None and jitter.timestamp == 0 and len(jitter.packets) == 0  # consumed, never decoded


def test_the_senders_audio_level_is_aiortcs_formula_with_numpy() -> None:
    fast_audio_level()
    fast_audio_level()  # once
    level = aiortc.rtp.compute_audio_level_dbov
    original = cast(Any, level).__wrapped__
    assert not getattr(original, "_codeforge", False)
    rng = np.random.default_rng(1)
    for layout, channels in (("stereo", 2), ("mono", 1)):
        for amplitude in (0, 1, 30, 1000, 20000, 40000):
            values = (rng.standard_normal(N * channels) * amplitude).clip(-32768, 32767).astype(np.int16)
            frame = AudioFrame.from_ndarray(values.reshape(1, -1), format="s16", layout=layout)
            frame.sample_rate = 48000
            assert level(frame) == original(frame), (layout, amplitude)
