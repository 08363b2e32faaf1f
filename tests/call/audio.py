"""Audio for call tests: known signals in, recordings out, and numpy analysis of what arrived.

Signals (int16 mono, 48 kHz — the call's rate):

    speech(folder, text)      a sentence spoken by espeak-ng, resampled to 48 kHz (sox, or numpy)
    tones(freqs)              a tone sequence (one frequency per beep), for a second, distinct talker
    click()                   a short loud burst, for mouth-to-ear timing

Tracks:

    PlayTrack()               an aiortc audio track paced in real time (like a microphone): silence
                              until `say(samples)`; it notes when each frame was handed to the sender
    Recorder(track)           reads a received track; places every frame by its pts (a lost packet
                              leaves a gap of zeros, not a shift) and notes when each frame arrived

Analysis:

    locate(reference, recording) -> Match    normalized cross-correlation: where the reference is
                                             in the recording (lag) and how well it matches (peak)
    follow(reference, recording) -> Followed the same piece by piece: where it starts, the share
                                             of its pieces heard, the recording re-aligned
    level_dbfs(x), silent(x)                 RMS level; silence is below SILENCE_DBFS
    intelligibility(reference, aligned)      a STOI-like score: per-band envelope correlation

Why these measures and thresholds (numbers from this module's own calibration,
`python -m tests.call.audio`: the sentence through aiortc's own Opus encoder and decoder at
96 kb/s; packets dropped at random leave 20 ms of zeros, as Recorder places frames by pts;
"skipped" frames are taken out and the rest closes up, as when a jitter buffer skips a hole or
the mixer drops its oldest frame to bound latency on a late tick):

    condition                        NCC    follow: found  intelligibility (followed)
    one Opus leg                     0.98          1.00          1.00
    10 % packets lost                0.86          1.00          0.86
    19 % lost (10 % on each leg)     0.78          1.00          0.76
    30 % / 50 % lost                 0.58 / 0.44   0.91 / 0.64   0.59 / 0.37
    5 % / 10 % frames skipped        0.06 / 0.04   1.00 / 1.00   0.94 / 0.84
    10 % lost and 5 % skipped        0.06          0.73          0.79
    a different sentence, same voice 0.06          0.00         -0.01
    tones / white noise              0.01          0.00          0.02

- One whole-signal normalized cross-correlation (NCC) collapses as soon as a few frames are
  skipped (everything after the step is shifted), although every word arrived: `follow`
  therefore finds the reference piece by piece (0.5 s each, each searched near where the
  previous one ended) and says what share of its voiced pieces matched (NCC >= PRESENT = 0.5;
  unrelated audio stays under 0.1 per piece). HEARD = 0.6 of the pieces: unrelated audio
  finds none, the sentence finds 0.64 or more even with half its packets lost.
- The delay is the lag of the first piece (sample-exact), see test_call_peers.py.
- SILENT = below -60 dBFS RMS: Opus-decoded silence is digital zero (-290 dBFS); the
  sentence's 20 ms frames have a median of -27 dBFS.
- INTELLIGIBLE = 0.5: waveform correlation falls with every gap, so it cannot say whether
  speech is still understandable. The score follows STOI (Taal et al., 2011): third-octave
  band envelopes (150 Hz to 4.5 kHz) of the reference and the followed recording correlated
  over 300 ms segments, averaged over bands and over segments where the reference speaks.
  Listening studies of interrupted speech (Miller & Licklider, 1950) keep word
  intelligibility high with a quarter and more of the signal cut away in pieces of tens of
  milliseconds, so 30 % loss (0.59) is still intelligible; half the packets gone (0.37) is
  where we stop calling it that, and unrelated speech (about 0) is far below. 10 % loss on
  each leg scores about 0.76.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import hashlib
import shutil
import subprocess
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

__all__ = [
    "FRAME",
    "HEARD",
    "INTELLIGIBLE",
    "PRESENT",
    "RATE",
    "SENTENCE",
    "SILENCE_DBFS",
    "Followed",
    "Match",
    "PlayTrack",
    "Recorder",
    "Recording",
    "click",
    "follow",
    "frame_samples",
    "intelligibility",
    "level_dbfs",
    "locate",
    "read_wav",
    "silent",
    "speech",
    "tones",
    "write_wav",
]

RATE = 48_000
FRAME = 960  # 20 ms: aiortc's Opus frame
TIME_BASE = fractions.Fraction(1, RATE)
SENTENCE = "The quick brown fox jumps over the lazy dog, then naps beside the quiet river."
OTHER_SENTENCE = "Seven wise owls counted every star above the old stone bridge tonight."
PRESENT = 0.5
HEARD = 0.6  # share of pieces found for `follow` to say the reference is there
SILENCE_DBFS = -60.0
INTELLIGIBLE = 0.5


# -- signals ------------------------------------------------------------------------------------


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Mono int16 samples and the rate of a 16-bit PCM WAV (channels averaged)."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: {8 * wav.getsampwidth()}-bit samples; give a 16-bit PCM WAV")
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        channels, rate = wav.getnchannels(), wav.getframerate()
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1).astype(np.int16)
    return data.astype(np.int16), rate


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return path


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    """Linear interpolation to RATE (sox is used when present; this is the fallback)."""
    if rate == RATE:
        return samples
    times = np.arange(round(len(samples) * RATE / rate)) * (rate / RATE)
    return np.interp(times, np.arange(len(samples)), samples.astype(np.float64)).astype(np.int16)


def speech(folder: Path, text: str = SENTENCE) -> np.ndarray:
    """`text` spoken by espeak-ng at 48 kHz, peak-normalised to -3 dBFS (cached in `folder`).
    The caller checks espeak-ng is installed (tests skip through `require`)."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    folder.mkdir(parents=True, exist_ok=True)
    name = f"speech-{hashlib.sha1(text.encode()).hexdigest()[:10]}"
    raw, final = folder / f"{name}-raw.wav", folder / f"{name}-48k.wav"
    if not final.exists():
        subprocess.run([espeak, "-s", "150", "-w", str(raw), text], check=True, capture_output=True, timeout=60)
        if sox := shutil.which("sox"):
            subprocess.run([sox, str(raw), "-r", str(RATE), "-b", "16", str(final)], check=True, timeout=60)
            samples, _ = read_wav(final)
        else:
            samples = _resample(*read_wav(raw))
        peak = float(np.max(np.abs(samples))) or 1.0
        write_wav(final, (samples.astype(np.float64) * (0.7 * 32767 / peak)).astype(np.int16))
    samples, rate = read_wav(final)
    assert rate == RATE, f"{final} is at {rate} Hz"
    return samples


