"""`CallClient`: an aiortc participant of a call through the bridge's signalling endpoint
(`ws://bridge/call/<session>`, docs/voice.md). `codeforge call`, the tests and the benchmark
use it.

The client offers (no trickle: aiortc gathers before `setLocalDescription` returns), in the
contract's m-line order: audio (`sendrecv` with a track, `recvonly` without), the share video
(`sendonly`, present when the client may share: `replaceTrack` starts and stops it with no
renegotiation) and the watch video (`recvonly`). What the others say arrives as one mixed
track (`received_audio`), played out through the mixer's jitter buffer (`mixer.playout`: aiortc's
own adds 80 ms and, after each lost packet, stalls until 16 more arrive) and read by the
caller (`AudioCapture`, a `MediaRecorder`, or a blackhole).

`ToneTrack` (a generated tone, switchable on and off) and `AudioCapture` (what a track
carries, as samples, with each frame's arrival time) are what tests and benchmarks speak and
listen with.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCPeerConnection,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from av import AudioFrame

from codeforge.collab.rtc.ice import IceSettings, TurnServer, rtc_configuration

__all__ = [
    "AudioCapture",
    "CallClient",
    "CallClosed",
    "CallRefused",
    "CallUnreachable",
    "ShareKind",
    "ToneTrack",
    "call_url",
]

log = logging.getLogger(__name__)

ShareKind = Literal["screen", "camera"]
SAMPLE_RATE = 48000
FRAME_SAMPLES = 960  # 20 ms at 48 kHz: what Opus frames carry
State = dict[str, Any]


class CallRefused(Exception):
    """The bridge refused the handshake (an HTTP status before the upgrade) or closed the
    call's websocket with a refusal (4400 a bad offer, 4403, 4409, 4410)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}".strip())
        self.status = status
        self.reason = reason


class CallUnreachable(Exception):
    """No websocket to the bridge (wrong address, bridge down, a network in between)."""


class CallClosed(Exception):
    """The call's websocket closed while waiting for something."""


def call_url(bridge: str, session: str) -> str:
    """`ws://host:port/call/<session>` from a bridge's URL (its path and query dropped)."""
    parts = urlsplit(bridge)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        raise ValueError(f"{bridge!r} is not a bridge URL: ws://HOST:PORT or wss://HOST:PORT")
    return f"{parts.scheme}://{parts.netloc}/call/{session}"


def _settings(servers: list[dict[str, Any]]) -> IceSettings:
    """IceSettings from the welcome's `iceServers` (what browsers get)."""
    stun: list[str] = []
    turn: list[TurnServer] = []
    for server in servers:
        urls = server.get("urls") or []
        for url in [urls] if isinstance(urls, str) else urls:
            if str(url).startswith(("turn:", "turns:")):
                turn.append(TurnServer(str(url), str(server.get("username", "")), str(server.get("credential", ""))))
            else:
                stun.append(str(url))
    return IceSettings(stun=tuple(stun), turn=tuple(turn))


