"""The media of `codeforge call` (docs/voice.md): the system's audio devices through PyAV
(aiortc's MediaPlayer and MediaRecorder), or files, and a video file to share. Each failure
is a `CallSetupError` saying what to do next."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiortc import MediaStreamTrack

__all__ = ["CallSetupError", "Media", "open_input", "open_media", "open_output"]


class CallSetupError(Exception):
    """Something to fix before joining: `message` then `fix` (what to do)."""

    def __init__(self, message: str, fix: str = "", code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.code = code


@dataclass
class Media:
    """What the call sends and where what it receives goes; `close()` releases it all."""

    audio: MediaStreamTrack | None = None
    share: MediaStreamTrack | None = None
    players: list[Any] = field(default_factory=list)
    output: Any = None  # a MediaRecorder (device or file) or a MediaBlackhole
    video_output: Any = None

    def close(self) -> None:
        for player in self.players:
            for track in (player.audio, player.video):
                if track is not None:
                    track.stop()


def _device_defaults() -> list[tuple[str, str]]:
    """(format, device) pairs to try for the system's audio, by platform."""
    if sys.platform == "darwin":
        return [("avfoundation", ":0")]
    if sys.platform.startswith("win"):
        return [("dshow", "audio=default")]
    return [("pulse", "default"), ("alsa", "default")]


def _output_defaults() -> list[tuple[str, str]]:
    if sys.platform == "darwin":
        return [("audiotoolbox", "0")]
    return [("pulse", "default"), ("alsa", "default")]


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def open_input(source: str | None, fmt: str | None) -> tuple[Any, MediaStreamTrack]:
    """A MediaPlayer and its audio track: a device (`fmt` a device format, or the
    platform's default) or a file."""
    from aiortc.contrib.media import MediaPlayer

    candidates: list[tuple[str | None, str]]
    if source is not None and fmt is None:
        if not Path(source).is_file():
            raise CallSetupError(
                f"no such audio file: {source}",
                "give an existing file, or a device with --input-format (pulse, alsa, avfoundation, lavfi)",
                code=2,
            )
        candidates = [(None, source)]
    elif fmt is not None:
        candidates = [(fmt, source or dict(_device_defaults()).get(fmt, "default"))]
    else:
        candidates = [(f, d) for f, d in _device_defaults()]
    reasons: list[str] = []
    for candidate_format, name in candidates:
        try:
            player = MediaPlayer(name, format=candidate_format)
        except Exception as exc:  # PyAV's errors (no such device, format not built in)
            reasons.append(f"{candidate_format or 'file'} {name}: {_why(exc)}")
            continue
        if player.audio is None:
            for track in (player.video,):
                if track is not None:
                    track.stop()
            reasons.append(f"{candidate_format or 'file'} {name}: no audio stream in it")
            continue
        return player, player.audio
    if source is not None and fmt is None:
        raise CallSetupError(
            f"cannot read audio from {source} ({'; '.join(reasons)})", "give an audio file (WAV, …)", 2
        )
    raise CallSetupError(
        f"no audio input device ({'; '.join(reasons)})",
        "use --input FILE, name a device (--input-format pulse|alsa|avfoundation --input DEVICE), "
        "or listen only with --input none",
    )


def open_output(target: str | None, fmt: str | None) -> Any:
    """A MediaRecorder for the mix: a device or a file (WAV by its name)."""
    from aiortc.contrib.media import MediaRecorder

    candidates: list[tuple[str | None, str]]
    if target is not None and fmt is None:
        folder = Path(target).expanduser().resolve().parent
        if not folder.is_dir():
            raise CallSetupError(
                f"cannot write {target}: {folder} is not a folder", "give a path in an existing folder", 2
            )
        candidates = [(None, target)]
    elif fmt is not None:
        candidates = [(fmt, target or "default")]
    else:
        candidates = list(_output_defaults())
    reasons: list[str] = []
    for candidate_format, name in candidates:
        try:
            return MediaRecorder(name, format=candidate_format)
        except Exception as exc:
            reasons.append(f"{candidate_format or 'file'} {name}: {_why(exc)}")
    if target is not None and fmt is None:
        raise CallSetupError(f"cannot write {target} ({'; '.join(reasons)})", "give a .wav path you can write", 2)
    raise CallSetupError(
        f"no audio output device ({'; '.join(reasons)})",
        "use --output FILE.wav, or name a device: --output-format pulse|alsa --output DEVICE",
    )


def open_media(
    source: str | None,
    input_format: str | None,
    target: str | None,
    output_format: str | None,
    share: Path | None,
    video_output: Path | None,
) -> Media:
    from aiortc.contrib.media import MediaPlayer, MediaRecorder

    media = Media()
    try:
        if source != "none":  # none: listen only (the audio line is recvonly)
            player, media.audio = open_input(source, input_format)
            media.players.append(player)
        if share is not None:
            if not share.is_file():
                raise CallSetupError(f"no such video file: {share}", "give a video file to share with --share", 2)
            try:
                shared = MediaPlayer(str(share))
            except Exception as exc:
                raise CallSetupError(
                    f"cannot read {share}: {_why(exc)}", "give a video file (webm, mp4, …)", 2
                ) from None
            media.players.append(shared)
            if shared.video is None:
                raise CallSetupError(f"{share} has no video stream", "give a video file to share", 2)
            media.share = shared.video
        media.output = open_output(target, output_format)
        if video_output is not None:
            try:
                media.video_output = MediaRecorder(str(video_output))
            except Exception as exc:
                raise CallSetupError(
                    f"cannot write {video_output}: {_why(exc)}", "give a .webm or .mp4 path", 2
                ) from None
    except BaseException:
        media.close()
        raise
    return media
