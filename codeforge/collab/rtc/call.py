"""Calls of collaboration sessions: one `RTCPeerConnection` per participant with the server.

`CallServer` (one per bridge) holds at most one `Call` per session. A participant joins with
its offer and gets the answer; its audio goes into the call's `AudioMixer` and its mix comes
back on the same m-line; its share m-line is tapped by the call's `VideoForwarder`
(forward.py), its watch m-line gets a `ForwardTrack` switched between sharers. Who may do what
comes from `Member.role`/`host`, which the signalling side keeps in step with the session
(`update_members`). Events go to each participant's `on_event` (the signalling side turns them
into websocket messages and closes) and every change to `CallServer.on_change` listeners.
See docs/voice.md for the contract.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription

from codeforge.collab.access import Participant, Role
from codeforge.collab.rtc.codecs import CallError, OfferRefused, OfferShape, check_offer, prefer
from codeforge.collab.rtc.ice import IceSettings, rtc_configuration
from codeforge.collab.rtc.mixer import AudioMixer

if TYPE_CHECKING:  # forward.py is helper B's; imported when a video m-line needs it
    from codeforge.collab.rtc.forward import ForwardTrack, Source, VideoForwarder

__all__ = [
    "Call",
    "CallError",
    "CallServer",
    "CallState",
    "ChangeCallback",
    "Event",
    "EventCallback",
    "Joined",
    "Member",
    "ParticipantState",
    "ShareKind",
]

log = logging.getLogger(__name__)

ShareKind = Literal["screen", "camera"]
Event = dict[str, Any]
EventCallback = Callable[[Event], None]

TALKING_COALESCE = 0.1  # seconds: state changes carrying only `talking` are sent together
DROPPED = 4408  # `removed` code of a participant whose media stopped (its client may still listen)


class ParticipantState(TypedDict):
    username: str
    name: str
    color: str
    role: Role
    host: bool
    muted: bool
    muted_by_host: bool
    talking: bool
    sharing: ShareKind | None
    watching: str | None
    joined_at: str


class CallState(TypedDict):
    session: str
    state: Literal["active", "ended"]
    started_at: str
    participants: list[ParticipantState]


ChangeCallback = Callable[[str, CallState | None], None]


@dataclass(frozen=True)
class Member:
    """Who joins, as the session knows them."""

    username: str
    name: str
    color: str
    role: Role
    host: bool

    @classmethod
    def from_participant(cls, participant: Participant) -> Member:
        return cls(
            username=participant.username,
            name=participant.name or participant.username,
            color=participant.color,
            role=participant.role,
            host=participant.host,
        )


@dataclass
class Joined:
    answer_sdp: str
    call: Call


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(eq=False)
class _Peer:
    """One participant's client in the call (the newest of that user)."""

    member: Member
    pc: RTCPeerConnection
    on_event: EventCallback
    shape: OfferShape
    joined_at: str
    muted: bool = False
    muted_by_host: bool = False
    talking: bool = False
    sharing: ShareKind | None = None
    watching: str | None = None
    audio: RTCRtpTransceiver | None = None
    share: RTCRtpTransceiver | None = None
    watch: RTCRtpTransceiver | None = None
    source: Source | None = None  # the forwarder's tap of its share m-line
    viewer: ForwardTrack | None = None  # what its watch m-line sends
    monitor: asyncio.Task[None] | None = None
    gone: bool = False

    @property
    def username(self) -> str:
        return self.member.username

    @property
    def may_talk(self) -> bool:
        return self.member.role != "guest"

    def tell(self, event: Event) -> None:
        try:
            self.on_event(event)
        except Exception:  # the signalling side's bug must not break the call for others
            log.exception("delivering a %s event to %s failed", event.get("type"), self.username)


