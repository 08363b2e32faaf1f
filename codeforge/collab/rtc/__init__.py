"""Calls of collaboration sessions: the media server the bridge runs (aiortc, PyAV, numpy).

Audio is mixed on the server for each listener (everyone but themselves), video is forwarded
without re-encoding (docs/voice.md). Like the rest of `codeforge.collab`, this package imports
neither the platform, the language server, the bridge nor the catalog. `VideoForwarder` and
`CallClient` live in `forward.py` and `client.py` (import them from there).
"""

from codeforge.collab.rtc.call import (
    Call,
    CallServer,
    CallState,
    ChangeCallback,
    Event,
    EventCallback,
    Joined,
    Member,
    ParticipantState,
    ShareKind,
)
from codeforge.collab.rtc.codecs import CallError, OfferRefused, OfferShape, check_offer
from codeforge.collab.rtc.ice import IceSettings, TurnServer, ice_servers_json, include_loopback, rtc_configuration
from codeforge.collab.rtc.mixer import AudioMixer, MixedTrack, fast_audio_level, playout

__all__ = [
    "AudioMixer",
    "Call",
    "CallError",
    "CallServer",
    "CallState",
    "ChangeCallback",
    "Event",
    "EventCallback",
    "IceSettings",
    "Joined",
    "Member",
    "MixedTrack",
    "OfferRefused",
    "OfferShape",
    "ParticipantState",
    "ShareKind",
    "TurnServer",
    "check_offer",
    "fast_audio_level",
    "ice_servers_json",
    "include_loopback",
    "playout",
    "rtc_configuration",
]
