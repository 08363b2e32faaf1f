"""Voice calls: the media server's CPU per participant with audio mixed on the server
(CallServer's AudioMixer: N decodes and N encodes per 20 ms) against a full-mesh relay of the
same streams (every talker's track relayed to every other listener through aiortc's
`MediaRelay`, encoded once per leg: N decodes and N*(N-1) encodes), in the same run; and
mouth-to-ear latency on loopback.

For each room size (default 2, 5, 10, 20 talkers, everyone talking at once) and each server
(mixed, mesh), one after the other:

- the server is its own process, pinned to one core (os.sched_setaffinity); its CPU is the
  process's user+system time (psutil) over --seconds after --warmup, as a share of that core,
  and per participant;
- the talkers are aiortc peer connections in a load process pinned to the other cores. Each
  sends a spoken sentence (espeak-ng, quiet: -26 dBFS peak), pre-encoded to Opus once and
  paced at 20 ms a packet, so the load process spends nothing on encoding; what it receives is
  counted and not decoded (the server's work does not depend on it). `delivered` is the share
  of the audio frames the listeners should have had (N per 20 ms mixed, N*(N-1) mesh) that
  reached them: under 95 %, the server could not keep up on its core (`saturated`: its CPU is
  then a lower bound of what the room needs);
- mouth-to-ear (--latency-talkers, default 10): two of the talkers are in a probe process that
  decodes: one says a 30 ms 1 kHz click every 400 ms, the other records what it receives; the
  latency of a click is from the moment its frame was handed to the talker's sender (a
  microphone's frame would be ready then) to the moment the listener's receiver gave out the
  decoded frame holding its onset (a player could start it then), on one clock. No capture or
  playout buffers are included: they are the devices', not the server's. The listener hears
  through aiortc's own receiver track (its stock JitterBuffer: 80 ms of prefetch; what
  CallClient(playout=False) gives) and, in a second run, through
  `codeforge.collab.rtc.mixer.playout` (the mixer's jitter buffer on a clock of its own: what
  CallClient, and so `codeforge call`, plays by default);
  `direct` is the same two clients connected to each other with no server (the floor).

    .venv/bin/python -m benchmarks.voice [--talkers 2,5,10,20] [--servers mixed,mesh]
        [--seconds 10] [--warmup 3] [--latency-talkers 10] [--server-core 1] [--json]

Ratios are against the mesh relay measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil

__all__ = ["main"]

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ("mixed", "mesh")
RATE, FRAME = 48_000, 960
TIME_BASE = fractions.Fraction(1, RATE)
CLICK_EVERY = 0.4  # seconds between the probe's clicks
CLICK_THRESHOLD = 0.4 * 32767  # the click peaks at 0.8; the quiet talkers' mix stays far below
SATURATED = 0.95  # delivered share under which the server is said not to keep up


# -- the server process -------------------------------------------------------------------------


def _rtc_configuration() -> Any:
    """The call server's own ICE configuration (loopback host candidates, no STUN) when the
    media library is there; aiortc's default otherwise (the machine's interfaces)."""
    from aiortc import RTCConfiguration

    try:
        from codeforge.collab.rtc.ice import IceSettings, rtc_configuration
    except ImportError:
        return RTCConfiguration(iceServers=[])
    return rtc_configuration(IceSettings(stun=(), turn=()))


class _MeshServer:
    """A full-mesh relay: one peer connection per talker; each talker's track relayed to every
    other talker's connection through one MediaRelay (decoded once, encoded per leg)."""

    def __init__(self) -> None:
        from aiortc.contrib.media import MediaRelay

        self.relay = MediaRelay()
        self.pcs: list[Any] = []

    async def join(self, offers: list[str]) -> list[str]:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        pcs = [RTCPeerConnection(_rtc_configuration()) for _ in offers]
        for pc, sdp in zip(pcs, offers, strict=True):
            await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        sources = [pc.getTransceivers()[0].receiver.track for pc in pcs]
        for i, pc in enumerate(pcs):
            legs = pc.getTransceivers()[1:]
            others = [track for j, track in enumerate(sources) if j != i]
            for transceiver, track in zip(legs, others, strict=True):
                transceiver.direction = "sendonly"
                # unbuffered: a leg that falls behind skips frames instead of queueing them
                transceiver.sender.replaceTrack(self.relay.subscribe(track, buffered=False))
        answers = []
        for pc in pcs:
            await pc.setLocalDescription(await pc.createAnswer())
            answers.append(pc.localDescription.sdp)
        self.pcs += pcs
        return answers

    async def close(self) -> None:
        for pc in self.pcs:
            await pc.close()