class Call:
    """The call of one session. Made by `CallServer.join`; use its methods for controls."""

    def __init__(self, server: CallServer, session: str) -> None:
        self.server = server
        self.session = session
        self.started_at = _now()
        self.ended = False
        self._peers: dict[str, _Peer] = {}  # in the order they joined
        self._members: dict[str, Member] = {}  # the session's roster as last told
        self._mixer: AudioMixer | None = None
        self._forwarder: VideoForwarder | None = None
        self._talk_flush: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.late_ticks = 0  # of mixers already dropped

    # -- reading --------------------------------------------------------------------------------

    def state(self) -> CallState:
        return {
            "session": self.session,
            "state": "ended" if self.ended else "active",
            "started_at": self.started_at,
            "participants": [self._participant_state(peer) for peer in self._peers.values()],
        }

    def _participant_state(self, peer: _Peer) -> ParticipantState:
        m = peer.member
        return {
            "username": m.username,
            "name": m.name,
            "color": m.color,
            "role": m.role,
            "host": m.host,
            "muted": peer.muted,
            "muted_by_host": peer.muted_by_host,
            "talking": peer.talking,
            "sharing": peer.sharing,
            "watching": peer.watching,
            "joined_at": peer.joined_at,
        }

    @property
    def usernames(self) -> list[str]:
        return list(self._peers)

    @property
    def mixer(self) -> AudioMixer | None:
        """The call's mixer while anyone is in it (None when empty)."""
        return self._mixer

    # -- controls -------------------------------------------------------------------------------

    async def leave(self, username: str, reason: str = "left") -> None:
        peer = self._peers.get(username)
        if peer is not None:
            await self._remove(peer, None, reason)

    def mute(self, username: str, muted: bool, *, by: str) -> None:
        """Yourself (`by == username`) either way; others only the host, and only to mute."""
        peer = self._peer(username)
        if by != username:
            who = self._member(by)
            if who is None or not who.host:
                raise CallError(4403, f"only the host can mute others; {by} is not the host (mute yourself instead)")
            if not muted:
                raise CallError(4403, f"only {username} can unmute themselves; ask them to")
            if peer.muted and peer.muted_by_host:
                return
            peer.muted, peer.muted_by_host = True, True
        else:
            if peer.muted == muted and not (not muted and peer.muted_by_host):
                return
            peer.muted = muted
            if not muted:
                peer.muted_by_host = False
        self._apply_audio(peer)
        self._changed()

    def share(self, username: str, kind: ShareKind | None) -> None:
        """Start (after the client's `replaceTrack`) or stop sharing the screen or camera."""
        peer = self._peer(username)
        if kind is not None and kind not in ("screen", "camera"):
            raise CallError(4400, f"share kind {kind!r}: use 'screen', 'camera' or null to stop")
        if not peer.may_talk:
            raise CallError(4403, f"{username} is a guest: guests listen and watch, they cannot share")
        if peer.source is None:
            raise CallError(
                4400,
                "your offer has no share m-line (a sendonly video after the audio): leave and join again with one",
            )
        if peer.sharing == kind:
            return
        peer.sharing = kind
        if kind is None:
            self._unwatch(username)
        else:
            peer.source.request_keyframe()
        self._changed()

    def watch(self, username: str, target: str | None) -> None:
        """Show `target`'s share on `username`'s watch m-line (None: nothing)."""
        peer = self._peer(username)
        if peer.watch is None:
            raise CallError(
                4400,
                "your offer has no watch m-line (a recvonly video): leave and join again with one",
            )
        if target is None:
            if peer.watching is None:
                return
            peer.watching = None
            if peer.viewer is not None:
                peer.viewer.switch(None)
            self._changed()
            return
        shown = self._peers.get(target)
        if shown is None or shown.sharing is None or shown.source is None:
            sharing = [p.username for p in self._peers.values() if p.sharing is not None]
            now = f"sharing now: {', '.join(sharing)}" if sharing else "nobody is sharing now"
            what = "is not in the call" if shown is None else "is not sharing"
            raise CallError(4400, f"{target} {what} ({now})")
        if peer.watching == target:
            return
        peer.watching = target
        if peer.viewer is None:
            peer.viewer = shown.source.subscribe()
            peer.watch.sender.replaceTrack(peer.viewer)
        else:
            peer.viewer.switch(shown.source)
        self._changed()

    # -- joining --------------------------------------------------------------------------------

    async def _join(self, member: Member, offer_sdp: str, on_event: EventCallback) -> str:
        shape = check_offer(offer_sdp)
        pc = RTCPeerConnection(rtc_configuration(self.server.ice))
        try:
            audio, share, watch = self._transceivers(pc, shape)
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            except Exception as exc:  # aiortc's validation: ICE credentials, fingerprint, bundle…
                raise OfferRefused(f"the offer was refused: {exc or type(exc).__name__}") from None
            await pc.setLocalDescription(await pc.createAnswer())
            if self.ended or self.server.closed:
                raise CallError(4410, "the call ended while you were joining")
        except BaseException:
            await pc.close()
            raise
        previous = self._peers.get(member.username)
        peer = _Peer(member=member, pc=pc, on_event=on_event, shape=shape, joined_at=_now())
        peer.audio, peer.share, peer.watch = audio, share, watch
        self._members[member.username] = member
        self._peers[member.username] = peer  # a replacement keeps the older client's place
        if previous is not None:
            # the same user's newer client: a host's mute stays (rejoining must not unmute)
            peer.joined_at = previous.joined_at
            peer.muted = peer.muted_by_host = previous.muted_by_host
            await self._remove(
                previous,
                {"type": "removed", "code": 4409, "reason": "you joined the call from another client"},
                "replaced by a newer client",
                notify=False,
            )
            if peer.gone:  # the call ended while the older client was closing
                await pc.close()
                raise CallError(4410, "the call ended while you were joining")
        self._wire(peer)
        pc.on("connectionstatechange", lambda: self._connection_changed(peer))
        peer.monitor = asyncio.ensure_future(self._monitor(peer))
        self._changed()
        return pc.localDescription.sdp

    def _transceivers(
        self, pc: RTCPeerConnection, shape: OfferShape
    ) -> tuple[RTCRtpTransceiver, RTCRtpTransceiver | None, RTCRtpTransceiver | None]:
        """Made before the offer is applied, in its order, so each m-line meets one with the
        right direction and codec preferences (aiortc negotiates codecs in setRemoteDescription)."""
        audio = pc.addTransceiver("audio", direction="sendrecv" if shape.sends_audio else "sendonly")
        prefer(audio, "audio")
        share = watch = None
        for role in shape.video:
            transceiver = pc.addTransceiver("video", direction="recvonly" if role == "share" else "sendonly")
            prefer(transceiver, "video")
            if role == "share":
                share = transceiver
            else:
                watch = transceiver
        return audio, share, watch

    def _wire(self, peer: _Peer) -> None:
        """The new peer's media into the call's mixer and forwarder."""
        mixer = self._ensure_mixer()
        assert peer.audio is not None
        peer.audio.sender.replaceTrack(mixer.output(peer.username))
        if peer.shape.sends_audio:
            mixer.add_receiver(peer.username, peer.audio.receiver, muted=self._silenced(peer))
        if peer.share is not None:
            peer.source = self._ensure_forwarder().tap(peer.share.receiver, peer.username)

    def _ensure_mixer(self) -> AudioMixer:
        if self._mixer is None:
            self._mixer = AudioMixer(self.server.interval)
            self._mixer.on_talking(self._talking)
        return self._mixer

    def _ensure_forwarder(self) -> VideoForwarder:
        if self._forwarder is None:
            from codeforge.collab.rtc.forward import VideoForwarder

            self._forwarder = VideoForwarder()
        return self._forwarder

    # -- leaving --------------------------------------------------------------------------------

    async def _remove(self, peer: _Peer, event: Event | None, reason: str, *, notify: bool = True) -> None:
        if self._detach(peer, event, reason, notify=notify):
            await self._close_peer(peer)

    def _detach(self, peer: _Peer, event: Event | None, reason: str, *, notify: bool = True) -> bool:
        """Out of the call at once (mixer, forwarder, state, its event); the peer connection
        is closed after (`_close_peer`). False if it was already out."""
        if peer.gone:
            return False
        peer.gone = True
        if self._peers.get(peer.username) is peer:
            del self._peers[peer.username]
        log.info("call %s: %s left (%s)", self.session, peer.username, reason)
        if self._mixer is not None:
            self._mixer.remove(peer.username)
        self._unwatch(peer.username)
        self._untap(peer)
        if peer.monitor is not None and peer.monitor is not asyncio.current_task():
            peer.monitor.cancel()
        if event is not None:
            peer.tell(event)
        if notify:
            self._changed()
        return True

    async def _close_peer(self, peer: _Peer) -> None:
        if not self._peers:
            await self._drop_media()
        await peer.pc.close()

    def _untap(self, peer: _Peer) -> None:
        if peer.viewer is not None:
            peer.viewer.switch(None)
            peer.viewer.stop()
            peer.viewer = None
        if peer.source is not None:
            peer.source.close()  # its watchers show nothing until they switch
        peer.source = None

    def _unwatch(self, username: str) -> None:
        """Those watching `username` see nothing now (it stopped sharing or left)."""
        for other in self._peers.values():
            if other.watching == username:
                other.watching = None
                if other.viewer is not None:
                    other.viewer.switch(None)

    async def _drop_media(self) -> None:
        """An empty call keeps no media objects (the call itself stays active until ended)."""
        mixer, self._mixer = self._mixer, None
        forwarder, self._forwarder = self._forwarder, None
        if mixer is not None:
            self.late_ticks += mixer.late_ticks
            await mixer.close()
        if forwarder is not None:
            forwarder.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- drops ----------------------------------------------------------------------------------

    def _connection_changed(self, peer: _Peer) -> None:
        state = peer.pc.connectionState
        if state in ("failed", "closed") and not peer.gone:
            self._spawn(self._drop(peer, f"its connection {state}"))

    async def _monitor(self, peer: _Peer) -> None:
        """Drop a peer from which nothing (RTP, RTCP, DTLS) came for `drop_after` seconds."""
        loop = asyncio.get_running_loop()
        drop_after = self.server.drop_after
        period = min(1.0, drop_after / 4)
        received, since = -1, loop.time()
        while not peer.gone:
            await asyncio.sleep(period)
            if peer.pc.connectionState in ("failed", "closed"):
                await self._drop(peer, f"its connection {peer.pc.connectionState}")
                return
            count = await _packets_received(peer.pc)
            now = loop.time()
            if count != received:
                received, since = count, now
            elif now - since >= drop_after:
                await self._drop(peer, f"nothing came from its client for {drop_after:g} s")
                return

    async def _drop(self, peer: _Peer, why: str) -> None:
        if peer.gone:
            return
        event = {
            "type": "removed",
            "code": DROPPED,
            "reason": f"your media stopped reaching the call ({why}); join again",
        }
        await self._remove(peer, event, f"dropped: {why}")

    # -- roster and end -------------------------------------------------------------------------

    def _update_members(self, members: list[Member]) -> None:
        self._members = {m.username: m for m in members}
        changed = False
        for peer in list(self._peers.values()):
            member = self._members.get(peer.username)
            if member is None:
                event = {
                    "type": "removed",
                    "code": 4403,
                    "reason": f"{peer.username} is no longer a participant of this session",
                }
                if self._detach(peer, event, "no longer a participant"):
                    self._spawn(self._close_peer(peer))
                continue
            if member == peer.member:
                continue
            peer.member = member
            changed = True
            self._apply_audio(peer)
            if not peer.may_talk and peer.sharing is not None:
                peer.sharing = None  # a guest now: its share stops
                self._unwatch(peer.username)
        if changed:
            self._changed()

    async def _end(self, reason: str) -> None:
        if self.ended:
            return
        self.ended = True
        if self._talk_flush is not None:
            self._talk_flush.cancel()
        peers = list(self._peers.values())
        for peer in peers:
            peer.gone = True
            if peer.monitor is not None and peer.monitor is not asyncio.current_task():
                peer.monitor.cancel()
            peer.tell({"type": "ended", "reason": reason})
        self._peers.clear()
        for peer in peers:
            self._untap(peer)
        await self._drop_media()
        await asyncio.gather(*(peer.pc.close() for peer in peers), return_exceptions=True)
        # removals still closing their peer connections finish (not cancelled: half-closed
        # connections would keep their sockets)
        pending = [task for task in self._tasks if task is not asyncio.current_task()]
        await asyncio.gather(*pending, return_exceptions=True)
        self.server._notify(self.session, self.state())

    # -- helpers --------------------------------------------------------------------------------

    def _peer(self, username: str) -> _Peer:
        if self.ended:
            raise CallError(4410, "the call has ended")
        peer = self._peers.get(username)
        if peer is None:
            raise CallError(4400, f"{username} is not in the call")
        return peer

    def _member(self, username: str) -> Member | None:
        peer = self._peers.get(username)
        return peer.member if peer is not None else self._members.get(username)

    def _silenced(self, peer: _Peer) -> bool:
        return peer.muted or not peer.may_talk

    def _apply_audio(self, peer: _Peer) -> None:
        if self._mixer is not None:
            self._mixer.set_muted(peer.username, self._silenced(peer))
        if self._silenced(peer):
            peer.talking = False

    def _talking(self, username: str, talking: bool) -> None:
        peer = self._peers.get(username)
        if peer is None or peer.talking == talking:
            return
        peer.talking = talking
        if self._talk_flush is None:
            loop = asyncio.get_running_loop()
            self._talk_flush = loop.call_later(TALKING_COALESCE, self._flush_talking)

    def _flush_talking(self) -> None:
        self._talk_flush = None
        if not self.ended:
            self._changed()

    def _changed(self) -> None:
        """Every participant and every `on_change` listener gets the new state."""
        if self._talk_flush is not None:  # this state carries the talking flags too
            self._talk_flush.cancel()
            self._talk_flush = None
        state = self.state()
        for peer in list(self._peers.values()):
            peer.tell({"type": "state", "call": state})
        self.server._notify(self.session, state)


