"""Content-Length framing (LSP and DAP over stdio), read and written one way everywhere:
the relays of `codeforge connect` on the editor's stdio, and the bridge on the stdio of the
language servers and debug adapters it runs. A stream that is not framed this way (a
server printing to stdout, a bad header) is a `FramingError`, never an unhandled error."""

from __future__ import annotations

import asyncio
from typing import BinaryIO

__all__ = ["MAX_HEADER", "FramingError", "frame", "read_message", "stdin_reader"]

MAX_HEADER = 8192  # bytes of header lines before a body: far more than LSP's two headers


class FramingError(ValueError):
    """What was read is not a Content-Length framed message (or announces one over the limit)."""


def frame(body: bytes) -> bytes:
    """One message with its header."""
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


async def read_message(reader: asyncio.StreamReader, *, limit: int) -> bytes | None:
    """The next message's body; None at the end of the stream (also inside a body: the peer
    went away). Stray blank lines between messages are tolerated."""
    length: int | None = None
    seen = 0
    while True:
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial.strip():
                return None
            raise FramingError("the stream ended inside a message header") from None
        except asyncio.LimitOverrunError:
            raise FramingError("a header line longer than the stream's buffer") from None
        seen += len(line)
        if seen > MAX_HEADER:
            raise FramingError(f"more than {MAX_HEADER} bytes of header")
        text = line.strip()
        if not text:
            if length is None:
                continue
            break
        key, colon, value = text.partition(b":")
        if not colon:
            raise FramingError(f"not a header line: {text[:60]!r}")
        if key.strip().lower() == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                raise FramingError(f"a bad Content-Length header {text[:60]!r}") from None
            if not 0 <= length <= limit:
                raise FramingError(f"a message of {length} bytes announced (the limit is {limit})")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        return None


async def stdin_reader(stdin: BinaryIO) -> asyncio.StreamReader:
    """stdin as an asyncio stream: a pipe or socket directly, anything else (a file, a tty)
    through a thread."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
        return reader
    except (ValueError, OSError):
        pass

    def pump() -> None:
        while chunk := stdin.read1(65536) if hasattr(stdin, "read1") else stdin.read(65536):
            loop.call_soon_threadsafe(reader.feed_data, chunk)
        loop.call_soon_threadsafe(reader.feed_eof)

    loop.run_in_executor(None, pump)
    return reader