class _MixedServer:
    """CallServer (codeforge.collab.rtc), one call, every talker a driver."""

    def __init__(self) -> None:
        from codeforge.collab.rtc import CallServer

        self.server = CallServer()

    async def join(self, offers: list[str]) -> list[str]:
        from codeforge.collab.rtc import Member

        answers = []
        for i, sdp in enumerate(offers):
            member = Member(f"talker{i}", f"talker {i}", "#e6194b", "driver", i == 0)
            joined = await self.server.join("bench", member, sdp, lambda event: None)
            answers.append(joined.answer_sdp)
        return answers

    async def close(self) -> None:
        await self.server.close()


async def _serve(kind: str, core: int | None) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})
    server: _MeshServer | _MixedServer = _MeshServer() if kind == "mesh" else _MixedServer()
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            request = json.loads(line)
            answers = await server.join(request["offers"])
            print(json.dumps({"answers": answers}), flush=True)
    finally:
        await server.close()


# -- talkers: the load process and the probe -------------------------------------------------------


def _opus_packets(folder: Path, level: float) -> list[bytes]:
    """The espeak sentence (at `level` peak) as 20 ms Opus packets, encoded once."""
    from aiortc.codecs.opus import OpusEncoder
    from av import AudioFrame

    from tests.call.audio import speech

    samples = speech(folder).astype(np.float64)
    samples = (samples * (level * 32767 / max(1.0, np.abs(samples).max()))).astype(np.int16)
    samples = np.concatenate([samples, np.zeros(-len(samples) % FRAME, dtype=np.int16)])
    encoder, packets = OpusEncoder(), []
    for start in range(0, len(samples), FRAME):
        frame = AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(samples[start : start + FRAME].tobytes())
        frame.pts, frame.sample_rate, frame.time_base = start, RATE, TIME_BASE
        packets += encoder.encode(frame)[0]
    return packets


