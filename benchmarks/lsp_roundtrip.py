"""Round trip of a quick operation through the language server, against plain HTTP.

An LSP client (pygls) starts `codeforge lsp` over stdio and runs `codeforge.env.list`;
the same call goes straight to the platform with httpx in the same run, interleaved so
both see the same machine state. Prints p50/p99 of each, the language server's overhead
and the ratio. Target: the language server adds under 2 ms at p50.

    .venv/bin/python -m benchmarks.lsp_roundtrip [--calls 300] [--url URL --token TOKEN]

Without --url it starts its own platform (`python -m codeforge serve`, temp data dir).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo"
VARIABLES = 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def own_platform() -> Iterator[tuple[str, str, dict[str, str]]]:
    """A throwaway platform on loopback: (url, token, environment for the server)."""
    with tempfile.TemporaryDirectory(prefix="cf-bench-") as tmp:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CODEFORGE_")}
        env.update(
            CODEFORGE_DATA_DIR=f"{tmp}/data",
            CODEFORGE_CONFIG_DIR=f"{tmp}/config",
            CODEFORGE_PORT=str(port),
            CODEFORGE_BOOTSTRAP="1",
            CODEFORGE_BOOTSTRAP_PROJECT=PROJECT,
            CODEFORGE_LOG_LEVEL="WARNING",
        )
        log = open(f"{tmp}/platform.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, "-m", "codeforge", "up", "--project", PROJECT], env=env, cwd=ROOT, stdout=log, stderr=log
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"platform did not start: {Path(tmp, 'platform.log').read_text()[-2000:]}")
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            token = json.loads(Path(tmp, "config", "credentials.json").read_text())["token"]
            yield url, token, env
        finally:
            proc.terminate()
            proc.wait(20)
            log.close()


def _stats(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return p50 * 1000, p99 * 1000


async def measure(
    url: str, token: str, env: dict[str, str], calls: int, warmup: int, show_results: str = "all"
) -> dict[str, Any]:
    client = LanguageClient("codeforge-bench", "1")
    client.feature(types.WINDOW_SHOW_MESSAGE)(lambda params: None)
    client.feature(types.WINDOW_LOG_MESSAGE)(lambda params: None)
    await client.start_io(sys.executable, "-m", "codeforge", "lsp", env=env, cwd=str(ROOT))
    await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            initialization_options={"url": url, "token": token, "project": PROJECT, "showResults": show_results},
        )
    )
    client.initialized(types.InitializedParams())
    params = types.ExecuteCommandParams(command="codeforge.env.list", arguments=[{}])
    http = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"})
    # A realistic list to carry: a project's worth of variables.
    for i in range(VARIABLES):
        seeded = await http.post("/api/v1/env/set", json={"project": PROJECT, "name": f"BENCH_{i}", "value": f"v{i}"})
        seeded.raise_for_status()

    async def via_lsp() -> float:
        start = time.perf_counter()
        result = await client.workspace_execute_command_async(params)
        elapsed = time.perf_counter() - start
        assert isinstance(result, dict) and "items" in result, result
        return elapsed

    async def via_http() -> float:
        start = time.perf_counter()
        response = await http.post("/api/v1/env/list", json={"project": PROJECT})
        body = response.json()
        elapsed = time.perf_counter() - start
        assert response.status_code == 200 and "items" in body, body
        return elapsed

    try:
        for _ in range(warmup):
            await via_lsp()
            await via_http()
        lsp_times: list[float] = []
        http_times: list[float] = []
        for _ in range(calls):  # interleaved: both see the same load and caches
            lsp_times.append(await via_lsp())
            http_times.append(await via_http())
    finally:
        await http.aclose()
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    lsp_p50, lsp_p99 = _stats(lsp_times)
    http_p50, http_p99 = _stats(http_times)
    return {
        "calls": calls,
        "lsp_p50_ms": lsp_p50,
        "lsp_p99_ms": lsp_p99,
        "http_p50_ms": http_p50,
        "http_p99_ms": http_p99,
        "overhead_p50_ms": lsp_p50 - http_p50,
        "ratio_p50": lsp_p50 / http_p50,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--url", help="use a running platform instead of starting one")
    parser.add_argument("--token", help="API token for --url")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--show-results",
        default="all",
        choices=["all", "changes", "none"],
        help="the server's showResults option (default all: a summary message after each call)",
    )
    args = parser.parse_args()

    if args.url:
        env = {**os.environ, "CODEFORGE_URL": args.url, "CODEFORGE_TOKEN": args.token or ""}
        figures = asyncio.run(measure(args.url, args.token or "", env, args.calls, args.warmup, args.show_results))
    else:
        with own_platform() as (url, token, env):
            figures = asyncio.run(measure(url, token, env, args.calls, args.warmup, args.show_results))

    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"codeforge.env.list ({VARIABLES} variables) round trip, {figures['calls']} calls each, interleaved, "
        f"showResults={args.show_results}"
    )
    print(f"  via codeforge lsp (stdio)  p50 {figures['lsp_p50_ms']:.2f} ms   p99 {figures['lsp_p99_ms']:.2f} ms")
    print(f"  direct HTTP (httpx)        p50 {figures['http_p50_ms']:.2f} ms   p99 {figures['http_p99_ms']:.2f} ms")
    print(f"  language server adds       p50 {figures['overhead_p50_ms']:.2f} ms   (target < 2 ms)")
    print(f"  ratio lsp/http             p50 {figures['ratio_p50']:.2f}x")


if __name__ == "__main__":
    main()
