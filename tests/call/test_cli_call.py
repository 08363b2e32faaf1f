"""`codeforge call` as a user runs it (a subprocess with the platform's stored login) against a
real bridge, with a real aiortc participant (`CallClient`) on the other side: a WAV file in,
the call's mix out to a WAV file, PyAV's lavfi as the device, and every failure before the
call (no session, several, no device, bad arguments, an unreachable or refusing bridge)
saying what to do next without printing the token."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import codeforge.catalog.calls  # noqa: F401  (declares collab.call_*, called by name)
from codeforge.collab.rtc.client import AudioCapture, CallClient, ToneTrack, call_url
from tests.bridge.conftest import BridgeProcess
from tests.call.harness import Cast, new_cast
from tests.call.test_endpoint import hears, tone_level
from tests.conftest import ROOT, RunningPlatform

pytestmark = pytest.mark.slow

RATE = 48000


@dataclass
class Run:
    code: int
    out: str
    err: str


def write_tone(path: Path, frequency: float, seconds: float) -> Path:
    t = np.arange(int(RATE * seconds)) / RATE
    samples = (np.sin(2 * np.pi * frequency * t) * 0.3 * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.tobytes())
    return path


def write_video(path: Path, seconds: float) -> Path:
    """A VP8 WebM of changing grey frames (what --share plays as a screen)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libvpx", rate=15)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for index in range(int(15 * seconds)):
            image = np.full((240, 320, 3), (index * 8) % 256, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def video_frames(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        channels, rate = wav.getnchannels(), wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    assert rate == RATE, rate
    return data.reshape(-1, channels).mean(axis=1).astype(np.int16)


def no_devices(platform: RunningPlatform, folder: Path) -> dict[str, str]:
    """The platform's login, and audio devices that cannot open (so the test does not depend
    on the machine's sound server): PulseAudio at a socket that is not there, ALSA with an
    empty configuration."""
    empty = folder / "alsa.conf"
    empty.write_text("")
    return {**platform.env, "PULSE_SERVER": f"unix:{folder / 'no-pulse'}", "ALSA_CONFIG_PATH": str(empty)}


async def codeforge_call(env: dict[str, str], *args: str, cwd: Path = ROOT, timeout: float = 90) -> Run:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "codeforge", "call", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env={**env, "COLUMNS": "200"}, cwd=cwd,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


async def codeforge_call_tty(env: dict[str, str], *args: str, timeout: float = 90) -> Run:
    """`codeforge call` with its stdout on a pseudo-terminal (what a person sees: the live table)."""
    import pty

    master, slave = pty.openpty()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "codeforge", "call", *args,
        stdout=slave, stderr=asyncio.subprocess.PIPE, env={**env, "COLUMNS": "160", "TERM": "xterm"}, cwd=ROOT,
    )  # fmt: skip
    os.close(slave)

    def read_all() -> bytes:
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side closed with the process
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(master)
        return b"".join(chunks)

    reading = asyncio.ensure_future(asyncio.to_thread(read_all))
    _, err = await asyncio.wait_for(process.communicate(), timeout)
    out = await asyncio.wait_for(reading, timeout)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def no_secret(run: Run, *tokens: str) -> None:
    for token in tokens:
        assert token not in run.out and token not in run.err


async def test_codeforge_call_with_files_talks_and_listens(
    call_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str], tmp_path: Path
) -> None:
    cast = new_cast(live_platform, members)
    env = no_devices(live_platform, tmp_path)
    said = write_tone(tmp_path / "say.wav", 440.0, 8.0)
    heard = tmp_path / "heard.wav"
    navigator = CallClient(call_url(call_bridge.url, cast.session), cast.navigator, audio=ToneTrack(1000.0))
    await navigator.connect()
    capture = AudioCapture(navigator.received_audio)
    try:
        command = asyncio.ensure_future(
            codeforge_call(
                env, cast.session, "--bridge", call_bridge.url, "--input", str(said), "--output", str(heard),
                "--for", "6",
            )
        )  # fmt: skip
        owner = await navigator.until(
            lambda c: next((p["username"] for p in (c.state or {}).get("participants", []) if p["host"]), None),
            "the CLI's user in the call",
        )
        await hears(capture, 440.0, "the navigator hears the CLI's file")
        run = await command
        assert run.code == 0, run.err
        await navigator.until(lambda c: c.participant(owner) is None, "the CLI left at --for")
    finally:
        await capture.stop()
        await navigator.leave()
    assert f"Joined the call as {owner}" in run.out and "nav-nora" in run.out and "Left the call." in run.out
    mix = read_wav(heard)
    assert len(mix) > RATE  # seconds of the call went to the file
    assert tone_level(mix[-3 * RATE :], 1000.0) > 300  # the navigator's tone, in the CLI's output
    assert tone_level(mix[-3 * RATE :], 440.0) < 100  # not its own
    no_secret(run, cast.host, cast.navigator)


