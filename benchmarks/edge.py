"""Requests/s and p99 latency through an edge route (one real Caddy with the config the edge
builds: reverse_proxy, round robin over two app instances, active health checks, the access
log) against the same apps reached directly, in the same run (docs/edge-asbuilt.md).

`--concurrency` client threads, each with its own keep-alive connection, send `--requests` GETs
in all, first straight to the apps (alternating between them), then through the node's
plain-HTTP listener. Printed: requests/s and p50/p99 of each, and the ratios edge/direct.

    .venv/bin/python -m benchmarks.edge [--requests 4000] [--concurrency 8] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from codeforge.platform.edge.config import build_config
from codeforge.platform.edge.nodes import free_port
from codeforge.platform.edge.routes import Backend, EdgeNode, Route
from codeforge.platform.edge.settings import caddy_binary

HOST = "bench.example.test"


def _app() -> ThreadingHTTPServer:
    body = b"x" * 1024

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _run(requests: int, concurrency: int, url_of: Callable[[int], str]) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    per = requests // concurrency

    def worker(n: int) -> None:
        mine: list[float] = []
        with httpx.Client(timeout=30, headers={"Host": HOST}) as client:
            for i in range(per):
                t = time.perf_counter()
                r = client.get(url_of(n + i))
                mine.append(time.perf_counter() - t)
                assert r.status_code == 200, r.status_code
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    return {
        "rps": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    apps = [_app(), _app()]
    addresses = [f"127.0.0.1:{a.server_address[1]}" for a in apps]
    with tempfile.TemporaryDirectory(prefix="edge-bench-") as tmp:
        folder = Path(tmp)
        admin = free_port("127.0.0.1")
        http = free_port("127.0.0.1")
        node = EdgeNode(
            "bench",
            "bench",
            f"http://127.0.0.1:{admin}",
            f"127.0.0.1:{http}",
            f"127.0.0.1:{free_port('127.0.0.1', udp_too=True)}",
            f"127.0.0.1:{free_port('127.0.0.1')}",
            f"127.0.0.1:{free_port('127.0.0.1')}",
        )
        route = Route("bench", "web", (HOST,), tuple(Backend(a) for a in addresses), health_interval_s=1.0)
        config = build_config(
            node,
            [route],
            {},
            platform_address="127.0.0.1:9",
            admin_listen=f"127.0.0.1:{admin}",
            access_log=str(folder / "access.log"),
        )
        (folder / "config.json").write_text(json.dumps(config))
        env = dict(os.environ, XDG_CONFIG_HOME=str(folder), XDG_DATA_HOME=str(folder))
        caddy = subprocess.Popen(
            [str(caddy_binary()), "run", "--config", str(folder / "config.json")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://{node.http_address}/", headers={"Host": HOST}, timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
            _run(200, args.concurrency, lambda i: f"http://{node.http_address}/")  # warm-up
            direct = _run(args.requests, args.concurrency, lambda i: f"http://{addresses[i % 2]}/")
            edge = _run(args.requests, args.concurrency, lambda i: f"http://{node.http_address}/")
        finally:
            caddy.terminate()
            caddy.wait(10)
            for a in apps:
                a.shutdown()
    result = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "direct": direct,
        "edge": edge,
        "rps_ratio": edge["rps"] / direct["rps"],
        "p99_ratio": edge["p99_ms"] / direct["p99_ms"],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for name in ("direct", "edge"):
        r = result[name]
        assert isinstance(r, dict)
        print(f"{name:7s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms")
    print(f"edge/direct: req/s x{result['rps_ratio']:.2f}, p99 x{result['p99_ratio']:.2f}")


if __name__ == "__main__":
    main()
