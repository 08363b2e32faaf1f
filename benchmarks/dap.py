"""Debugging through `codeforge connect --dap` and `codeforge bridge`, against debugpy's
adapter over local stdio, in the same run.

1. Round trip: two debuggers in one process, both stopped at the same breakpoint of the
   same program. One talks to `python -m debugpy.adapter` over stdio (the baseline), the
   other to `codeforge connect ws://… --dap` over stdio, which relays to a bridge on loopback
   (websocket, link framing, the proxy's seq rewriting and path mapping both ways). Each
   sends `threads`, `stackTrace` and `variables` in turn, interleaved. Target: under 2 ms
   added at p50.
2. Fan-out: 10 debuggers (each its own `connect --dap`) on one debug session; one presses
   continue and the program stops again at the next loop iteration. Measured: the time until
   the first and until the last client has the `stopped` event, and the spread between them
   (what the nine extra clients cost).

    .venv/bin/python -m benchmarks.dap [--calls 300] [--stops 30] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bridge_lsp import start_bridge
from benchmarks.lsp_roundtrip import _stats, own_platform
from codeforge.bridge.dap_adapter import frame, read_frame

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = """\
def work(i):
    data = {"i": i, "nested": {"list": list(range(10))}}
    return data


for i in range(100000):
    work(i)