def tones(freqs: tuple[float, ...] = (440, 660, 550, 880, 495, 740), beep: float = 0.15, gap: float = 0.05,
          level: float = 0.4) -> np.ndarray:  # fmt: skip
    """One sine beep per frequency (10 ms ramps, no clicks), `gap` seconds apart."""
    n, ramp = int(beep * RATE), int(0.01 * RATE)
    envelope = np.ones(n)
    envelope[:ramp] = np.linspace(0, 1, ramp)
    envelope[-ramp:] = np.linspace(1, 0, ramp)
    t = np.arange(n) / RATE
    parts = []
    for f in freqs:
        parts += [np.sin(2 * np.pi * f * t) * envelope * level, np.zeros(int(gap * RATE))]
    return (np.concatenate(parts) * 32767).astype(np.int16)


def click(length: float = 0.03, level: float = 0.8) -> np.ndarray:
    """A short 1 kHz burst with a sharp onset: easy to find in a mix by its level."""
    t = np.arange(int(length * RATE)) / RATE
    return (np.sin(2 * np.pi * 1000 * t) * level * 32767).astype(np.int16)


# -- tracks -------------------------------------------------------------------------------------


def frame_samples(frame: AudioFrame) -> np.ndarray:
    """A decoded frame as mono int16 (channels averaged; packed or planar)."""
    data = frame.to_ndarray()
    channels = len(frame.layout.channels)
    if frame.format.is_planar:
        mono = data.reshape(channels, -1).mean(axis=0)
    else:
        mono = data.reshape(-1, channels).mean(axis=1)
    if frame.format.name.startswith("flt"):
        mono = mono * 32767
    return np.asarray(mono, dtype=np.int16)


