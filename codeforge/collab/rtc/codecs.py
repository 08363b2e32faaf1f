"""What the call's media server accepts in an offer, and the refusals that say why not.

The server mixes audio (so it decodes and encodes it: Opus only, the codec every browser and
aiortc speak) and forwards video untouched (so the watcher must decode what the sharer sends:
VP8, which every browser and aiortc decode). The offer's layout (docs/voice.md, "The media
layout"): audio first (`sendrecv`, or `recvonly` for a listener without a microphone), then at
most one `sendonly` video (the participant's share) and at most one `recvonly` video (what it
watches). Anything else is refused here, before a peer connection exists, with a message that
names what the offer had and what the server needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from aiortc import RTCRtpTransceiver
from aiortc.rtcrtpparameters import RTCRtpCodecCapability
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.sdp import SessionDescription

__all__ = [
    "AUDIO_CODEC",
    "VIDEO_CODEC",
    "CallError",
    "OfferRefused",
    "OfferShape",
    "check_offer",
    "prefer",
]

AUDIO_CODEC = "audio/opus"
VIDEO_CODEC = "video/VP8"
_RTX = "video/rtx"

VideoRole = Literal["share", "watch"]


class CallError(Exception):
    """A refusal the signalling side turns into a websocket close or an error message.

    `code`: 4400 bad offer or message, 4403 not allowed, 4409 replaced by the same user's newer
    client, 4410 the call or session ended. `message` says what to do next. It lives here (not
    in call.py) because the offer's refusals are CallErrors and call.py imports this module."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class OfferRefused(CallError):
    """An offer the server cannot answer (malformed SDP, layout, codecs): close 4400."""

    def __init__(self, message: str) -> None:
        super().__init__(4400, message)


@dataclass(frozen=True)
class OfferShape:
    """What a valid offer carries: the audio direction as the client offered it, and the
    roles of its video m-lines in the offer's order (the server pre-creates transceivers in
    that order, so each m-line meets the right one)."""

    audio: Literal["sendrecv", "recvonly"]
    video: tuple[VideoRole, ...] = ()

    @property
    def sends_audio(self) -> bool:
        return self.audio == "sendrecv"

    @property
    def share(self) -> bool:
        return "share" in self.video

    @property
    def watch(self) -> bool:
        return "watch" in self.video


def _codec_names(mime_types: list[str]) -> str:
    names: list[str] = []
    for mime in mime_types:
        name = mime.split("/", 1)[-1]
        if name.lower() not in ("rtx", "red", "ulpfec", "flexfec-03", "telephone-event", "cn") and name not in names:
            names.append(name)
    return ", ".join(names) or "no codec"


def check_offer(sdp: str) -> OfferShape:
    """The offer's shape, or OfferRefused naming what was wrong (never another exception)."""
    if not isinstance(sdp, str):
        raise OfferRefused(f"the offer is not SDP: expected text, got {type(sdp).__name__}")
    if not sdp.strip():
        raise OfferRefused("the offer is not SDP: it is empty; send the peer connection's createOffer() sdp")
    if not sdp.lstrip().startswith("v="):
        raise OfferRefused(
            f"the offer is not SDP: it must start with 'v=0' (it starts with {sdp.strip()[:20]!r}); "
            "send the peer connection's createOffer() sdp"
        )
    try:
        description = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc's parser raises whatever a bad line makes it raise
        raise OfferRefused(f"the offer is not SDP: {type(exc).__name__}: {exc}") from None
    media = description.media
    if not media:
        raise OfferRefused("the offer has no media (m-lines): offer an audio m-line (Opus) first")
    first = media[0]
    if first.kind != "audio":
        raise OfferRefused(
            f"the offer's first m-line is {first.kind}: the call needs audio first (Opus, sendrecv or recvonly), "
            "then an optional sendonly video (your share) and an optional recvonly video (what you watch)"
        )
    if first.direction not in ("sendrecv", "recvonly"):
        raise OfferRefused(
            f"the offer's audio is {first.direction}: it must be sendrecv (talk and listen) or recvonly (listen only)"
        )
    audio_codecs = [codec.mimeType for codec in first.rtp.codecs]
    if not any(mime.lower() == AUDIO_CODEC for mime in audio_codecs):
        raise OfferRefused(
            f"audio must offer Opus (the server mixes Opus at 48 kHz); your offer has {_codec_names(audio_codecs)}"
        )
    video: list[VideoRole] = []
    for index, m in enumerate(media[1:], start=2):
        if m.kind != "video":
            raise OfferRefused(
                f"the offer's m-line {index} is {m.kind}: after the audio a call takes only video "
                "(one sendonly share, one recvonly watch); no data channels or second audio"
            )
        if m.direction == "sendonly":
            role: VideoRole = "share"
        elif m.direction == "recvonly":
            role = "watch"
        else:
            raise OfferRefused(
                f"the offer's video m-line {index} is {m.direction}: video is sendonly (your share) "
                "or recvonly (what you watch), one of each at most"
            )
        if role in video:
            raise OfferRefused(
                f"the offer has more than one {m.direction} video m-line: one share and one watch at most"
            )
        codecs = [codec.mimeType for codec in m.rtp.codecs]
        if not any(mime.lower() == VIDEO_CODEC.lower() for mime in codecs):
            raise OfferRefused(
                "video must offer VP8: the call forwards video without re-encoding, so every watcher "
                f"decodes what the sharer sends; your offer has {_codec_names(codecs)}"
            )
        video.append(role)
    return OfferShape(audio="sendrecv" if first.direction == "sendrecv" else "recvonly", video=tuple(video))


def _capabilities(kind: Literal["audio", "video"]) -> list[RTCRtpCodecCapability]:
    capabilities = RTCRtpSender.getCapabilities(kind)
    assert capabilities is not None  # aiortc knows both kinds
    wanted = (AUDIO_CODEC,) if kind == "audio" else (VIDEO_CODEC.lower(), _RTX)
    return [codec for codec in capabilities.codecs if codec.mimeType.lower() in wanted]


def prefer(transceiver: RTCRtpTransceiver, kind: Literal["audio", "video"]) -> None:
    """Only Opus (audio) or VP8 and its retransmissions (video) in the answer. Must be set on a
    transceiver created before `setRemoteDescription`: aiortc negotiates the codecs there."""
    transceiver.setCodecPreferences(_capabilities(kind))