async def test_codeforge_call_lavfi_device_and_listen_only(
    call_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str], tmp_path: Path
) -> None:
    cast = new_cast(live_platform, members)
    env = no_devices(live_platform, tmp_path)
    navigator = CallClient(call_url(call_bridge.url, cast.session), cast.navigator, audio=ToneTrack(1000.0))
    await navigator.connect()
    capture = AudioCapture(navigator.received_audio)
    heard = tmp_path / "heard.wav"
    try:
        # PyAV's device path with lavfi's generator standing in for a microphone, on a terminal.
        command = asyncio.ensure_future(
            codeforge_call_tty(
                env, cast.session, "--bridge", call_bridge.url, "--input", "sine=frequency=440",
                "--input-format", "lavfi", "--output", str(heard), "--for", "5",
            )
        )  # fmt: skip
        await hears(capture, 440.0, "the navigator hears lavfi's sine")
        run = await command
        assert run.code == 0, run.err
        # The live table: who is in the call, roles, and the navigator talking (●).
        assert "participant" in run.out and "microphone" in run.out, run.out[-2000:]
        assert "nav-nora" in run.out and "driver, host" in run.out and "●" in run.out, run.out[-2000:]
        # --input none: a listener; --mute shows in the call's state; the session's end ends it.
        listener = asyncio.ensure_future(
            codeforge_call(
                env, cast.session, "--bridge", call_bridge.url, "--input", "none", "--output", str(heard), "--mute",
            )
        )  # fmt: skip
        await navigator.until(
            lambda c: any(p["host"] and p["muted"] for p in (c.state or {}).get("participants", [])),
            "the muted listener",
        )
        await asyncio.sleep(2)  # the CLI writes seconds of the mix to its file (nothing here to await)
        with live_platform.client() as client:
            client.call("collab.end", {"session": cast.session})
        run = await listener
        assert run.code == 0 and "The call ended" in run.out, (run.out, run.err)
    finally:
        await capture.stop()
        await navigator.close()
    assert tone_level(read_wav(heard)[-int(1.5 * RATE) :], 1000.0) > 300
    no_secret(run, cast.host, cast.navigator)


async def test_codeforge_call_finds_the_session_or_says_why_not(
    call_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str], tmp_path: Path
) -> None:
    env = no_devices(live_platform, tmp_path)
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "codeforge.yaml").write_text(f"project: {live_platform.project}\n")
    with live_platform.client() as client:  # the earlier tests' sessions end: none is active
        for session in client.call("collab.list", {"project": live_platform.project, "state": "active"}).items:
            client.call("collab.end", {"session": session.id})
    run = await codeforge_call(env, cwd=folder)
    assert run.code == 1 and "no active collaboration session" in run.err and "codeforge call SESSION" in run.err
    first = new_cast(live_platform, members)
    # One session: found, and the bridge from bridges.list; no device here says so.
    run = await codeforge_call(env, "--bridge", call_bridge.url, cwd=folder)
    assert run.code == 1, run.err
    assert "no audio input device" in run.err and "--input FILE" in run.err
    second: Cast = new_cast(live_platform, members)
    run = await codeforge_call(env, cwd=folder)
    assert run.code == 2 and "2 active sessions" in run.err
    assert first.session in run.err and second.session in run.err and "codeforge call SESSION" in run.err
    no_secret(run, live_platform.token)