class PlayTrack(MediaStreamTrack):
    """A microphone made of samples: 20 ms frames paced by the clock (a sender pulls them as
    fast as it can otherwise), silence until `say`. `sent[pts]` is when the frame starting at
    sample `pts` was handed to the sender; `said` lists each utterance's first sample."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.sent: dict[int, float] = {}
        self.said: list[int] = []
        self._queue: list[np.ndarray] = []
        self._pending: np.ndarray | None = None
        self._start: float | None = None
        self._pts = 0
        self._looped: np.ndarray | None = None

    def say(self, samples: np.ndarray) -> None:
        """Play `samples` from the next frame on (after anything still playing)."""
        self._queue.append(np.asarray(samples, dtype=np.int16))

    def loop(self, samples: np.ndarray | None) -> None:
        """Play `samples` over and over whenever nothing was said (None: silence)."""
        self._looped = None if samples is None else np.asarray(samples, dtype=np.int16)

    def send_time(self, sample: int) -> float:
        """When sample `sample` of this track's timeline was handed to the sender."""
        start = sample - sample % FRAME
        return self.sent[start] + (sample - start) / RATE

    def _next(self) -> np.ndarray:
        out = np.zeros(FRAME, dtype=np.int16)
        filled = 0
        while filled < FRAME:
            if self._pending is None or len(self._pending) == 0:
                if self._queue:
                    self._pending = self._queue.pop(0)
                    self.said.append(self._pts + filled)
                elif self._looped is not None and len(self._looped):
                    self._pending = self._looped
                else:
                    break
            take = min(FRAME - filled, len(self._pending))
            out[filled : filled + take] = self._pending[:take]
            self._pending = self._pending[take:]
            filled += take
        return out

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        else:
            self._pts += FRAME
            wait = self._start + self._pts / RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(self._next().tobytes())
        frame.pts, frame.sample_rate, frame.time_base = self._pts, RATE, TIME_BASE
        self.sent[self._pts] = time.monotonic()
        return frame


@dataclass
class Recording:
    """Received audio frames placed by pts: `samples()` is the recording (gaps where packets
    never came are zeros), `arrival(i)` when sample i was available."""

    frames: list[tuple[int, float, np.ndarray]] = field(default_factory=list)  # (pts from first, arrival, mono)

    @property
    def length(self) -> int:
        return max((pts + len(s) for pts, _, s in self.frames), default=0)

    def samples(self) -> np.ndarray:
        out = np.zeros(self.length, dtype=np.int16)
        for pts, _, s in self.frames:
            if pts >= 0:
                out[pts : pts + len(s)] = s
        return out

    def arrival(self, sample: int) -> float:
        """When the frame holding recording sample `sample` came out of the receiver, plus the
        sample's offset in it (the same convention as PlayTrack.send_time)."""
        for pts, arrived, s in self.frames:
            if pts <= sample < pts + len(s):
                return arrived + (sample - pts) / RATE
        raise ValueError(f"sample {sample} is in no received frame (a lost packet)")

    def since(self, moment: float) -> int:
        """The first recording sample of a frame that arrived at or after `moment`."""
        return next((pts for pts, arrived, _ in self.frames if arrived >= moment), self.length)

    def between(self, start: float, end: float) -> np.ndarray:
        """The samples of the frames that arrived between two moments (time.monotonic)."""
        parts = [s for _, arrived, s in self.frames if start <= arrived <= end]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    @property
    def last_arrival(self) -> float:
        return self.frames[-1][1] if self.frames else 0.0