def _packet_track(packets: list[bytes], offset: int) -> Any:
    """An audio track of pre-encoded Opus packets (aiortc's sender packs them, no encoding)."""
    from aiortc.mediastreams import MediaStreamTrack
    from av.packet import Packet

    class PacketTrack(MediaStreamTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self.index, self.start = offset, 0.0

        async def recv(self) -> Packet:
            if not self.start:
                self.start = time.monotonic() - self.index * 0.02
            self.index += 1
            wait = self.start + self.index * 0.02 - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            packet = Packet(packets[self.index % len(packets)])
            packet.pts, packet.time_base = self.index * FRAME, TIME_BASE
            return packet

    return PacketTrack()


def _count_instead_of_decoding() -> threading.Lock:
    """The load process receives every stream but decodes none: aiortc's decoder thread gets a
    decoder that counts the frames handed to it (the server's work is the same either way)."""
    import aiortc.rtcrtpreceiver as receiver

    lock = threading.Lock()

    class Counter:
        def decode(self, encoded_frame: Any) -> list[Any]:
            with lock:
                _COUNT[0] += 1
            return []

    receiver.get_decoder = lambda codec: Counter()  # type: ignore[assignment,return-value]
    return lock


_COUNT = [0]


def _offer_layout(pc: Any, track: Any, kind: str, talkers: int) -> None:
    """Mixed: one sendrecv audio m-line (the call's layout). Mesh: one sendonly m-line for the
    talker and one recvonly per other talker."""
    if kind == "mixed":
        pc.addTransceiver(track, direction="sendrecv")
        return
    pc.addTransceiver(track, direction="sendonly")
    for _ in range(talkers - 1):
        pc.addTransceiver("audio", direction="recvonly")


async def _connect(pcs: list[Any], answered: Any = None) -> Any:
    from aiortc import RTCSessionDescription

    loop = asyncio.get_running_loop()
    offers = []
    for pc in pcs:
        await pc.setLocalDescription(await pc.createOffer())
        offers.append(pc.localDescription.sdp)
    print(json.dumps({"offers": offers}), flush=True)
    answers = json.loads(await loop.run_in_executor(None, sys.stdin.readline))["answers"]
    for pc, sdp in zip(pcs, answers, strict=True):
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
    hooked = answered() if answered is not None else None  # before media flows
    while not all(pc.connectionState == "connected" for pc in pcs):
        if any(pc.connectionState in ("failed", "closed") for pc in pcs):
            raise RuntimeError("a talker's connection failed")
        await asyncio.sleep(0.05)
    print(json.dumps({"connected": True}), flush=True)
    return hooked


async def _load(kind: str, talkers: int, offset: int, total: int, cores: list[int]) -> None:
    """`talkers` quiet talkers; prints the frames counted so far on each line read."""
    from aiortc import RTCPeerConnection

    if cores:
        os.sched_setaffinity(0, set(cores))
    lock = _count_instead_of_decoding()
    with tempfile.TemporaryDirectory() as tmp:
        packets = _opus_packets(Path(tmp), 0.05)
    pcs = []
    for i in range(talkers):
        pc = RTCPeerConnection(_rtc_configuration())
        _offer_layout(pc, _packet_track(packets, 37 * (offset + i)), kind, total)
        pcs.append(pc)
    await _connect(pcs)
    loop = asyncio.get_running_loop()
    try:
        while await loop.run_in_executor(None, sys.stdin.readline):
            with lock:
                print(json.dumps({"frames": _COUNT[0]}), flush=True)
    finally:
        for pc in pcs:
            await pc.close()


def _listen(receiver: Any, playout: bool) -> Any:
    """The listener's received audio: aiortc's own receiver track (its stock JitterBuffer: 80 ms
    of prefetch), or through `collab.rtc.mixer.playout` (the mixer's jitter buffer on a clock)."""
    if not playout:
        return receiver.track
    from codeforge.collab.rtc.mixer import playout as mixer_playout

    return mixer_playout(receiver)


async def _probe(kind: str, total: int, cores: list[int], playout: bool = False) -> None:
    """Talker 0 clicks, talker 1 listens (it talks quietly too); on a line read, clicks for
    the number of seconds it says, then prints each click's mouth-to-ear latency."""
    from aiortc import RTCPeerConnection

    from tests.call.audio import PlayTrack, Recorder, click, speech

    if cores:
        os.sched_setaffinity(0, set(cores))
    with tempfile.TemporaryDirectory() as tmp:
        quiet = (speech(Path(tmp)).astype(np.float64) * 0.07).astype(np.int16)
    mouth, background = PlayTrack(), PlayTrack()
    background.loop(quiet)
    talker, listener = RTCPeerConnection(_rtc_configuration()), RTCPeerConnection(_rtc_configuration())
    if kind == "direct":  # no server: the talker's connection straight to the listener's
        from aiortc import RTCSessionDescription

        talker.addTransceiver(mouth, direction="sendonly")
        await talker.setLocalDescription(await talker.createOffer())
        await listener.setRemoteDescription(RTCSessionDescription(talker.localDescription.sdp, "offer"))
        await listener.setLocalDescription(await listener.createAnswer())
        heard = _listen(listener.getTransceivers()[0].receiver, playout)
        await talker.setRemoteDescription(RTCSessionDescription(listener.localDescription.sdp, "answer"))
        while listener.connectionState != "connected":
            await asyncio.sleep(0.05)
        print(json.dumps({"connected": True}), flush=True)
    else:
        _offer_layout(talker, mouth, kind, total)
        _offer_layout(listener, background, kind, total)
        # mixed: the listener's mix; mesh: the leg carrying talker 0 (the server's first other talker)
        index = 0 if kind == "mixed" else 1
        heard = await _connect([talker, listener], lambda: _listen(listener.getTransceivers()[index].receiver, playout))
    recorder = Recorder(heard).start()
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            seconds = float(line)
            beep, sent_at = click(), []
            started = time.monotonic()
            while time.monotonic() - started < seconds:
                before = len(mouth.said)
                mouth.say(beep)
                while len(mouth.said) == before:  # the frame it starts in is handed out
                    await asyncio.sleep(0.002)
                await asyncio.sleep(0.005)
                sent_at.append(mouth.send_time(mouth.said[-1]))
                await asyncio.sleep(CLICK_EVERY)
            await asyncio.sleep(1.0)
            print(json.dumps({"latencies": _click_latencies(recorder, sent_at)}), flush=True)
    finally:
        await recorder.stop()
        for pc in (talker, listener):
            await pc.close()


def _click_latencies(recorder: Any, sent_at: list[float]) -> list[float | None]:
    """For each click, from its send time to the arrival of the first recorded sample over
    the threshold that arrived after it was sent (None: never heard within a second)."""
    out: list[float | None] = []
    for sent in sent_at:
        found = None
        for pts, arrived, samples in recorder.frames:
            if arrived < sent or arrived > sent + 1.0:
                continue
            loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > CLICK_THRESHOLD)
            if len(loud):
                found = recorder.arrival(pts + int(loud[0])) - sent
                break
        out.append(None if found is None else found * 1000)
    return out