class CallClient:
    """One participant: `await connect()`, then controls; `await leave()` at the end."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        audio: MediaStreamTrack | None = None,
        share: MediaStreamTrack | None = None,
        watch: bool = False,
        ice: IceSettings | None = None,
        share_kind: ShareKind = "screen",
        can_share: bool | None = None,
        open_timeout: float = 30.0,
        playout: bool = True,
    ) -> None:
        self.url = url
        self._token = token  # never logged, never in an error
        self.audio = audio
        self._share_track = share
        self._share_kind: ShareKind = share_kind
        self.can_share = share is not None if can_share is None else can_share
        self.can_watch = watch
        self.ice = ice
        self.open_timeout = open_timeout
        self.playout = playout  # False: the mix as aiortc's receiver track gives it (benchmarks compare)
        self._received: MediaStreamTrack | None = None
        self.pc: RTCPeerConnection | None = None
        self.you = ""
        self.ice_servers: list[dict[str, Any]] = []
        self.state: State | None = None
        self.errors: list[str] = []  # refused controls, as the server said them
        self.event: dict[str, Any] | None = None  # the `removed` or `ended` event, when one came
        self.close_code: int | None = None
        self.close_reason = ""
        self._ws: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._answer: asyncio.Future[str] | None = None
        self._changed = asyncio.Event()
        self._closed = asyncio.Event()
        self._callbacks: list[Callable[[State], None]] = []
        self._error_callbacks: list[Callable[[str], None]] = []
        self._audio: RTCRtpTransceiver | None = None
        self._share: RTCRtpTransceiver | None = None
        self._watch: RTCRtpTransceiver | None = None

    # -- joining --------------------------------------------------------------------------

    async def connect(self) -> State:
        """Open the websocket, take the welcome, offer, apply the answer: joined. Raises
        CallRefused (said why) or CallUnreachable."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI

        try:
            self._ws = await connect(
                self.url,
                additional_headers={"Authorization": f"Bearer {self._token}"},
                open_timeout=self.open_timeout,
                max_size=1024 * 1024,
                compression=None,
            )
        except InvalidStatus as exc:
            body = exc.response.body.decode(errors="replace").strip() if exc.response.body else ""
            raise CallRefused(exc.response.status_code, body or "refused") from None
        except InvalidURI:
            raise CallUnreachable(f"{urlsplit(self.url)._replace(query='').geturl()} is not a websocket URL") from None
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            where = urlsplit(self.url).netloc
            raise CallUnreachable(f"cannot reach the bridge at {where}: {exc or type(exc).__name__}") from None
        welcome = await self._first_message()
        if welcome.get("type") != "welcome":
            await self._ws.close(4400, "expected a welcome")
            raise CallRefused(4400, f"the bridge sent {welcome.get('type')!r} before its welcome")
        self.you = str(welcome.get("you", ""))
        self.ice_servers = list(welcome.get("iceServers") or [])
        self._set_state(welcome.get("call"))
        self._answer = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read())
        try:
            sdp = await self._offer()
            await self.send({"type": "offer", "sdp": sdp})
            answer = await self._until_answer()
            assert self.pc is not None
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            if self.playout and self._audio is not None:  # before media flows: its packets go to it
                from codeforge.collab.rtc.mixer import playout

                self._received = playout(self._audio.receiver)
            if self._share_track is not None:
                await self.send({"type": "share", "kind": self._share_kind})
        except BaseException:
            await self.close()
            raise
        return self.state or {}

    async def _first_message(self) -> dict[str, Any]:
        from websockets.exceptions import ConnectionClosed

        try:
            async with asyncio.timeout(self.open_timeout):
                text = await self._ws.recv()
        except ConnectionClosed as exc:
            raise CallRefused(exc.rcvd.code if exc.rcvd else 1006, exc.rcvd.reason if exc.rcvd else "") from None
        return dict(json.loads(text))

    async def _offer(self) -> str:
        settings = self.ice if self.ice is not None else _settings(self.ice_servers)
        configuration = rtc_configuration(settings)
        # aiortc's default (balanced) puts the second video transceiver on the first one's
        # transport at creation and marks it bundled; the answer's BUNDLE then moves only the
        # others onto the audio's transport, so the watch line (with a share line before it)
        # stays on a transport that never connects and receives nothing. Max-bundle puts every
        # line on the first transport from the start.
        configuration.bundlePolicy = RTCBundlePolicy.MAX_BUNDLE
        self.pc = pc = RTCPeerConnection(configuration)
        if self.audio is not None:
            self._audio = pc.addTransceiver(self.audio, direction="sendrecv")
        else:
            self._audio = pc.addTransceiver("audio", direction="recvonly")
        if self.can_share:
            self._share = pc.addTransceiver("video", direction="sendonly")
            if self._share_track is not None:
                self._share.sender.replaceTrack(self._share_track)
        if self.can_watch:
            self._watch = pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())  # gathers: the SDP holds the candidates
        return str(pc.localDescription.sdp)

    async def _until_answer(self) -> str:
        assert self._answer is not None
        closed: asyncio.Future[Any] = asyncio.ensure_future(self._closed.wait())
        waits: list[asyncio.Future[Any]] = [self._answer, closed]
        try:
            async with asyncio.timeout(self.open_timeout):
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError:
            raise CallRefused(0, f"no answer from the bridge within {self.open_timeout:.0f} s") from None
        finally:
            closed.cancel()
        if self._answer.done():
            return self._answer.result()
        # The close reason holds 123 bytes; the bridge sends the whole refusal as an error first.
        reason = self.errors[-1] if self.errors else self.close_reason
        raise CallRefused(self.close_code or 1006, reason or "the bridge closed the call")

    # -- what comes in --------------------------------------------------------------------

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for text in self._ws:
                message = json.loads(text)
                kind = message.get("type")
                if kind == "answer" and self._answer is not None and not self._answer.done():
                    self._answer.set_result(str(message.get("sdp", "")))
                elif kind == "state":
                    self._set_state(message.get("call"))
                elif kind == "error":
                    self._refused(str(message.get("message", "")))
                elif kind in ("removed", "ended"):
                    self.event = message
                    if kind == "ended" and self.state is not None:
                        self._set_state({**self.state, "state": "ended"})
                    self._notify()
        except ConnectionClosed:
            pass
        except Exception:  # a bridge sending something else than the protocol
            log.exception("reading the call's websocket failed")
        finally:
            self.close_code = self._ws.close_code
            self.close_reason = self._ws.close_reason or ""
            self._closed.set()
            self._notify()
            if self.pc is not None:
                with contextlib.suppress(Exception):
                    await self.pc.close()

    def _set_state(self, state: Any) -> None:
        if isinstance(state, dict):
            self.state = state
            for callback in list(self._callbacks):
                try:
                    callback(state)
                except Exception:
                    log.exception("a call state listener failed")
        self._notify()

    def _refused(self, message: str) -> None:
        self.errors.append(message)
        for callback in list(self._error_callbacks):
            try:
                callback(message)
            except Exception:
                log.exception("a call error listener failed")
        self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def on_state(self, callback: Callable[[State], None]) -> Callable[[], None]:
        """`callback(state)` on every state the bridge sends; returns an unsubscribe."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def on_error(self, callback: Callable[[str], None]) -> Callable[[], None]:
        """`callback(message)` for each control the bridge refused; returns an unsubscribe."""
        self._error_callbacks.append(callback)
        return lambda: self._error_callbacks.remove(callback) if callback in self._error_callbacks else None

    async def until(self, check: Callable[[CallClient], Any], what: str, timeout: float = 30.0) -> Any:
        """Wait until `check(self)` is truthy (checked on every message); its value.
        TimeoutError names `what`; CallClosed when the websocket closes first."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    changed = self._changed
                    if value := check(self):
                        return value
                    if self._closed.is_set():
                        raise CallClosed(f"the call closed ({self.close_code} {self.close_reason}) before {what}")
                    await changed.wait()
        except TimeoutError:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s; the call is {self.state}") from None

    async def wait_closed(self, timeout: float = 30.0) -> tuple[int | None, str]:
        async with asyncio.timeout(timeout):
            await self._closed.wait()
        return self.close_code, self.close_reason

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def participant(self, username: str) -> dict[str, Any] | None:
        for participant in (self.state or {}).get("participants", []):
            if participant.get("username") == username:
                return dict(participant)
        return None

    @property
    def received_audio(self) -> MediaStreamTrack:
        """The mix of everyone else (read it, or it piles up)."""
        assert self._audio is not None, "connect() first"
        return self._received if self._received is not None else self._audio.receiver.track

    @property
    def received_video(self) -> MediaStreamTrack | None:
        """The share this client watches (`watch=True`), else None."""
        return self._watch.receiver.track if self._watch is not None else None

    # -- controls -------------------------------------------------------------------------

    async def send(self, message: dict[str, Any] | str) -> None:
        """Send a protocol message as is (the controls below build theirs; tests send raw)."""
        from websockets.exceptions import ConnectionClosed

        try:
            await self._ws.send(message if isinstance(message, str) else json.dumps(message))
        except ConnectionClosed:
            raise CallClosed(f"the call closed ({self.close_code} {self.close_reason})") from None

    async def mute(self, muted: bool = True, username: str | None = None) -> None:
        """Mute or unmute yourself; with `username`, the host mutes someone."""
        message: dict[str, Any] = {"type": "mute", "muted": muted}
        if username is not None:
            message["username"] = username
        await self.send(message)

    async def share(self, track: MediaStreamTrack | None, kind: ShareKind = "screen") -> None:
        """Start (or switch) your share with `track`, or stop it with None."""
        if self._share is None:
            raise ValueError("this client has no share video line: make it with share= or can_share=True")
        self._share.sender.replaceTrack(track)
        self._share_track = track
        await self.send({"type": "share", "kind": kind if track is not None else None})

    async def watch(self, username: str | None) -> None:
        """Whose share `received_video` shows (None: nobody's)."""
        await self.send({"type": "watch", "username": username})

    async def end(self) -> None:
        """End the call for everyone (the host or an organization admin)."""
        await self.send({"type": "end"})

    async def leave(self, timeout: float = 10.0) -> None:
        """Leave (the bridge closes 1000), then release the peer connection."""
        if self._ws is not None and not self._closed.is_set():
            with contextlib.suppress(CallClosed):
                await self.send({"type": "leave"})
            with contextlib.suppress(TimeoutError):
                await self.wait_closed(timeout)
        await self.close()

    async def close(self) -> None:
        """Drop the websocket and the peer connection, without a `leave` (the bridge removes
        the participant when its websocket closes)."""
        if self._received is not None:
            self._received.stop()  # the playout's clock
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader
        if self.pc is not None:
            with contextlib.suppress(Exception):
                await self.pc.close()


