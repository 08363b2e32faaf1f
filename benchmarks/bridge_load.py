"""Load: many editors on one bridge, each with its own language-server session doing
requests, for a while. Prints errors (target: zero), request latency, and memory per session
(the bridge's RSS growth from one idle bridge to all sessions open, divided by sessions).

Each editor is `codeforge connect`'s own client (`Connection.dial`, one session and one
`lsp` link each) in this process: a websocket, a handshake checked with the platform, a
pygls session on the bridge, `initialize`, a `didOpen` of codeforge.yaml, then hover
requests with a think time between them, as a person typing would cause. (A separate
`codeforge connect` process per editor would measure 200 Python interpreters, not the bridge.)

    .venv/bin/python -m benchmarks.bridge_load [--sessions 200] [--seconds 60] [--think 0.25] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.bridge_lsp import YAML, start_bridge
from benchmarks.lsp_roundtrip import _stats, own_platform
from codeforge.bridge.connect import Connection
from codeforge.bridge.link import Link

RAMP = 0.02  # seconds between two editors' arrivals: a busy morning, not one instant


class Editor:
    def __init__(self, url: str, token: str, root: Path) -> None:
        self.connection = Connection(url, token)
        self.root = root
        self.link: Link | None = None
        self.times: list[float] = []
        self.errors: list[str] = []
        self._next = 0

    async def request(self, method: str, params: Any) -> dict[str, Any]:
        assert self.link is not None
        self._next += 1
        await self.link.send(json.dumps({"jsonrpc": "2.0", "id": self._next, "method": method, "params": params}))
        while True:  # notifications (diagnostics) come in between
            message = json.loads(await asyncio.wait_for(self.link.receive(), 30))
            if message.get("id") == self._next and "method" not in message:
                return dict(message)
            if "id" in message and "method" in message:  # a request of the server's: answer it
                await self.link.send(json.dumps({"jsonrpc": "2.0", "id": message["id"], "result": None}))

    async def open(self) -> str:
        self.link = await self.connection.dial("lsp", {})
        answer = await self.request(
            "initialize", {"processId": None, "rootUri": self.root.as_uri(), "capabilities": {}, "initializationOptions": {"showResults": "none"}}
        )  # fmt: skip
        if "result" not in answer:
            raise RuntimeError(f"initialize failed: {answer}")
        uri = (self.root / "codeforge.yaml").as_uri()
        for message in (
            {"method": "initialized", "params": {}},
            {"method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": YAML}}},
        ):  # fmt: skip
            await self.link.send(json.dumps({"jsonrpc": "2.0", **message}))
        return uri

    async def work(self, uri: str, until: float, think: float) -> None:
        params = {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 2}}
        while time.monotonic() < until:
            await asyncio.sleep(random.uniform(0, 2 * think))
            start = time.perf_counter()
            try:
                answer = await self.request("textDocument/hover", params)
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                return
            self.times.append(time.perf_counter() - start)
            if "error" in answer:
                self.errors.append(str(answer["error"]))


async def measure(
    url: str, token: str, env: dict[str, str], sessions: int, seconds: float, think: float
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cf-bridge-load-") as tmp:
        workspace, laptop = Path(tmp, "workspace"), Path(tmp, "laptop")
        for folder in (workspace, laptop):
            folder.mkdir()
            (folder / "codeforge.yaml").write_text(YAML)
        bridge, bridge_url = await start_bridge(workspace, {**env, "CODEFORGE_TOKEN": token}, url)
        process = psutil.Process(bridge.pid)
        try:
            # One session first, then closed: the language server's modules are loaded once
            # per bridge, and that is not a cost of each session.
            warm = Editor(bridge_url, token, laptop)
            await warm.work(await warm.open(), time.monotonic() + 0.5, 0.01)
            await warm.connection.close()
            await asyncio.sleep(1.0)
            idle_rss = process.memory_info().rss

            editors = [Editor(bridge_url, token, laptop) for _ in range(sessions)]
            opened: list[asyncio.Future[str]] = []
            for editor in editors:  # arrivals spread a little, as people do
                opened.append(asyncio.ensure_future(editor.open()))
                await asyncio.sleep(RAMP)
            uris = await asyncio.gather(*opened, return_exceptions=True)
            open_errors = [f"{type(u).__name__}: {u}" for u in uris if isinstance(u, BaseException)]
            open_rss = process.memory_info().rss
            until = time.monotonic() + seconds
            await asyncio.gather(
                *(e.work(u, until, think) for e, u in zip(editors, uris, strict=True) if isinstance(u, str))
            )
            end_rss = process.memory_info().rss
            await asyncio.gather(*(e.connection.close() for e in editors), return_exceptions=True)
            # Every session ended (its links closed): what the bridge keeps is a leak.
            await asyncio.sleep(3.0)
            closed_rss = process.memory_info().rss
        finally:
            bridge.terminate()
            await bridge.wait()
    times = [t for e in editors for t in e.times]
    errors = open_errors + [err for e in editors for err in e.errors]
    p50, p99 = _stats(times) if times else (0.0, 0.0)
    p90 = sorted(times)[int(0.9 * (len(times) - 1))] * 1000 if times else 0.0
    return {
        "sessions": sessions,
        "seconds": seconds,
        "think_s": think,
        "requests": len(times),
        "requests_per_s": len(times) / seconds if seconds else 0.0,
        "errors": len(errors),
        "first_errors": errors[:5],
        "p50_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
        "idle_rss_mb": idle_rss / 2**20,
        "open_rss_mb": open_rss / 2**20,
        "end_rss_mb": end_rss / 2**20,
        "per_session_mb": (open_rss - idle_rss) / sessions / 2**20,
        "per_session_end_mb": (end_rss - idle_rss) / sessions / 2**20,
        "closed_rss_mb": closed_rss / 2**20,
    }


def report(f: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"{f['sessions']} editors on one bridge, each an LSP session doing hovers (think {f['think_s']} s), {f['seconds']:g} s",
            f"  requests {f['requests']} ({f['requests_per_s']:.0f}/s)   errors {f['errors']} (target 0)",
            f"  latency under load     p50 {f['p50_ms']:.2f} ms   p90 {f['p90_ms']:.2f} ms   p99 {f['p99_ms']:.2f} ms",
            f"  bridge RSS             idle {f['idle_rss_mb']:.0f} MiB -> {f['open_rss_mb']:.0f} MiB open -> {f['end_rss_mb']:.0f} MiB at the end",
            f"  memory per session     {f['per_session_mb']:.2f} MiB when opened, {f['per_session_end_mb']:.2f} MiB after the run",
            f"  all sessions closed    {f['closed_rss_mb']:.0f} MiB (Python keeps freed arenas; growth here is not per session)",
        ]
        + [f"  error: {e}" for e in f["first_errors"]]
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--think", type=float, default=0.25, help="mean seconds between one editor's requests")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with own_platform() as (url, token, env):
        figures = asyncio.run(measure(url, token, env, args.sessions, args.seconds, args.think))
    print(json.dumps(figures) if args.json else report(figures))
    print(f"  (this machine: {psutil.cpu_count()} CPUs; client, bridge and platform share them)")
    if figures["errors"]:
        sys.exit(1)
    return figures


if __name__ == "__main__":
    main()