# -- the driver -----------------------------------------------------------------------------------


@dataclass
class _Child:
    process: subprocess.Popen[str]

    def send(self, message: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
        self.process.stdin.flush()

    def read(self, timeout: float = 120) -> dict[str, Any]:
        assert self.process.stdout is not None
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        if not box or not box[0]:
            raise RuntimeError(f"a benchmark process said nothing (exit {self.process.poll()}); see its stderr above")
        return dict(json.loads(box[0]))


@contextlib.contextmanager
def _child(*args: str) -> Iterator[_Child]:
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.voice", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        yield _Child(process)
    finally:
        with contextlib.suppress(OSError):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system + times.children_user + times.children_system)


def measure(kind: str, talkers: int, *, seconds: float, warmup: float, probe: bool, server_core: int,
            client_cores: list[int], playout: bool = False) -> dict[str, Any]:  # fmt: skip
    cores = ",".join(map(str, client_cores))
    load_talkers = talkers - 2 if probe else talkers
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(_child("serve", kind, "--core", str(server_core)))
        offers: list[str] = []
        extra = ["--playout"] if playout else []
        prober = stack.enter_context(_child("probe", kind, str(talkers), "--cores", cores, *extra)) if probe else None
        if prober is not None:
            offers += prober.read()["offers"]
        load = stack.enter_context(
            _child("load", kind, str(load_talkers), str(len(offers)), str(talkers), "--cores", cores)
        )
        if load_talkers:
            offers += load.read()["offers"]
        server.send({"offers": offers})
        answers = server.read()["answers"]
        if prober is not None:
            prober.send({"answers": answers[:2]})
            prober.read()
        if load_talkers:
            load.send({"answers": answers[len(answers) - load_talkers :]})
            load.read()
        time.sleep(warmup)
        proc = psutil.Process(server.process.pid)

        def frames() -> int:
            if not load_talkers:
                return 0
            load.send("count")
            return int(load.read()["frames"])

        frames0, cpu0, wall0 = frames(), _cpu(proc), time.monotonic()
        if prober is not None:
            prober.send(str(seconds))
        time.sleep(seconds)
        frames1, cpu1, wall1 = frames(), _cpu(proc), time.monotonic()
        latencies = prober.read(seconds + 60)["latencies"] if prober is not None else []
    elapsed = wall1 - wall0
    # frames the load's listeners should have had: each hears one mix, or every other talker
    per_listener = 1 if kind == "mixed" else talkers - 1
    expected = load_talkers * per_listener * elapsed / 0.02
    share = (cpu1 - cpu0) / elapsed
    heard = [x for x in latencies if x is not None]
    return {
        "server": kind, "listener": ("playout" if playout else "aiortc") if probe else None, "talkers": talkers, "seconds": elapsed, "cpuShare": share, "perParticipant": share / talkers,
        "delivered": (frames1 - frames0) / expected if expected else None,
        "latencyMs": _percentiles(heard) if heard else None, "clicksLost": len(latencies) - len(heard),
        "clicks": len(latencies),
    }  # fmt: skip


def _direct(seconds: float, client_cores: list[int], playout: bool) -> dict[str, Any]:
    """The floor: the probe's talker connected straight to its listener, no server."""
    extra = ["--playout"] if playout else []
    with _child("probe", "direct", "2", "--cores", ",".join(map(str, client_cores)), *extra) as prober:
        prober.read()
        prober.send(str(seconds))
        latencies = prober.read(seconds + 60)["latencies"]
    heard = [x for x in latencies if x is not None]
    return {
        "server": "direct (no server)", "listener": "playout" if playout else "aiortc", "talkers": 2, "seconds": seconds, "cpuShare": None, "perParticipant": None,
        "delivered": None, "latencyMs": _percentiles(heard) if heard else None,
        "clicksLost": len(latencies) - len(heard), "clicks": len(latencies),
    }  # fmt: skip


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = np.sort(np.array(values))
    return {"p50": float(np.percentile(ordered, 50)), "p95": float(np.percentile(ordered, 95)),
            "max": float(ordered[-1])}  # fmt: skip


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f} %"


def _saturated(r: dict[str, Any]) -> bool:
    """The server used its whole core and still delivered too little."""
    return r["delivered"] is not None and r["delivered"] < SATURATED and r["cpuShare"] >= 0.9