class Recorder(Recording):
    """A Recording filled from a received track by a task (`start`, `stop`)."""

    def __init__(self, track: MediaStreamTrack) -> None:
        super().__init__()
        self.track = track
        self._task: asyncio.Task[None] | None = None
        self._first: int | None = None
        self._last = 0

    def start(self) -> Recorder:
        self._task = asyncio.ensure_future(self._run())
        return self

    async def _run(self) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await self.track.recv()
                arrived = time.monotonic()
                pts = int(frame.pts or 0)
                if frame.time_base is not None and frame.time_base != TIME_BASE:
                    pts = int(pts * frame.time_base * RATE)
                if self._first is None:
                    self._first, self._last = pts, 0
                # RTP timestamps start anywhere and wrap at 2**32: unwrap from the previous frame
                offset = (pts - self._first - self._last + 2**31) % 2**32 - 2**31 + self._last
                self._last = offset
                self.frames.append((offset, arrived, frame_samples(cast(AudioFrame, frame))))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, MediaStreamError):
                await self._task


# -- analysis -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    lag: int  # the recording sample where the reference's first sample is
    peak: float  # normalized cross-correlation there, in [-1, 1]

    @property
    def present(self) -> bool:
        return self.peak >= PRESENT


def locate(reference: np.ndarray, recording: np.ndarray) -> Match:
    """Where `reference` best matches a window of `recording` (normalized cross-correlation:
    the dot product over both windows' norms, so level changes from mixing or the codec do not
    matter). Computed with FFTs; windows with almost no energy are ignored."""
    ref = np.asarray(reference, dtype=np.float64)
    rec = np.asarray(recording, dtype=np.float64)
    if len(rec) < len(ref):
        rec = np.concatenate([rec, np.zeros(len(ref) - len(rec))])
    n = 1 << int(np.ceil(np.log2(len(rec) + len(ref))))
    corr = np.fft.irfft(np.fft.rfft(rec, n) * np.conj(np.fft.rfft(ref, n)), n)[: len(rec) - len(ref) + 1]
    energy = np.concatenate([[0.0], np.cumsum(rec * rec)])
    windows = energy[len(ref) :] - energy[: len(rec) - len(ref) + 1]
    ref_energy = float(ref @ ref)
    if ref_energy == 0:
        raise ValueError("the reference is silent")
    valid = windows > 1e-3 * ref_energy
    ncc = np.where(valid, corr / np.sqrt(ref_energy * np.maximum(windows, 1e-12)), 0.0)
    lag = int(np.argmax(ncc))
    return Match(lag, float(ncc[lag]))


@dataclass(frozen=True)
class Followed:
    """The reference followed through a recording piece by piece (see `follow`)."""

    start: int  # the recording sample where the reference's first sample is
    found: float  # share of the reference's voiced pieces found in order (NCC >= PRESENT)
    peaks: tuple[float, ...]  # each voiced piece's NCC peak
    aligned: np.ndarray  # the recording re-assembled piece by piece on the reference's timeline
    pieces: tuple[tuple[int, int], ...] = ()  # (reference offset, recording lag) of each piece found

    def first_found(self) -> tuple[int, int]:
        """The earliest piece found: (its offset in the reference, where it is in the recording)."""
        if not self.pieces:
            raise ValueError("no piece of the reference was found")
        return self.pieces[0]

    @property
    def present(self) -> bool:
        return self.found >= HEARD


def follow(reference: np.ndarray, recording: np.ndarray, piece: float = 0.5, slack: float = 0.25) -> Followed:
    """Find `reference` in `recording` piece by piece (`piece` seconds each), every piece
    searched within `slack` seconds of where the previous one ended. A real-time path drops or
    repeats audio when it runs late (a jitter buffer skipping a hole, a mixer dropping its
    oldest frame to bound latency): everything after such a step sits a few frames earlier or
    later than the reference says, and one whole-signal correlation then falls although every
    word arrived. Pieces follow those steps; each must still match on its own.

    Where to start is tried twice: at the whole-signal correlation's peak and at the first
    voiced piece's own best match (a fragment of similar audio elsewhere in the recording can
    win either search alone); the start whose pieces match best is kept."""
    ref = np.asarray(reference, dtype=np.int16)
    rec = np.asarray(recording, dtype=np.int16)
    size = int(piece * RATE)
    voiced = [o for o in range(0, len(ref), size) if level_dbfs(ref[o : o + size]) > SILENCE_DBFS + 15]
    if not voiced:
        raise ValueError("the reference has no voiced piece")
    first = voiced[0]
    starts = {locate(ref, rec).lag, locate(ref[first : first + size], rec).lag - first}
    tries = [_follow_from(ref, rec, start, voiced, size, int(slack * RATE)) for start in sorted(starts)]
    return max(tries, key=lambda followed: (followed.found, sum(followed.peaks)))


