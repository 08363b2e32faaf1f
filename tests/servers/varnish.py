"""Varnish for tests: nodes on free loopback ports in a test's folder, and a small HTTP app that
counts the requests reaching it (the cache's backend).

The app answers every path with a body naming the path and how many times the app served it,
and the headers a query asks for: `?tag=a,b` sets `Cache-Tag: a,b`, `?skey=x` sets
`Surrogate-Key: x`, `?cc=...` sets Cache-Control."""

from __future__ import annotations

import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from codeforge.platform.cache.varnish import VarnishNode, varnish_available
from tests.conftest import free_port, require

__all__ = ["CountingApp", "counting_app", "need_varnish", "start_node", "varnish_nodes"]


class CountingApp:
    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.headers: list[dict[str, str]] = []
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                key = f"{self.headers.get('Host', '').split(':')[0]}{self.path}"
                app.hits[key] += 1
                app.headers.append(dict(self.headers.items()))
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                body = f"{self.path} #{app.hits[key]} lang={self.headers.get('Accept-Language', '')}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                if "tag" in query:
                    self.send_header("Cache-Tag", query["tag"][0])
                if "skey" in query:
                    self.send_header("Surrogate-Key", query["skey"][0])
                if "cc" in query:
                    self.send_header("Cache-Control", query["cc"][0])
                self.end_headers()
                self.wfile.write(body)

            do_HEAD = do_GET

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                self.rfile.read(length)
                self.do_GET()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def served(self, host: str, path: str) -> int:
        return self.hits[f"{host}{path}"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def need_varnish() -> None:
    require("varnish", varnish_available(), "varnishd (Debian's varnish) and a C compiler are needed")


@pytest.fixture
def counting_app() -> Iterator[CountingApp]:
    app = CountingApp()
    yield app
    app.close()


def start_node(folder: Path, name: str, backend: str, vcl: str) -> VarnishNode:
    node = VarnishNode(name, f"127.0.0.1:{free_port()}", backend, folder / name, storage="malloc,32m")
    node.start(vcl)
    return node


@pytest.fixture
def varnish_nodes(tmp_path: Path) -> Iterator[list[VarnishNode]]:
    """A list the test appends started nodes to; each is stopped at the end."""
    need_varnish()
    nodes: list[VarnishNode] = []
    yield nodes
    for node in nodes:
        node.stop()
