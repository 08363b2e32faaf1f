"""A language-server request through `codeforge connect` and `codeforge bridge`, against the
same server over local stdio, in the same run.

Two editors in one process: one talks to `codeforge lsp` over stdio (the baseline), the
other to `codeforge connect ws://…` over stdio, which relays to a `codeforge bridge` on
loopback (a websocket, the link's framing, URI rewriting both ways, the bridge's pygls
session). Both open the same codeforge.yaml and ask for hover on it, a request the server
answers without the platform, interleaved so both see the same machine state. Prints
p50/p99 of each and what the bridge adds. Target: under 2 ms added at p50.

    .venv/bin/python -m benchmarks.bridge_lsp [--calls 500] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.lsp_roundtrip import PROJECT, _free_port, _stats, own_platform
from codeforge.bridge.framing import frame, read_message

ROOT = Path(__file__).resolve().parent.parent
YAML = f"project: {PROJECT}\nenv:\n  LOG_LEVEL: info\n"


class Editor:
    """A raw JSON-RPC client on a subprocess's stdio, as an editor is."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._next = 0
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, *command: str, env: dict[str, str]) -> Editor:
        process = await asyncio.create_subprocess_exec(
            *command, env=env, cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL, limit=1 << 24,
        )  # fmt: skip
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while (body := await read_message(self.process.stdout, limit=1 << 30)) is not None:
            message = json.loads(body)
            if "id" in message and "method" in message:  # the server asks: answer as an editor would
                items = (message.get("params") or {}).get("items") or []
                self.send({"id": message["id"], "result": [None] * len(items) if items else None})
            elif "id" in message and (future := self._waiting.pop(message["id"], None)) is not None:
                future.set_result(message)

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(frame(json.dumps({"jsonrpc": "2.0", **message}).encode()))

    async def request(self, method: str, params: Any) -> dict[str, Any]:
        self._next += 1
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = future
        self.send({"id": self._next, "method": method, "params": params})
        return await asyncio.wait_for(future, 60)

    async def open(self, root: Path, options: dict[str, Any]) -> str:
        answer = await self.request(
            "initialize",
            {"processId": None, "rootUri": root.as_uri(), "capabilities": {}, "initializationOptions": options},
        )
        assert "result" in answer, answer
        self.send({"method": "initialized", "params": {}})
        uri = (root / "codeforge.yaml").as_uri()
        self.send({"method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": YAML}}})  # fmt: skip
        return uri

    async def close(self) -> None:
        with_timeout = asyncio.wait_for
        try:
            await with_timeout(self.request("shutdown", None), 10)
            self.send({"method": "exit"})
            assert self.process.stdin is not None
            self.process.stdin.close()
            await with_timeout(self.process.wait(), 10)
        except (TimeoutError, ConnectionError):
            self.process.kill()
        self._reader.cancel()


async def start_bridge(folder: Path, env: dict[str, str], url: str) -> tuple[asyncio.subprocess.Process, str]:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "codeforge", "bridge", str(folder), "--project", PROJECT, "--port", str(port),
        "--url", url, "--log-level", "WARNING", env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdout is not None
    while line := await asyncio.wait_for(process.stdout.readline(), 60):
        if found := re.search(rb" at (wss?://\S+)", line):
            return process, found.group(1).decode()
    raise RuntimeError("the bridge did not start")


async def measure(url: str, token: str, env: dict[str, str], calls: int, warmup: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cf-bridge-bench-") as tmp:
        workspace, laptop = Path(tmp, "workspace"), Path(tmp, "laptop", "shop")
        for folder in (workspace, laptop):
            folder.mkdir(parents=True)
            (folder / "codeforge.yaml").write_text(YAML)
        env = {**env, "CODEFORGE_URL": url, "CODEFORGE_TOKEN": token}
        bridge, bridge_url = await start_bridge(workspace, env, url)
        local = await Editor.start(sys.executable, "-m", "codeforge", "lsp", env=env)
        remote = await Editor.start(sys.executable, "-m", "codeforge", "connect", bridge_url, env=env)
        try:
            options = {"showResults": "none"}
            local_uri = await local.open(workspace, options)
            remote_uri = await remote.open(laptop, options)

            async def hover(editor: Editor, uri: str) -> float:
                params = {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 2}}
                start = time.perf_counter()
                answer = await editor.request("textDocument/hover", params)
                elapsed = time.perf_counter() - start
                assert "error" not in answer, answer
                return elapsed

            for _ in range(warmup):
                await hover(local, local_uri)
                await hover(remote, remote_uri)
            local_times, remote_times = [], []
            for _ in range(calls):  # interleaved: both see the same machine state
                local_times.append(await hover(local, local_uri))
                remote_times.append(await hover(remote, remote_uri))
        finally:
            await local.close()
            await remote.close()
            bridge.terminate()
            await bridge.wait()
    local_p50, local_p99 = _stats(local_times)
    remote_p50, remote_p99 = _stats(remote_times)
    return {
        "calls": calls,
        "stdio_p50_ms": local_p50,
        "stdio_p99_ms": local_p99,
        "bridge_p50_ms": remote_p50,
        "bridge_p99_ms": remote_p99,
        "added_p50_ms": remote_p50 - local_p50,
        "added_p99_ms": remote_p99 - local_p99,
        "ratio_p50": remote_p50 / local_p50,
    }


def report(figures: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"LSP hover on codeforge.yaml, {figures['calls']} requests each, interleaved",
            f"  codeforge lsp over stdio          p50 {figures['stdio_p50_ms']:.2f} ms   p99 {figures['stdio_p99_ms']:.2f} ms",
            f"  connect -> bridge (websocket)     p50 {figures['bridge_p50_ms']:.2f} ms   p99 {figures['bridge_p99_ms']:.2f} ms",
            f"  bridge and relay add              p50 {figures['added_p50_ms']:.2f} ms   p99 {figures['added_p99_ms']:.2f} ms   (target < 2 ms at p50)",
            f"  ratio bridge/stdio                p50 {figures['ratio_p50']:.2f}x",
        ]
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    with own_platform() as (url, token, env):
        figures = asyncio.run(measure(url, token, env, args.calls, args.warmup))
    print(json.dumps(figures) if args.json else report(figures))
    return figures


if __name__ == "__main__":
    main()