"""
LINE = 3


class Debugger:
    """A DAP client on a subprocess's stdio, as an editor's debugger is."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.seq = 0
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.stops: asyncio.Queue[float] = asyncio.Queue()
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.session_id = ""
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, *command: str, env: dict[str, str]) -> Debugger:
        process = await asyncio.create_subprocess_exec(
            *command, env=env, cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, limit=1 << 24,
        )  # fmt: skip
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while (body := await read_frame(self.process.stdout)) is not None:
            message = json.loads(body)
            if message.get("type") == "response":
                future = self.waiting.pop(message["request_seq"], None)
                if future is not None:
                    future.set_result(message)
            elif message.get("event") == "stopped":
                self.stops.put_nowait(time.perf_counter())
            elif message.get("event") == "codeforge/debugSession":
                self.session_id = message["body"]["id"]
            elif message.get("type") == "event":
                self.events.put_nowait(message)

    def send(self, command: str, arguments: dict[str, Any] | None = None) -> asyncio.Future[dict[str, Any]]:
        assert self.process.stdin is not None
        self.seq += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[self.seq] = future
        message = {"seq": self.seq, "type": "request", "command": command, "arguments": arguments or {}}
        self.process.stdin.write(frame(message))
        return future

    async def ok(self, command: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = await asyncio.wait_for(self.send(command, arguments), 60)
        assert answer.get("success"), answer
        return answer.get("body") or {}

    async def initialized(self) -> None:
        while (await asyncio.wait_for(self.events.get(), 60)).get("event") != "initialized":
            pass

    async def launch(self, program: Path) -> None:
        await self.ok("initialize", {"adapterID": "debugpy", "pathFormat": "path"})
        launched = self.send("launch", {"program": str(program), "console": "internalConsole"})
        await self.initialized()
        await self.ok("setBreakpoints", {"source": {"path": str(program)}, "breakpoints": [{"line": LINE}]})
        await self.ok("configurationDone")
        await asyncio.wait_for(launched, 60)
        await asyncio.wait_for(self.stops.get(), 60)

    async def join(self) -> None:
        await self.ok("initialize", {"adapterID": "debugpy", "pathFormat": "path"})
        attached = self.send("attach", {})
        await self.initialized()
        await self.ok("configurationDone")
        await asyncio.wait_for(attached, 60)
        await asyncio.wait_for(self.stops.get(), 60)  # the synthesized stop of a late joiner

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(self.send("disconnect", {"terminateDebuggee": True}), 10)
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()
        self._reader.cancel()


async def _inspect(debugger: Debugger, thread: int) -> list[float]:
    """threads, stackTrace, scopes+variables: the requests a stop makes an editor send."""
    times = []
    for command, args in (("threads", {}), ("stackTrace", {"threadId": thread, "levels": 20})):
        start = time.perf_counter()
        body = await debugger.ok(command, args)
        times.append(time.perf_counter() - start)
    frame_id = body["stackFrames"][0]["id"]
    scopes = await debugger.ok("scopes", {"frameId": frame_id})
    start = time.perf_counter()
    await debugger.ok("variables", {"variablesReference": scopes["scopes"][0]["variablesReference"]})
    times.append(time.perf_counter() - start)
    return times


async def _thread(debugger: Debugger) -> int:
    return int((await debugger.ok("threads"))["threads"][0]["id"])


async def measure(url: str, token: str, env: dict[str, str], calls: int, stops: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cf-dap-bench-") as tmp:
        workspace, laptop = Path(tmp, "workspace"), Path(tmp, "laptop", "shop")
        for folder in (workspace, laptop):
            folder.mkdir(parents=True)
            (folder / "loop.py").write_text(PROGRAM)
        env = {**env, "CODEFORGE_URL": url, "CODEFORGE_TOKEN": token}
        bridge, bridge_url = await start_bridge(workspace, env, url)
        relay = [sys.executable, "-m", "codeforge", "connect", bridge_url, "--dap", "--local-root", str(laptop)]
        direct = await Debugger.start(sys.executable, "-m", "debugpy.adapter", env=env)
        remote = await Debugger.start(*relay, env=env)
        joined: list[Debugger] = []
        try:
            await direct.launch(workspace / "loop.py")
            await remote.launch(laptop / "loop.py")
            direct_thread, remote_thread = await _thread(direct), await _thread(remote)
            for _ in range(20):  # warm-up
                await _inspect(direct, direct_thread)
                await _inspect(remote, remote_thread)
            direct_times: list[float] = []
            remote_times: list[float] = []
            for _ in range(calls // 3):
                direct_times += await _inspect(direct, direct_thread)
                remote_times += await _inspect(remote, remote_thread)

            # Fan-out: nine more clients join the remote session.
            joined = [await Debugger.start(*relay, "--join", remote.session_id, env=env) for _ in range(9)]
            for debugger in joined:
                await debugger.join()
            everyone = [remote, *joined]
            first_ms: list[float] = []
            last_ms: list[float] = []
            single_ms: list[float] = []
            for _ in range(stops):
                start = time.perf_counter()
                await direct.ok("continue", {"threadId": direct_thread})
                single_ms.append((await asyncio.wait_for(direct.stops.get(), 60) - start) * 1000)
                start = time.perf_counter()
                await remote.ok("continue", {"threadId": remote_thread})
                arrivals = [await asyncio.wait_for(d.stops.get(), 60) for d in everyone]
                first_ms.append((min(arrivals) - start) * 1000)
                last_ms.append((max(arrivals) - start) * 1000)
        finally:
            for debugger in (*joined, direct, remote):
                await debugger.close()
            bridge.terminate()
            await bridge.wait()
    direct_p50, direct_p99 = _stats(direct_times)
    remote_p50, remote_p99 = _stats(remote_times)
    spread = sorted(b - a for a, b in zip(first_ms, last_ms, strict=True))
    return {
        "requests": len(direct_times),
        "direct_p50_ms": direct_p50,
        "direct_p99_ms": direct_p99,
        "bridge_p50_ms": remote_p50,
        "bridge_p99_ms": remote_p99,
        "added_p50_ms": remote_p50 - direct_p50,
        "stops": stops,
        "clients": 10,
        "direct_continue_to_stop_p50_ms": sorted(single_ms)[len(single_ms) // 2],
        "first_client_stop_p50_ms": sorted(first_ms)[len(first_ms) // 2],
        "last_client_stop_p50_ms": sorted(last_ms)[len(last_ms) // 2],
        "fanout_spread_p50_ms": spread[len(spread) // 2],
        "fanout_spread_max_ms": spread[-1],
    }


def report(f: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"DAP requests (threads, stackTrace, variables), {f['requests']} each, interleaved",
            f"  debugpy.adapter over stdio        p50 {f['direct_p50_ms']:.2f} ms   p99 {f['direct_p99_ms']:.2f} ms",
            f"  connect --dap -> bridge -> proxy  p50 {f['bridge_p50_ms']:.2f} ms   p99 {f['bridge_p99_ms']:.2f} ms",
            f"  bridge and relay add              p50 {f['added_p50_ms']:.2f} ms   (target < 2 ms at p50)",
            f"continue -> stopped, {f['stops']} stops",
            f"  debugpy directly, one client      p50 {f['direct_continue_to_stop_p50_ms']:.2f} ms",
            f"  through the bridge, {f['clients']} clients: first p50 {f['first_client_stop_p50_ms']:.2f} ms, "
            f"last p50 {f['last_client_stop_p50_ms']:.2f} ms",
            f"  fan-out spread (last - first)     p50 {f['fanout_spread_p50_ms']:.2f} ms   max {f['fanout_spread_max_ms']:.2f} ms",
        ]
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--stops", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    with own_platform() as (url, token, env):
        figures = asyncio.run(measure(url, token, env, args.calls, args.stops))
    print(json.dumps(figures) if args.json else report(figures))
    return figures


if __name__ == "__main__":
    main()
