"""The blocks of a Yjs document, read from its v1 update (`Doc.get_update()`).

pycrdt does not expose item ids, and `relative.py` needs them to place relative positions
exactly: each block's id (`client`, first `clock`), its length in clock units (UTF-16 code
units for text), its text when it is text, and whether it is deleted. The encoding is Yjs'
(`UpdateEncoderV1`: structs per client, then the delete set); only what positions need is
kept, but every content kind is read so the reader stays in step.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

__all__ = ["Block", "DecodeError", "DocState", "Reader", "read_update", "utf16_units"]


class DecodeError(ValueError):
    """The update is not Yjs' v1 encoding as this reader knows it."""


@dataclass(frozen=True)
class Block:
    """One block: `content` is its text (UTF-8, as encoded) for a string block, None for
    anything else (a deleted block's text is gone: `deleted` says so)."""

    client: int
    clock: int
    length: int
    content: bytes | None
    deleted: bool


@dataclass
class DocState:
    """Every block of a document, by client in clock order, and its delete set."""

    blocks: dict[int, list[Block]] = field(default_factory=dict)
    deletes: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # (clock, end)
    _clocks: dict[int, list[int]] = field(default_factory=dict)

    def blocks_of(self, client: int) -> list[Block]:
        return self.blocks.get(client, [])

    def block_of(self, client: int, clock: int) -> Block | None:
        """The block holding the id (client, clock), None when the document has no such id."""
        blocks = self.blocks.get(client)
        if not blocks:
            return None
        clocks = self._clocks.get(client)
        if clocks is None:
            clocks = self._clocks[client] = [b.clock for b in blocks]
        index = bisect.bisect_right(clocks, clock) - 1
        if index < 0:
            return None
        block = blocks[index]
        return block if clock < block.clock + block.length else None

    def is_deleted(self, client: int, clock: int) -> bool:
        ranges = self.deletes.get(client, [])
        index = bisect.bisect_right(ranges, (clock, float("inf"))) - 1
        return index >= 0 and ranges[index][0] <= clock < ranges[index][1]

    def live_text_blocks(self) -> list[Block]:
        return [
            b
            for blocks in self.blocks.values()
            for b in blocks
            if b.content is not None and not b.deleted and not self.is_deleted(b.client, b.clock)
        ]


def utf16_units(raw: bytes) -> int:
    """How many UTF-16 code units (Yjs' clock units for text) the UTF-8 `raw` holds."""
    return len(raw.decode(errors="replace").encode("utf-16-le")) // 2


class Reader:
    """lib0's decoding: varuints, signed varints, strings, `any` values."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def more(self) -> bool:
        return self.pos < len(self.data)

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise IndexError("read past the end")
        value = self.data[self.pos : self.pos + size]
        self.pos += size
        return value

    def varuint(self) -> int:
        value = shift = 0
        while True:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def varint(self) -> int:
        byte = self.byte()
        negative = bool(byte & 0x40)
        value = byte & 0x3F
        shift = 6
        while byte & 0x80:
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            shift += 7
        return -value if negative else value

    def string(self) -> str:
        return self.take(self.varuint()).decode(errors="replace")

    def any(self) -> None:
        """Skip one lib0 `any` value (positions never need its value)."""
        kind = self.byte()
        if kind in (127, 126, 121, 120):  # undefined, null, false, true
            return
        if kind == 125:
            self.varint()
        elif kind == 124:
            self.take(4)
        elif kind in (123, 122):
            self.take(8)
        elif kind == 119:
            self.string()
        elif kind == 118:
            for _ in range(self.varuint()):
                self.string()
                self.any()
        elif kind == 117:
            for _ in range(self.varuint()):
                self.any()
        elif kind == 116:
            self.take(self.varuint())
        else:
            raise DecodeError(f"unknown lib0 value type {kind}")


# Content kinds (the low five bits of a struct's info byte).
_GC, _DELETED, _JSON, _BINARY, _STRING, _EMBED, _FORMAT, _TYPE, _ANY, _DOC = range(10)
_SKIP = 10
_XML_ELEMENT, _XML_HOOK = 3, 5  # type refs that carry a name


def read_update(update: bytes) -> DocState:
    """The blocks and delete set of a v1 update."""
    reader = Reader(update)
    state = DocState()
    try:
        for _ in range(reader.varuint()):
            count = reader.varuint()
            client = reader.varuint()
            clock = reader.varuint()
            blocks = state.blocks.setdefault(client, [])
            for _ in range(count):
                length, block = _read_struct(reader, client, clock)
                if block is not None:
                    blocks.append(block)
                clock += length
            blocks.sort(key=lambda b: b.clock)
        for _ in range(reader.varuint()):
            client = reader.varuint()
            ranges = state.deletes.setdefault(client, [])
            for _ in range(reader.varuint()):
                start = reader.varuint()
                ranges.append((start, start + reader.varuint()))
            ranges.sort()
    except IndexError:
        raise DecodeError("the update ends in the middle of a struct") from None
    for client, ranges in state.deletes.items():
        blocks = state.blocks.get(client, [])
        state.blocks[client] = [
            b if b.deleted or not _covered(ranges, b.clock) else Block(b.client, b.clock, b.length, None, True)
            for b in blocks
        ]
    return state


def _covered(ranges: list[tuple[int, int]], clock: int) -> bool:
    index = bisect.bisect_right(ranges, (clock, float("inf"))) - 1
    return index >= 0 and ranges[index][0] <= clock < ranges[index][1]


def _read_struct(reader: Reader, client: int, clock: int) -> tuple[int, Block | None]:
    """One struct: its length in clock units, and its block (None for a skip: a gap in an
    update, not part of the document)."""
    info = reader.byte()
    kind = info & 0x1F
    if kind == _SKIP:
        return reader.varuint(), None
    block = _read_block(reader, info, client, clock)
    return block.length, block


def _read_block(reader: Reader, info: int, client: int, clock: int) -> Block:
    kind = info & 0x1F
    if kind == _GC:
        return Block(client, clock, reader.varuint(), None, True)
    if info & 0x80:  # origin
        reader.varuint(), reader.varuint()
    if info & 0x40:  # right origin
        reader.varuint(), reader.varuint()
    if not info & 0xC0:  # no origins: the parent is named
        if reader.varuint() == 1:
            reader.string()
        else:
            reader.varuint(), reader.varuint()
        if info & 0x20:  # parent sub (a map key): written only with the parent, as Yjs' readItem reads it
            reader.string()
    if kind == _DELETED:
        return Block(client, clock, reader.varuint(), None, True)
    if kind == _STRING:
        raw = reader.take(reader.varuint())
        return Block(client, clock, utf16_units(raw), raw, False)
    if kind == _JSON:
        count = reader.varuint()
        for _ in range(count):
            reader.string()
        return Block(client, clock, count, None, False)
    if kind == _ANY:
        count = reader.varuint()
        for _ in range(count):
            reader.any()
        return Block(client, clock, count, None, False)
    if kind == _BINARY:
        reader.take(reader.varuint())
    elif kind == _EMBED:
        reader.string()
    elif kind == _FORMAT:
        reader.string(), reader.string()
    elif kind == _TYPE:
        if reader.varuint() in (_XML_ELEMENT, _XML_HOOK):
            reader.string()
    elif kind == _DOC:
        reader.string()
        reader.any()
    else:
        raise DecodeError(f"unknown struct content kind {kind}")
    return Block(client, clock, 1, None, False)
