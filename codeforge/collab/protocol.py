"""The y-websocket wire protocol (y-protocols' sync, awareness and auth messages).

A websocket message is one y message: `varuint type` then its body.

    SYNC (0)             varuint step (0 step1: varbytes state vector; 1 step2 / 2 update: varbytes update)
    AWARENESS (1)        varbytes awareness update: varuint n, (varuint client, varuint clock, varstring json)*
    AUTH (2)             varuint 0 (permission denied), varstring reason
    QUERY_AWARENESS (3)  nothing: answer with every awareness state

Parsing is strict (lengths checked, nothing may trail) because the bytes come from the
network: anything malformed is a `ProtocolError` naming what was wrong, never an IndexError
from the middle of a decoder, and never half-applied.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "AUTH",
    "AWARENESS",
    "QUERY_AWARENESS",
    "STEP1",
    "STEP2",
    "SYNC",
    "UPDATE",
    "AwarenessEntry",
    "Message",
    "ProtocolError",
    "awareness_message",
    "decode_awareness",
    "decode_state_vector",
    "encode_awareness",
    "parse",
    "permission_denied",
    "query_awareness",
    "step1",
    "step2",
    "update_message",
    "varuint",
    "websocket_frame",
]

SYNC, AWARENESS, AUTH, QUERY_AWARENESS = 0, 1, 2, 3
STEP1, STEP2, UPDATE = 0, 1, 2
PERMISSION_DENIED = 0
_MAX_VARUINT_BYTES = 8  # lib0 reads at most 53 bits; 8 bytes hold 56


class ProtocolError(ValueError):
    """A malformed y-websocket message; the text says what was wrong (it becomes the close
    reason, code 1007)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One parsed message. `step` is set for SYNC; `payload` is the state vector (step 1),
    the update (step 2, update) or the awareness update; `reason` is AUTH's."""

    kind: int
    step: int = -1
    payload: bytes = b""
    reason: str = ""


AwarenessEntry = tuple[int, int, str]  # client id, clock, state as JSON text ("null": removed)


class _Reader:
    __slots__ = ("data", "pos", "what")

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def varuint(self, field: str) -> int:
        value, shift, data = 0, 0, self.data
        for _ in range(_MAX_VARUINT_BYTES):
            if self.pos >= len(data):
                raise ProtocolError(f"{self.what}: truncated at {field}")
            byte = data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7
        raise ProtocolError(f"{self.what}: {field} is not a number (more than {_MAX_VARUINT_BYTES} bytes)")

    def varbytes(self, field: str) -> bytes:
        length = self.varuint(f"the length of {field}")
        end = self.pos + length
        if end > len(self.data):
            raise ProtocolError(f"{self.what}: {field} says {length} bytes, {len(self.data) - self.pos} follow")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def varstring(self, field: str) -> str:
        try:
            return self.varbytes(field).decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"{self.what}: {field} is not UTF-8") from None

    def end(self) -> None:
        if self.pos != len(self.data):
            raise ProtocolError(f"{self.what}: {len(self.data) - self.pos} unexpected bytes after the message")


def varuint(number: int) -> bytes:
    out = bytearray()
    while number > 0x7F:
        out.append(0x80 | (number & 0x7F))
        number >>= 7
    out.append(number)
    return bytes(out)


def _varbytes(data: bytes) -> bytes:
    return varuint(len(data)) + data