async def test_codeforge_call_bad_arguments_and_refusals(
    call_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str], tmp_path: Path
) -> None:
    cast = new_cast(live_platform, members)
    env = no_devices(live_platform, tmp_path)
    said = write_tone(tmp_path / "say.wav", 440.0, 1.0)
    base = [cast.session, "--bridge", call_bridge.url]
    cases: list[tuple[list[str], int, str]] = [
        (["not-a-session"], 2, "not a session id"),
        ([*base, "--input", str(tmp_path / "missing.wav")], 2, "no such audio file"),
        ([*base, "--input", str(tmp_path)], 2, "no such audio file"),
        ([*base, "--input", "x", "--input-format", "nosuchformat"], 1, "no audio input device"),
        ([*base, "--input", str(said), "--output", str(tmp_path / "nowhere" / "x.wav")], 2, "not a folder"),
        ([*base, "--video-output", str(tmp_path / "v.webm")], 2, "add --watch USER"),
        ([cast.session, "--bridge", "http://127.0.0.1:1", "--input", str(said)], 2, "not a bridge URL"),
        ([*base, "--for", "0"], 2, "--for"),
        ([cast.session, "--bridge", "ws://127.0.0.1:9", "--input", str(said), "--output", str(tmp_path / "o.wav")],
         1, "cannot reach the bridge"),
    ]  # fmt: skip
    for args, code, says in cases:
        run = await codeforge_call(env, *args)
        assert (run.code, says in run.err) == (code, True), (args, run.code, run.err[-600:])
        no_secret(run, live_platform.token)
    # The bridge refuses an outsider (a token of the organization but no participant).
    outsider = {**env, "CODEFORGE_TOKEN": cast.outsider, "CODEFORGE_URL": live_platform.url}
    run = await codeforge_call(outsider, *base, "--input", str(said), "--output", str(tmp_path / "o.wav"))
    assert run.code == 1 and "refused" in run.err and "403" in run.err, run.err
    no_secret(run, cast.outsider)
    assert os.environ.get("CODEFORGE_TOKEN") is None or os.environ["CODEFORGE_TOKEN"] not in run.err


async def first_frames(track: Any, count: int = 10) -> int:
    """How many of `count` video frames came (each within 20 s)."""
    from aiortc.mediastreams import MediaStreamError

    frames = 0
    with contextlib.suppress(MediaStreamError, TimeoutError):
        while frames < count:
            await asyncio.wait_for(track.recv(), 20)
            frames += 1
    return frames


async def test_codeforge_call_shares_a_file_and_watches_a_share(
    call_bridge: BridgeProcess, live_platform: RunningPlatform, members: dict[str, str], tmp_path: Path
) -> None:
    """Two runs: one shares a video file (a guest watches it), one watches the navigator's
    camera into a file. (One run doing both needs the server's max-bundle: see
    test_endpoint's test_a_participant_who_shares_also_watches.)"""
    from aiortc.mediastreams import VideoStreamTrack

    cast = new_cast(live_platform, members)
    env = no_devices(live_platform, tmp_path)
    screen = write_video(tmp_path / "screen.webm", 12.0)
    watched = tmp_path / "watched.webm"
    url = call_url(call_bridge.url, cast.session)
    navigator = CallClient(url, cast.navigator, share=VideoStreamTrack(), share_kind="camera")
    guest = CallClient(url, cast.guest, watch=True)
    await navigator.connect()
    await guest.connect()
    captures = [AudioCapture(navigator.received_audio), AudioCapture(guest.received_audio)]
    try:
        command = asyncio.ensure_future(
            codeforge_call(
                env, cast.session, "--bridge", call_bridge.url, "--input", "none", "--output", str(tmp_path / "o.wav"),
                "--share", str(screen), "--for", "8",
            )
        )  # fmt: skip
        owner = await guest.until(
            lambda c: next(
                (p["username"] for p in (c.state or {}).get("participants", []) if p["host"] and p["sharing"]), None
            ),
            "the CLI's user sharing",
        )
        assert (guest.participant(owner) or {}).get("sharing") == "screen"
        await guest.watch(owner)
        assert guest.received_video is not None
        assert await first_frames(guest.received_video) == 10, "the CLI's screen did not reach the watcher"
        run = await command
        assert run.code == 0, run.err
        # Watching: asked for as soon as the navigator shares, written to --video-output.
        run = await codeforge_call(
            env, cast.session, "--bridge", call_bridge.url, "--input", "none", "--output", str(tmp_path / "o.wav"),
            "--watch", "nav-nora", "--video-output", str(watched), "--for", "6",
        )  # fmt: skip
        assert run.code == 0, run.err
    finally:
        for capture in captures:
            await capture.stop()
        await guest.leave()
        await navigator.leave()
    assert video_frames(watched) >= 10  # the navigator's camera, written by the CLI
    no_secret(run, cast.host, cast.navigator, cast.guest)


def test_codeforge_call_help_lists_its_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "codeforge", "call", "--help"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert done.returncode == 0
    for option in ("--bridge", "--input", "--input-format", "--output", "--share", "--watch", "--mute", "--for"):
        assert option in done.stdout
