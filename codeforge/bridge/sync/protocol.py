"""The sync channel's messages: what the client half and the workspace half say to each other.

Every message is one binary link message: a 4-byte big-endian header length, the header
(a JSON object whose "t" names the kind) and then raw payload bytes (file contents), so
binary files travel untouched and many small files share one message.

Kinds (see docs/bridge.md, "File sync"):

    hello     c→s  {sync_id, v, partials}            start; the client's resumable partial files
    manifest  s→c  {partials} + zlib JSON entries      the workspace's tree and its last synced state
    files     both {items: [{p, h, m, mt, prev, n}]}   whole small files, payload concatenated
    chunk     both {p, h, m, mt, prev, size, off, last} one piece of a large file at offset `off`
    link      both {p, target, prev}                   a symbolic link (kept as a link)
    dirs      both {items: [[p, m]]}                   folders (parents first)
    delete    both {p, prev}                           remove p if it still is `prev`
    move      both {src, dst, h}                       rename src (still `h`) to dst
    mode      both {p, m, h}                           permission bits only
    pull      c→s  {items: [[p, have]]}                send these back, `have` is what the client holds
    agree     both {entries: {p: [h, m]}}              both sides hold this: record it as synced
    applied   both {items: [[p, h, m]]}                what the receiver applied (h null: deleted)
    notice    s→c  {kind, message, p, data}            a conflict, warning or error, for the user
    sync_end  both {}                                  everything before it was handled

`prev` is the hash the sender believes the receiver holds (null: nothing). A receiver applies
a change only if what it holds is `prev` (or already the new content); otherwise both sides
changed the file and the workspace half keeps both versions.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BATCH_BYTES",
    "BATCH_ITEMS",
    "CHUNK_SIZE",
    "PROTOCOL_VERSION",
    "SMALL_FILE",
    "Message",
    "ProtocolError",
    "decode",
    "decode_entries",
    "encode",
    "encode_entries",
]

PROTOCOL_VERSION = 1
# Files up to SMALL_FILE travel whole, many per `files` message (up to BATCH_BYTES / BATCH_ITEMS,
# plus the file that crossed it); larger ones stream in CHUNK_SIZE pieces that a restarted sync
# resumes at an offset. A file that fits in one chunk gains nothing from resuming, so it travels
# whole: hashed while it is read (no second pass before sending, none after arriving).
CHUNK_SIZE = 2 * 1024 * 1024
SMALL_FILE = CHUNK_SIZE
# Batches of 512 KiB, not 2 MiB: every layer (this message, the link's frame, the websocket's
# frame and its mask, the receiver's buffers) allocates a new buffer of the message's size, and
# glibc serves growing sizes above its mmap threshold with fresh mmaps (a page fault per 4 KiB);
# at 512 KiB they come from the heap. Measured: the local half's CPU 0.70 -> 0.53 s for 209 MB.
BATCH_BYTES = 512 * 1024
BATCH_ITEMS = 512

_LEN = struct.Struct(">I")


class ProtocolError(Exception):
    """The peer sent something that is not a sync message."""


@dataclass
class Message:
    """One decoded message: its kind, header fields and payload bytes."""

    kind: str
    header: dict[str, Any] = field(default_factory=dict)
    payload: bytes | memoryview = b""  # a view into the link message: no copy of file contents


def encode(kind: str, header: dict[str, Any] | None = None, payload: bytes | memoryview | list[bytes] = b"") -> bytes:
    """One message; `payload` may be a list of parts (many files' contents), joined here
    with the header in one copy."""
    body = dict(header or {})
    body["t"] = kind
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    if isinstance(payload, list):
        return b"".join([_LEN.pack(len(raw)), raw, *payload])
    return b"".join((_LEN.pack(len(raw)), raw, payload))


def decode(message: bytes | str) -> Message:
    if isinstance(message, str):
        raise ProtocolError("the sync channel carries binary messages only")
    if len(message) < _LEN.size:
        raise ProtocolError("a sync message shorter than its header length")
    (size,) = _LEN.unpack_from(message)
    if size > len(message) - _LEN.size:
        raise ProtocolError("a sync message's header runs past its end")
    try:
        header = json.loads(message[_LEN.size : _LEN.size + size])
    except ValueError as exc:
        raise ProtocolError(f"a sync message's header is not JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("t"), str):
        raise ProtocolError("a sync message's header has no kind")
    kind = header.pop("t")
    return Message(kind, header, memoryview(message)[_LEN.size + size :])


def encode_entries(entries: Any) -> bytes:
    """A manifest's entries: compact JSON, compressed (hashes and paths compress well)."""
    return zlib.compress(json.dumps(entries, separators=(",", ":"), ensure_ascii=False).encode(), 1)


def decode_entries(payload: bytes | memoryview) -> Any:
    try:
        return json.loads(zlib.decompress(payload))
    except (zlib.error, ValueError) as exc:
        raise ProtocolError(f"a manifest that cannot be read: {exc}") from None