class ToneTrack(MediaStreamTrack):
    """A sine at `frequency`, in real time (20 ms frames, s16 mono 48 kHz); `sounding =
    False` sends silence. Frames carry increasing pts, paced by the clock like a microphone."""

    kind = "audio"

    def __init__(self, frequency: float = 440.0, amplitude: float = 0.3) -> None:
        super().__init__()
        self.frequency = frequency
        self.amplitude = amplitude
        self.sounding = True
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        else:
            wait = self._start + (self._pts + FRAME_SAMPLES) / SAMPLE_RATE - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
        index = np.arange(self._pts, self._pts + FRAME_SAMPLES)
        if self.sounding:
            wave = self.amplitude * 32767 * np.sin(2 * math.pi * self.frequency * index / SAMPLE_RATE)
            samples = wave.astype(np.int16)
        else:
            samples = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        frame = AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
        self._pts += FRAME_SAMPLES
        return frame


class AudioCapture:
    """Reads a track to its end (or `stop()`): mono int16 samples at the track's rate and
    when each frame arrived (`time.monotonic()`, its first sample's index)."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.sample_rate = SAMPLE_RATE
        self.arrivals: list[tuple[float, int]] = []
        self._chunks: list[np.ndarray] = []
        self._count = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        from aiortc.mediastreams import MediaStreamError

        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await self.track.recv()
                assert isinstance(frame, AudioFrame)
                self.sample_rate = frame.sample_rate
                channels = len(frame.layout.channels)
                array = frame.to_ndarray()
                # Packed: (1, samples * channels), interleaved; planar: (channels, samples).
                by_sample = array.T if frame.format.is_planar else array.reshape(-1, channels)
                data = by_sample.astype(np.int32).mean(axis=1).astype(np.int16)
                self.arrivals.append((time.monotonic(), self._count))
                self._chunks.append(data)
                self._count += len(data)

    def samples(self) -> np.ndarray:
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, dtype=np.int16)

    def since(self, moment: float) -> np.ndarray:
        """The samples of the frames that arrived after `moment` (time.monotonic())."""
        first = next((index for at, index in self.arrivals if at >= moment), self._count)
        return self.samples()[first:]

    async def stop(self) -> np.ndarray:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return self.samples()