def _follow_from(ref: np.ndarray, rec: np.ndarray, start: int, voiced: list[int], size: int, room: int) -> Followed:
    aligned = np.zeros(len(ref), dtype=np.int16)
    peaks: list[float] = []
    found_at: list[tuple[int, int]] = []
    expected = start + voiced[0]  # where the first voiced piece should be
    for offset in range(voiced[0], len(ref), size):
        part = ref[offset : offset + size]
        if offset in voiced:
            lo = max(0, expected - room)
            window = rec[lo : max(lo, expected + room) + len(part)]
            found = locate(part, window) if len(window) >= len(part) else Match(0, 0.0)
            match = Match(found.lag + lo, found.peak)
            peaks.append(match.peak)
            if match.peak >= PRESENT:
                found_at.append((offset, match.lag))
        else:
            match = Match(expected, 1.0)
        at = match.lag if match.peak >= PRESENT else expected
        chunk = rec[max(0, at) : max(0, at) + len(part)]
        aligned[offset : offset + len(chunk)] = chunk
        expected = at + len(part)
    first_at = start + voiced[0]
    share = sum(p >= PRESENT for p in peaks) / len(peaks)
    return Followed(first_at - voiced[0], share, tuple(peaks), aligned, tuple(found_at))


def level_dbfs(samples: np.ndarray) -> float:
    if len(samples) == 0:
        return -200.0
    rms = float(np.sqrt(np.mean(np.asarray(samples, dtype=np.float64) ** 2)))
    return 20 * np.log10(max(rms, 1e-10) / 32768)


def silent(samples: np.ndarray) -> bool:
    return level_dbfs(samples) < SILENCE_DBFS


def _band_envelopes(samples: np.ndarray) -> np.ndarray:
    """Third-octave band amplitudes (15 bands from 150 Hz), 10 ms hop: shape (bands, frames)."""
    size, hop = 1024, 480
    x = np.asarray(samples, dtype=np.float64)
    if len(x) < size:
        x = np.concatenate([x, np.zeros(size - len(x))])
    count = 1 + (len(x) - size) // hop
    index = np.arange(size)[None, :] + hop * np.arange(count)[:, None]
    spectrum = np.abs(np.fft.rfft(x[index] * np.hanning(size), axis=1)) ** 2
    freqs = np.fft.rfftfreq(size, 1 / RATE)
    centres = 150 * 2 ** (np.arange(15) / 3)
    bands = [spectrum[:, (freqs >= c * 2 ** (-1 / 6)) & (freqs < c * 2 ** (1 / 6))].sum(axis=1) for c in centres]
    return np.sqrt(np.array(bands))