def parse(data: bytes) -> Message:
    """One websocket message; ProtocolError when it is not a well-formed y message."""
    if not data:
        raise ProtocolError("an empty message")
    # The message of every keystroke, a sync update under 16 KiB: read without the general
    # reader, with the same checks (its length says exactly what follows).
    if len(data) > 3 and data[0] == SYNC and data[1] == UPDATE:
        if data[2] < 0x80:
            if len(data) == 3 + data[2]:
                return Message(SYNC, UPDATE, data[3:])
        elif len(data) > 4 and data[3] < 0x80 and data[3] and len(data) == 4 + ((data[2] & 0x7F) | data[3] << 7):
            return Message(SYNC, UPDATE, data[4:])
    reader = _Reader(data, "message")
    kind = reader.varuint("the message type")
    if kind == SYNC:
        reader.what = "sync message"
        step = reader.varuint("the sync step")
        if step not in (STEP1, STEP2, UPDATE):
            raise ProtocolError(f"sync message: unknown step {step} (0 step 1, 1 step 2, 2 update)")
        payload = reader.varbytes("the state vector" if step == STEP1 else "the update")
        reader.end()
        return Message(SYNC, step, payload)
    if kind == AWARENESS:
        reader.what = "awareness message"
        payload = reader.varbytes("the awareness update")
        reader.end()
        return Message(AWARENESS, payload=payload)
    if kind == AUTH:
        reader.what = "auth message"
        reader.varuint("the auth type")
        reason = reader.varstring("the reason")
        reader.end()
        return Message(AUTH, reason=reason)
    if kind == QUERY_AWARENESS:
        reader.end()
        return Message(QUERY_AWARENESS)
    raise ProtocolError(f"unknown message type {kind} (0 sync, 1 awareness, 2 auth, 3 query awareness)")


def decode_state_vector(data: bytes) -> dict[int, int]:
    """A state vector (varuint n, (varuint client, varuint clock)*) as {client: clock}."""
    reader = _Reader(data, "state vector")
    count = reader.varuint("the number of clients")
    if count > len(data):  # each entry takes 2 bytes at least: a lie, not a big vector
        raise ProtocolError(f"state vector: says {count} clients in {len(data)} bytes")
    vector = {}
    for _ in range(count):
        client = reader.varuint("a client id")
        vector[client] = reader.varuint("a clock")
    reader.end()
    return vector


def decode_awareness(data: bytes) -> list[AwarenessEntry]:
    """An awareness update's entries; each state is checked to be JSON (an object or null),
    because it is relayed as is to clients that `JSON.parse` it."""
    reader = _Reader(data, "awareness update")
    count = reader.varuint("the number of states")
    if count > len(data):
        raise ProtocolError(f"awareness update: says {count} states in {len(data)} bytes")
    entries = []
    for _ in range(count):
        client = reader.varuint("a client id")
        clock = reader.varuint("a clock")
        text = reader.varstring("a state")
        try:
            state = json.loads(text)
        except ValueError:
            raise ProtocolError(f"awareness update: the state of client {client} is not JSON") from None
        if state is not None and not isinstance(state, dict):
            raise ProtocolError(f"awareness update: the state of client {client} is not an object or null")
        entries.append((client, clock, text))
    reader.end()
    return entries


def encode_awareness(entries: Iterable[AwarenessEntry]) -> bytes:
    entries = list(entries)
    parts = [varuint(len(entries))]
    for client, clock, text in entries:
        parts += (varuint(client), varuint(clock), _varbytes(text.encode()))
    return b"".join(parts)


def step1(state_vector: bytes) -> bytes:
    return b"\x00\x00" + _varbytes(state_vector)


def step2(update: bytes) -> bytes:
    return b"\x00\x01" + _varbytes(update)


def update_message(update: bytes) -> bytes:
    return b"\x00\x02" + _varbytes(update)


def awareness_message(entries: Iterable[AwarenessEntry]) -> bytes:
    return b"\x01" + _varbytes(encode_awareness(entries))


def query_awareness() -> bytes:
    return b"\x03"


def permission_denied(reason: str) -> bytes:
    """y-protocols' auth message: the client's provider emits it as a `permission-denied`."""
    return b"\x02" + varuint(PERMISSION_DENIED) + _varbytes(reason.encode())


def websocket_frame(message: bytes) -> bytes:
    """`message` as one unmasked, final, binary websocket frame (RFC 6455, 5.2), what a server
    writes. A server's frames are not masked, so the frame of a message is the same bytes for
    every peer: the room frames an outgoing message once and writes it to every socket (only
    where no extension, such as per-message deflate, was negotiated on the connection)."""
    length = len(message)
    if length < 126:
        header = bytes((0x82, length))
    elif length < 65536:
        header = b"\x82\x7e" + length.to_bytes(2, "big")
    else:
        header = b"\x82\x7f" + length.to_bytes(8, "big")
    return header + message
