"""A loopback OpenAI-compatible server replaying scripted model turns: the agents' tests and
the benchmarks' recorded runs drive the real `openai` client against it, faults included.

A turn is a dict (docs/agents.md):

    {"text": str, "tool_calls": [{"name": str, "arguments": dict | str, "id"?: str}],
     "status": 429 | 500 | …, "retry_after": seconds, "message": str (the error's text),
     "cut": bool (close the stream half-way; "clean": end the body properly half-way, without
     a finish_reason or [DONE], as a proxy that gives up does), "hang": bool (send the first
     chunk, then nothing until stop()), "delay": seconds before answering, "stream_error": str
     (half the stream, then an error event, as vLLM and llama.cpp report a failure mid-answer),
     "usage": bool (False: no usage chunk even when asked), "finish_reason": str,
     "prompt_tokens"/"completion_tokens": int}

Each chat completion request takes the next turn, failed ones included (a 429 turn followed by
a text turn is "rate limited once, then the answer")."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from codeforge.catalog.errors import BadInput

from .tokens import count_messages, count_tokens, count_tools

__all__ = ["ReplayServer", "Turn", "load_turns"]

Turn = dict[str, Any]

_TEXT_PIECES = 3  # a text is streamed in (at least) this many deltas
_ARG_PIECES = 3  # and each tool call's arguments in this many fragments

_KNOWN = frozenset(
    {
        "text",
        "tool_calls",
        "status",
        "retry_after",
        "message",
        "cut",
        "hang",
        "delay",
        "usage",
        "finish_reason",
        "prompt_tokens",
        "completion_tokens",
        "stream_error",
    }
)


def load_turns(path: Path | str) -> list[Turn]:
    """The turns of a recorded run: a JSON list of turn objects."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInput(
            f"cannot read the recorded run {p}: {exc}", fix="give a JSON file holding a list of turns"
        ) from exc
    if not isinstance(data, list) or not all(isinstance(t, dict) for t in data):
        raise BadInput(f"the recorded run {p} is not a list of turn objects", fix="see docs/agents.md, ReplayServer")
    for i, turn in enumerate(data):
        unknown = set(turn) - _KNOWN
        if unknown:
            raise BadInput(f"turn {i + 1} of {p} has unknown keys {sorted(unknown)}", fix=f"use only {sorted(_KNOWN)}")
    return data


def _pieces(text: str, n: int) -> list[str]:
    if not text:
        return []
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