def intelligibility(reference: np.ndarray, aligned: np.ndarray) -> float:
    """STOI-like score of `aligned` (the recording from the reference's first sample, see
    `locate`) against `reference`: in each band, the envelopes' correlation over 300 ms
    segments, averaged over bands and over segments where the reference is within 40 dB of
    its loudest frame (silence says nothing)."""
    ref = np.asarray(reference, dtype=np.float64)
    rec = np.asarray(aligned, dtype=np.float64)[: len(ref)]
    if len(rec) < len(ref):
        rec = np.concatenate([rec, np.zeros(len(ref) - len(rec))])
    a, b = _band_envelopes(ref), _band_envelopes(rec)
    loudness = 10 * np.log10(np.sum(a**2, axis=0) + 1e-12)
    active = loudness > loudness.max() - 40
    segment = 30
    scores = []
    for start in range(0, a.shape[1] - segment + 1, segment // 2):
        if active[start : start + segment].mean() < 0.5:
            continue
        x, y = a[:, start : start + segment], b[:, start : start + segment]
        x = x - x.mean(axis=1, keepdims=True)
        y = y - y.mean(axis=1, keepdims=True)
        norms = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
        scores.append(np.where(norms > 0, np.sum(x * y, axis=1) / np.maximum(norms, 1e-12), 0.0).mean())
    if not scores:
        raise ValueError("the reference has no speech to compare")
    return float(np.mean(scores))


# -- calibration (python -m tests.call.audio): the numbers the module docstring quotes ---------------


def opus_round_trip(samples: np.ndarray, loss: float = 0.0, seed: int = 1) -> np.ndarray:
    """`samples` through aiortc's own Opus encoder and decoder, each packet lost with
    probability `loss` (a lost packet leaves 20 ms of zeros, as Recorder places frames)."""
    from aiortc.codecs.opus import OpusDecoder, OpusEncoder
    from aiortc.jitterbuffer import JitterFrame

    encoder, decoder, rng = OpusEncoder(), OpusDecoder(), np.random.default_rng(seed)
    padded = np.concatenate([samples, np.zeros(-len(samples) % FRAME + FRAME, dtype=np.int16)])
    out = np.zeros(len(padded) + 2 * FRAME, dtype=np.int16)
    for start in range(0, len(padded), FRAME):
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(padded[start : start + FRAME].tobytes())
        frame.pts, frame.sample_rate, frame.time_base = start, RATE, TIME_BASE
        payloads, timestamp = encoder.encode(frame)
        for payload in payloads:
            if rng.random() < loss:
                continue
            for decoded in decoder.decode(JitterFrame(data=payload, timestamp=timestamp)):
                mono = frame_samples(cast(AudioFrame, decoded))
                out[timestamp : timestamp + len(mono)] = mono[: max(0, len(out) - timestamp)]
    return out


def _skip_frames(samples: np.ndarray, share: float, seed: int = 3) -> np.ndarray:
    """A late real-time path: `share` of the 20 ms frames taken out (the rest closes up)."""
    rng = np.random.default_rng(seed)
    frames = [samples[i : i + FRAME] for i in range(0, len(samples), FRAME)]
    return np.concatenate([f for f in frames if rng.random() >= share])


def _calibrate(folder: Path) -> None:
    said, other = speech(folder), speech(folder, OTHER_SENTENCE)
    lead = np.zeros(RATE // 2, dtype=np.int16)

    def score(name: str, recording: np.ndarray) -> None:
        match = locate(said, recording)
        followed = follow(said, recording)
        print(
            f"{name:34} NCC {match.peak:5.2f} lag {match.lag - len(lead):6d}  "
            f"intelligibility {intelligibility(said, recording[match.lag :]):5.2f} | "
            f"follow: found {followed.found:4.2f}  intelligibility {intelligibility(said, followed.aligned):5.2f}"
        )

    clean = opus_round_trip(np.concatenate([lead, said]))
    score("speech, one Opus leg", clean)
    for loss in (0.05, 0.1, 0.19, 0.3, 0.5):
        score(f"speech, {loss:.0%} packets lost", opus_round_trip(np.concatenate([lead, said]), loss))
    for share in (0.05, 0.1):
        score(f"speech, {share:.0%} frames skipped", _skip_frames(clean, share))
    score("10 % lost and 5 % skipped", _skip_frames(opus_round_trip(np.concatenate([lead, said]), 0.1), 0.05))
    score("a different sentence", opus_round_trip(np.concatenate([lead, other, other])))
    score("tones", opus_round_trip(np.concatenate([lead, tones(), tones(), tones()])))
    noise = (np.random.default_rng(2).normal(0, 3000, len(said) + len(lead))).astype(np.int16)
    score("white noise", opus_round_trip(noise))
    print(f"Opus-decoded silence: {level_dbfs(opus_round_trip(np.zeros(RATE, dtype=np.int16))[FRAME:]):.1f} dBFS")
    quiet = [level_dbfs(said[i : i + FRAME]) for i in range(0, len(said) - FRAME, FRAME)]
    print(f"speech frames: median {np.median(quiet):.1f} dBFS")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _calibrate(Path(tmp))