def _need(r: dict[str, Any]) -> float:
    """The share of a core the room needs: what it used, or for a saturated server what it used
    over what it delivered (it used all it had and delivered only part: the rest would have
    cost the same per frame)."""
    delivered = r["delivered"] or 1.0
    return float(r["cpuShare"]) / min(1.0, delivered) if _saturated(r) else float(r["cpuShare"])


def report(results: list[dict[str, Any]]) -> None:
    by = {(r["server"], r["talkers"], bool(r["clicks"])): r for r in results}
    print(
        "\n| talkers | server | server CPU (of one core) | delivered | needs (CPU ÷ delivered) | per participant "
        "| per participant vs mesh |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        if r["clicks"]:
            continue
        saturated = _saturated(r)
        late = not saturated and r["delivered"] is not None and r["delivered"] < SATURATED
        mesh = by.get(("mesh", r["talkers"], False))
        vs = "-"
        if r["server"] != "mesh" and mesh is not None and _need(mesh) > 0:
            vs = f"{_need(r) / _need(mesh):.3f}x"
        need = _need(r)
        print(f"| {r['talkers']} | {r['server']} | {_pct(r['cpuShare'])}{' (saturated)' if saturated else ''} | "
              f"{_pct(r['delivered'])}{' (short, with CPU to spare: other processes on its core)' if late else ''} | "
              f"{_pct(need)}{' (estimated)' if saturated else ''} | "
              f"{_pct(need / r['talkers'])} | {vs} |")  # fmt: skip
    probes = [r for r in results if r["clicks"]]
    if probes:
        print("\n| talkers | server | listener's jitter buffer | mouth-to-ear p50 / p95 / max ms | clicks heard | server CPU "
              "| delivered |")  # fmt: skip
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for r in probes:
            lat = r["latencyMs"]
            shown = "-" if lat is None else f"{lat['p50']:.1f} / {lat['p95']:.1f} / {lat['max']:.1f}"
            print(f"| {r['talkers']} | {r['server']} | {r.get('listener')} | {shown} | {r['clicks'] - r['clicksLost']} of {r['clicks']} | "
                  f"{_pct(r['cpuShare'])} | {_pct(r['delivered'])} |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("serve", "load", "probe"):
        return _child_main(argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--talkers", default="2,5,10,20", help="comma-separated room sizes")
    parser.add_argument("--servers", default=",".join(SERVERS), help="comma-separated, of mixed, mesh")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--latency-talkers", type=int, default=10, help="0: no latency run")
    parser.add_argument("--server-core", type=int, default=(os.cpu_count() or 1) - 1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    client_cores = [c for c in sorted(os.sched_getaffinity(0)) if c != args.server_core] or [args.server_core]
    load_before = os.getloadavg()
    results = []
    for talkers in [int(n) for n in args.talkers.split(",") if n]:
        for kind in args.servers.split(","):
            results.append(measure(kind, talkers, seconds=args.seconds, warmup=args.warmup, probe=False,
                                   server_core=args.server_core, client_cores=client_cores))  # fmt: skip
            print(json.dumps(results[-1]), file=sys.stderr)
    if args.latency_talkers:
        for playout in (False, True):
            results.append(_direct(args.seconds, client_cores, playout))
            print(json.dumps(results[-1]), file=sys.stderr)
        for kind in args.servers.split(","):
            for playout in (False, True) if kind == "mixed" else (False,):
                results.append(measure(kind, max(2, args.latency_talkers), seconds=args.seconds, warmup=args.warmup,
                                       probe=True, server_core=args.server_core, client_cores=client_cores,
                                       playout=playout))  # fmt: skip
                print(json.dumps(results[-1]), file=sys.stderr)
    load_after = os.getloadavg()
    print(f"\nmachine: {os.cpu_count()} cores (server on core {args.server_core}); "
          f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")  # fmt: skip
    report(results)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


def _child_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role")
    parser.add_argument("kind", choices=(*SERVERS, "direct"))
    parser.add_argument("numbers", nargs="*", type=int)
    parser.add_argument("--core", type=int)
    parser.add_argument("--cores", default="")
    parser.add_argument("--playout", action="store_true")
    args = parser.parse_args(argv)
    cores = [int(c) for c in args.cores.split(",") if c]
    if args.role == "serve":
        asyncio.run(_serve(args.kind, args.core))
    elif args.role == "load":
        talkers, offset, total = args.numbers
        if talkers:
            asyncio.run(_load(args.kind, talkers, offset, total, cores))
    else:
        asyncio.run(_probe(args.kind, args.numbers[0], cores, args.playout))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