async def _packets_received(pc: RTCPeerConnection) -> int:
    """Datagrams (DTLS, RTP, RTCP) received on the peer's transports."""
    try:
        report = await pc.getStats()
    except Exception:  # a connection closing under us: count nothing new
        return -1
    return sum(int(getattr(stats, "packetsReceived", 0)) for stats in report.values() if stats.type == "transport")


class CallServer:
    """The bridge's calls, at most one per collaboration session."""

    def __init__(self, ice: IceSettings | None = None, *, interval: float = 0.02, drop_after: float = 5.0) -> None:
        if drop_after <= 0:
            raise ValueError("drop_after must be positive (seconds without media before a participant is dropped)")
        AudioMixer(interval)  # validates the interval now rather than at the first join
        self.ice = ice
        self.interval = interval
        self.drop_after = drop_after
        self.closed = False
        self._calls: dict[str, Call] = {}
        self._callbacks: list[ChangeCallback] = []
        self._ended_late_ticks = 0

    def call(self, session: str) -> Call | None:
        """The session's active call, if any."""
        return self._calls.get(session)

    async def join(self, session: str, member: Member, offer_sdp: str, on_event: EventCallback) -> Joined:
        """`member` joins the session's call (started if none) with its offer."""
        if self.closed:
            raise CallError(4410, "the bridge is stopping: join again once it is back")
        call = self._calls.get(session)
        created = call is None
        if call is None:
            call = self._calls[session] = Call(self, session)
        try:
            answer = await call._join(member, offer_sdp, on_event)
        except BaseException:
            if created and not call._peers and self._calls.get(session) is call:
                del self._calls[session]  # nobody ever was in it: as if never started
            raise
        return Joined(answer_sdp=answer, call=call)

    def on_change(self, callback: ChangeCallback) -> Callable[[], None]:
        """`callback(session, state)` on every change of any call (the ended state last)."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None

    def update_members(self, session: str, members: list[Member]) -> None:
        """The session's participants now: role changes apply at once, one not listed leaves
        (removed 4403)."""
        call = self._calls.get(session)
        if call is not None:
            call._update_members(members)

    async def end(self, session: str, reason: str) -> None:
        call = self._calls.pop(session, None)
        if call is not None:
            await call._end(reason)
            self._ended_late_ticks += call.late_ticks

    async def close(self) -> None:
        self.closed = True
        for session in list(self._calls):
            await self.end(session, "the bridge is stopping")

    def stats(self) -> dict[str, int]:
        """For health: calls, participants, mixer ticks that ran late, audio packets lost and
        late (came after their turn) in the calls now active."""
        calls = list(self._calls.values())
        mixers = [c.mixer.stats() for c in calls if c.mixer is not None]
        return {
            "calls": len(calls),
            "participants": sum(len(c.usernames) for c in calls),
            "mixer_ticks_late": self._ended_late_ticks
            + sum(c.late_ticks for c in calls)
            + sum(m["late_ticks"] for m in mixers),
            "audio_packets_lost": sum(m["lost"] for m in mixers),
            "audio_packets_late": sum(m["late"] for m in mixers),
        }

    def _notify(self, session: str, state: CallState | None) -> None:
        for callback in list(self._callbacks):
            try:
                callback(session, state)
            except Exception:
                log.exception("a call change listener failed for session %s", session)