class ReplayServer:
    """`ReplayServer(turns).start()` → base URL ending /v1; `.stop()`; a context manager."""

    def __init__(self, turns: list[Turn], *, model: str = "replay-model", repeat_last: bool = False) -> None:
        self.turns = list(turns)
        self.model = model
        self.repeat_last = repeat_last
        self.requests: list[dict[str, Any]] = []  # the JSON bodies of chat completion requests
        self.headers: list[dict[str, str]] = []  # their headers, in the same order
        self._next = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._open: set[socket.socket] = set()
        self._url = ""

    # -- lifecycle
    def start(self) -> str:
        if self._server is not None:
            return self.base_url
        replay = self

        class Handler(_Handler):
            server_replay = replay

        server = _Server(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False  # a hanging turn's thread must not hold stop() up
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="replay-server", daemon=True)
        self._thread.start()
        host, port = server.server_address[:2]
        self._url = f"http://{host!s}:{port}/v1"
        return self._url

    @property
    def base_url(self) -> str:
        """Kept after stop(): a test of an endpoint that is down points a client at it."""
        if not self._url:
            raise RuntimeError("the replay server is not started")
        return self._url

    def stop(self) -> None:
        self._stopping.set()  # releases hanging and delayed turns
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._open.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> ReplayServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def served(self) -> int:
        """How many chat completion requests were answered (each took a turn)."""
        return len(self.requests)

    # -- the script
    def _take(self, body: dict[str, Any], headers: dict[str, str]) -> Turn | None:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            if self._next < len(self.turns):
                turn = self.turns[self._next]
                self._next += 1
                return turn
            if self.repeat_last and self.turns:
                return self.turns[-1]
            return None


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that closes its keep-alive connection (the openai client between runs) is
        no error of the script's: no traceback on stderr for it."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_replay: ReplayServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read .requests, not stderr

    # -- plumbing
    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        kind = {
            400: "invalid_request_error",
            401: "invalid_api_key",
            404: "not_found_error",
            429: "rate_limit_exceeded",
        }
        self._json(
            status,
            {
                "error": {
                    "message": message,
                    "type": kind.get(status, "server_error"),
                    "param": None,
                    "code": kind.get(status),
                }
            },
            headers,
        )

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # -- routes
    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("/v1/models", "/models"):
            model = {"id": self.server_replay.model, "object": "model", "created": 0, "owned_by": "replay"}
            self._json(200, {"object": "list", "data": [model]})
        else:
            self._error(404, f"no route GET {self.path}")

    def do_POST(self) -> None:
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._error(404, f"no route POST {self.path}")
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._error(400, "the request body is not JSON")
            return
        replay = self.server_replay
        turn = replay._take(body, {k.lower(): v for k, v in self.headers.items()})
        if turn is None:
            self._error(500, f"script exhausted: all {len(replay.turns)} scripted turns were served")
            return
        if turn.get("delay") and replay._stopping.wait(float(turn["delay"])):
            return
        status = int(turn.get("status") or 200)
        if status != 200:
            headers = {"Retry-After": str(turn["retry_after"])} if turn.get("retry_after") is not None else {}
            self._error(status, str(turn.get("message") or f"scripted error {status}"), headers)
            return
        if body.get("stream"):
            self._stream(body, turn)
        else:
            self._json(200, self._completion(body, turn))

    # -- answers
    def _usage(self, body: dict[str, Any], turn: Turn) -> dict[str, int]:
        model = str(body.get("model", ""))
        prompt = turn.get("prompt_tokens")
        if prompt is None:
            prompt = count_messages(body.get("messages") or [], model=model) + count_tools(
                body.get("tools"), model=model
            )
        completion = turn.get("completion_tokens")
        if completion is None:
            completion = count_tokens(str(turn.get("text", "")), model=model) + sum(
                count_tokens(c["name"] + _arguments(c), model=model) for c in turn.get("tool_calls") or []
            )
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _finish_reason(self, turn: Turn) -> str:
        return str(turn.get("finish_reason") or ("tool_calls" if turn.get("tool_calls") else "stop"))

    def _completion(self, body: dict[str, Any], turn: Turn) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": turn.get("text") or None}
        if turn.get("tool_calls"):
            message["tool_calls"] = [
                {"id": _call_id(c, i), "type": "function", "function": {"name": c["name"], "arguments": _arguments(c)}}
                for i, c in enumerate(turn["tool_calls"])
            ]
        return {
            "id": f"chatcmpl-replay-{id(turn):x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.server_replay.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self._finish_reason(turn), "logprobs": None}],
            "usage": self._usage(body, turn),
        }

    def _chunks(self, body: dict[str, Any], turn: Turn) -> Iterator[dict[str, Any]]:
        base = {
            "id": f"chatcmpl-replay-{id(turn):x}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.server_replay.model,
        }
        usage_asked = bool((body.get("stream_options") or {}).get("include_usage"))
        usage_chunk = usage_asked and turn.get("usage", True)
        extra = {"usage": None} if usage_asked else {}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                **base,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                **extra,
            }

        yield chunk({"role": "assistant", "content": ""})
        for piece in _pieces(str(turn.get("text") or ""), _TEXT_PIECES):
            yield chunk({"content": piece})
        for i, call in enumerate(turn.get("tool_calls") or []):
            # As OpenAI sends them: id, type and name first with empty arguments, then fragments.
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": _call_id(call, i),
                            "type": "function",
                            "function": {"name": call["name"], "arguments": ""},
                        }
                    ]
                }
            )
            for fragment in _pieces(_arguments(call), _ARG_PIECES):
                yield chunk({"tool_calls": [{"index": i, "function": {"arguments": fragment}}]})
        yield chunk({}, self._finish_reason(turn))
        if usage_chunk:
            yield {**base, "choices": [], "usage": self._usage(body, turn)}

    def _stream(self, body: dict[str, Any], turn: Turn) -> None:
        replay = self.server_replay
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        events = [f"data: {json.dumps(c)}\n\n".encode() for c in self._chunks(body, turn)]
        events.append(b"data: [DONE]\n\n")
        if turn.get("hang"):
            self._chunk(events[0])
            with replay._lock:
                replay._open.add(self.connection)
            replay._stopping.wait()  # never finishes: the client's timeout or stop() ends it
            self.close_connection = True
            return
        if turn.get("stream_error"):
            error = {"error": {"message": str(turn["stream_error"]), "type": "server_error", "code": 500}}
            for event in events[: max(1, len(events) // 2)]:
                self._chunk(event)
            self._chunk(f"data: {json.dumps(error)}\n\n".encode())
            self._chunk(b"")
            return
        if turn.get("cut"):
            for event in events[: max(1, len(events) // 2)]:
                self._chunk(event)
            self.close_connection = True
            if turn["cut"] == "clean":  # the body ends properly, half-way: as proxies that time out do
                self._chunk(b"")
                return
            # Closed without the terminating chunk: the client sees the body end half-way.
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        for event in events:
            self._chunk(event)
        self._chunk(b"")


def _arguments(call: dict[str, Any]) -> str:
    args = call.get("arguments", {})
    return args if isinstance(args, str) else json.dumps(args)


def _call_id(call: dict[str, Any], index: int) -> str:
    return str(call.get("id") or f"call_{index + 1}")
