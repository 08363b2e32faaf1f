"""Cache hit vs miss latency (docs/cache.md): one real varnishd with the VCL the cache rules
make, in front of a small HTTP app that takes `--app-ms` per response (a page render).

Each figure is the median (and p90) of `--requests` sequential GETs over one keep-alive
connection: `direct` straight to the app, `miss` through Varnish on a fresh URL each time
(Varnish's overhead plus the app), `hit` through Varnish on one cached URL. `ratio` is the
hit's median over the miss's: what a cached route saves per request.

    .venv/bin/python -m benchmarks.cache [--requests 300] [--app-ms 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from codeforge.platform.cache.varnish import VarnishNode, _free_port, varnish_available
from codeforge.platform.cache.vcl import RouteCache, RuleSpec, generate

HOST = "bench.test"


def _app(delay_s: float) -> ThreadingHTTPServer:
    body = b"x" * 4096

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body are separate writes: without this, Nagle and delayed ACKs add 40 ms
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            time.sleep(delay_s)
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _time(client: httpx.Client, paths: list[str], expect: str | None) -> list[float]:
    out: list[float] = []
    for path in paths:
        start = time.perf_counter()
        response = client.get(path)
        out.append(time.perf_counter() - start)
        if expect is not None and response.headers.get("X-Cache") != expect:
            raise SystemExit(f"{path}: X-Cache {response.headers.get('X-Cache')}, expected {expect}")
    return out


def _figure(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered) * 1000, 3),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1] * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--app-ms", type=float, default=5.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not varnish_available():
        raise SystemExit("varnishd (and a C compiler) are needed")
    app = _app(args.app_ms / 1000)
    backend = f"127.0.0.1:{app.server_address[1]}"
    with tempfile.TemporaryDirectory(prefix="cf-cache-bench-") as tmp:
        vcl = generate([RouteCache("bench/web", (HOST,), (RuleSpec("/", ttl_s=3600),))], backend)
        node = VarnishNode("bench", f"127.0.0.1:{_free_port()}", backend, Path(tmp) / "node", storage="malloc,64m")
        node.start(vcl)
        try:
            headers = {"Host": HOST}
            n = args.requests
            with httpx.Client(base_url=f"http://{backend}", headers=headers) as direct:
                _time(direct, ["/warm"] * 10, None)
                direct_s = _time(direct, [f"/d{i}" for i in range(n)], None)
            with httpx.Client(base_url=f"http://{node.listen}", headers=headers) as cached:
                _time(cached, ["/hit"], "MISS")
                miss_s = _time(cached, [f"/m{i}" for i in range(n)], "MISS")
                hit_s = _time(cached, ["/hit"] * n, "HIT")
        finally:
            node.stop()
            app.shutdown()
    result = {
        "requests": args.requests,
        "app_ms": args.app_ms,
        "direct": _figure(direct_s),
        "miss": _figure(miss_s),
        "hit": _figure(hit_s),
    }
    result["ratio_hit_over_miss"] = round(result["hit"]["median_ms"] / result["miss"]["median_ms"], 4)
    result["ratio_miss_over_direct"] = round(result["miss"]["median_ms"] / result["direct"]["median_ms"], 3)
    if args.json:
        print(json.dumps(result))
        return
    for name in ("direct", "miss", "hit"):
        fig = result[name]
        print(f"{name:>6}: median {fig['median_ms']:8.3f} ms   p90 {fig['p90_ms']:8.3f} ms")
    print(f"hit / miss (median): {result['ratio_hit_over_miss']}   miss / direct: {result['ratio_miss_over_direct']}")


if __name__ == "__main__":
    main()
