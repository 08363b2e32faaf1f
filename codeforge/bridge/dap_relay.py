"""`codeforge connect URL --dap [--join ID [--collab SESSION]] [--local-root DIR]`: a DAP client's stdio
(Content-Length framed JSON, as nvim-dap, LSP4IJ and VS Code's executable adapters speak)
⇄ one `dap` link (one DAP message per link message).

The debug session's id arrives in a `codeforge/debugSession` event; the relay prints it on
stderr so a colleague can `--join` it. Exit status: 0 when the editor ends it or the debug
session ends, 1 when the bridge refused or the link ended under it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import BinaryIO

from codeforge.bridge.dap_adapter import MAX_FRAME
from codeforge.bridge.framing import FramingError, frame, read_message, stdin_reader
from codeforge.bridge.link import Dial, Link, LinkClosed

__all__ = ["relay_dap"]

log = logging.getLogger(__name__)


async def relay_dap(
    dial: Dial,
    join: str | None,
    local_root: Path | None,
    *,
    collab: str | None = None,
    stdin: BinaryIO | None = None,
    stdout: BinaryIO | None = None,
) -> int:
    """With `collab` (a collaboration session id), `join` names the session host's debug
    session, and what the participant's role does not allow is answered with an error."""
    params = {"local_root": str((local_root or Path.cwd()).resolve())}
    if join:
        params["join"] = join
    if collab:
        params["collab"] = collab
    link = await dial("dap", params)
    out = stdout or sys.stdout.buffer
    reader = await stdin_reader(stdin or sys.stdin.buffer)
    editor = asyncio.create_task(_from_editor(reader, link))
    bridge = asyncio.create_task(_from_bridge(link, out))
    try:
        done, _ = await asyncio.wait({editor, bridge}, return_when=asyncio.FIRST_COMPLETED)
        if editor in done:
            with contextlib.suppress(TimeoutError, LinkClosed):
                async with asyncio.timeout(5):  # what the editor said last reaches the bridge
                    while link.pending and link.attached:
                        await asyncio.sleep(0.01)
            return 0
        return bridge.result()
    finally:
        for task in (editor, bridge):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def _from_editor(reader: asyncio.StreamReader, link: Link) -> None:
    while True:
        try:
            body = await read_message(reader, limit=MAX_FRAME)
        except FramingError as exc:
            log.warning("the debugger client sent a bad frame (%s); stopping", exc)
            return
        if body is None:
            return
        await link.send(body.decode("utf-8", errors="replace"))


async def _from_bridge(link: Link, out: BinaryIO) -> int:
    ended = False
    try:
        while True:
            message = await link.receive()
            body = message.encode() if isinstance(message, str) else message
            with contextlib.suppress(ValueError, AttributeError):
                parsed = json.loads(body)
                if parsed.get("event") == "codeforge/debugSession":
                    print(
                        f"codeforge connect: debug session {parsed['body']['id']}: others join with --dap --join "
                        f"{parsed['body']['id']}",
                        file=sys.stderr,
                        flush=True,
                    )
                elif parsed.get("event") == "terminated":
                    ended = True
            out.write(frame(body))
            out.flush()
    except LinkClosed as exc:
        if ended:
            return 0
        print(f"codeforge connect: the debug session's link ended: {exc}", file=sys.stderr, flush=True)
        return 1
