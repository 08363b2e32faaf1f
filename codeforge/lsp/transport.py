"""How messages reach a session: pygls' protocol with cheaper response serialisation, and
the stdio loop. Another transport (the bridge's websocket) reuses `CodeForgeProtocol`."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from typing import Any

from pygls.exceptions import JsonRpcException
from pygls.io_ import StdinAsyncReader, StdoutWriter, run_async
from pygls.lsp.server import LanguageServer
from pygls.protocol import JsonRPCResponseMessage, LanguageServerProtocol

__all__ = ["CodeForgeProtocol", "ExpectedErrors", "serve_io"]

log = logging.getLogger(__name__)


class CodeForgeProtocol(LanguageServerProtocol):
    """pygls' protocol, serialising responses without walking their results.

    pygls unstructures a response envelope with cattrs, which visits every value of the
    result first: for a command returning a list that is most of the server's CPU per
    call. A result here is plain JSON, or holds lsprotocol objects that `json.dumps` hands
    back to this hook one at a time, so the envelope can be a plain dict."""

    def _serialize_message(self, data: Any) -> Any:
        if type(data) is JsonRPCResponseMessage:
            return {"jsonrpc": data.jsonrpc, "id": data.id, "result": data.result}
        return super()._serialize_message(data)


class ExpectedErrors(logging.Filter):
    """pygls logs a traceback for every failed request, including expected ones (bad
    input, platform down) that the client already got as a clear error."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, JsonRpcException)


async def _pipe_reader(stdin: Any) -> asyncio.StreamReader | None:
    """stdin as an asyncio stream; None where it is not a pipe or socket (a file, a tty)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    except (ValueError, OSError):
        return None
    return reader


def serve_io(server: LanguageServer, stdin: Any = None, stdout: Any = None) -> None:
    """pygls' stdio loop, reading stdin with the event loop instead of a thread.

    pygls reads each header line and body through a thread pool, three or four thread
    hand-offs per message; an asyncio pipe reader takes none, which is most of this
    server's share of a command's round trip (benchmarks/lsp_roundtrip.py)."""
    stdin = stdin or sys.stdin.buffer
    stop = server._stop_event = threading.Event()
    server.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))

    async def serve() -> None:
        reader: Any = await _pipe_reader(stdin) or StdinAsyncReader(stdin, server.thread_pool)
        await run_async(
            stop_event=stop,
            reader=reader,
            protocol=server.protocol,
            logger=log,
            error_handler=server.report_server_error,
        )

    try:
        asyncio.run(serve())
    except BrokenPipeError:
        log.error("the editor closed the connection; stopping")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()
