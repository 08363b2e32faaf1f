"""Yjs relative positions (pycrdt's "sticky indexes") on a pycrdt `Text`, exact for any text.

A relative position names a character by its CRDT id (`client`, `clock`) instead of by its
offset, so it stays on that character while text is inserted and deleted around it; the
binary and JSON forms are Yjs's (`Y.encodeRelativePosition`, `Y.relativePositionToJSON`), so
a Yjs client reads what this module writes and the other way round.

Why not pycrdt's own `StickyIndex`: pycrdt 0.14 indexes `Text` in UTF-8 bytes while ids
count UTF-16 code units, and its `StickyIndex.new` / `get_index` add a *byte* distance to a
clock (y-crdt/pycrdt#382). That is right for ASCII and wrong as soon as a block holding a
multi-byte character is split by a later edit (an emoji on line 1, a line inserted above
line 10: every position below is off by two bytes), and `StickyIndex.new` at the end of the
text panics (a `BaseException`). So the ids are worked out here from the document's own
encoded state (the Yjs v1 update: every block's id, length and content, and the delete
set), and pycrdt is asked only what it answers correctly: the byte offset of a block's
first character (a distance of 0 cannot mix units), and which block holds a byte offset
(the client of its answer is right and its clock is off by a known amount). Each answer is
checked against the text before it is used.

The work is cached per document state (state vector and length), so many positions
resolved after one change decode the document once.
"""

from __future__ import annotations

import base64
import binascii
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pycrdt import Assoc, Doc, StickyIndex, Text

from codeforge.collab.blocks import Block, DecodeError, DocState, Reader, read_update, utf16_units

__all__ = [
    "AFTER",
    "BEFORE",
    "PositionError",
    "RelativePosition",
    "create",
    "resolve",
]

AFTER = 0  # sticks to the character after the position (Yjs' default, assoc >= 0)
BEFORE = -1  # sticks to the character before it

# Where the shared text lives in a room's document (docs/collab.md, room.py).
ROOT = "content"


class PositionError(ValueError):
    """A relative position that cannot be read (not Yjs' encoding or JSON shape)."""


@dataclass(frozen=True)
class RelativePosition:
    """Yjs' `RelativePosition`: an item id (`client`, `clock`), or, at the start or end of
    the text, the root type's name (`tname`); `assoc` < 0 sticks to the left."""

    item: tuple[int, int] | None = None
    tname: str | None = None
    assoc: int = AFTER

    # -- Yjs' forms ------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """`Y.relativePositionToJSON`'s shape (fields that are null are left out)."""
        data: dict[str, Any] = {}
        if self.tname is not None:
            data["tname"] = self.tname
        if self.item is not None:
            data["item"] = {"client": self.item[0], "clock": self.item[1]}
        data["assoc"] = self.assoc
        return data

    @classmethod
    def from_json(cls, data: Any) -> RelativePosition:
        if not isinstance(data, Mapping):
            raise PositionError(f"a relative position is an object, not {type(data).__name__}")
        assoc = data.get("assoc", AFTER)
        if assoc is None:
            assoc = AFTER
        if not _is_int(assoc):
            raise PositionError("a relative position's assoc is an integer")
        item = data.get("item")
        if item is not None:
            if not isinstance(item, Mapping) or not _is_int(item.get("client")) or not _is_int(item.get("clock")):
                raise PositionError("a relative position's item is {client: int, clock: int}")
            if item["client"] < 0 or item["clock"] < 0:
                raise PositionError("a relative position's item has a negative client or clock")
            return cls(item=(int(item["client"]), int(item["clock"])), assoc=int(assoc))
        tname = data.get("tname")
        if isinstance(tname, str):
            return cls(tname=tname, assoc=int(assoc))
        if data.get("type") is not None:
            # A position at the end of a nested type (not a root): never one of our texts.
            return cls(tname="", assoc=int(assoc))
        raise PositionError("a relative position names an item or a type (tname)")

    def encode(self) -> bytes:
        """`Y.encodeRelativePosition`: the same bytes pycrdt's `StickyIndex.encode()` writes."""
        out = bytearray()
        if self.item is not None:
            out += b"\x00" + _varuint(self.item[0]) + _varuint(self.item[1])
        else:
            name = (self.tname or "").encode()
            out += b"\x01" + _varuint(len(name)) + name
        out += _varint(self.assoc)
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> RelativePosition:
        try:
            reader = Reader(data)
            kind = reader.varuint()
            if kind == 0:
                item = (reader.varuint(), reader.varuint())
                return cls(item=item, assoc=reader.varint() if reader.more() else AFTER)
            if kind == 1:
                tname = reader.string()
                return cls(tname=tname, assoc=reader.varint() if reader.more() else AFTER)
            if kind == 2:  # the end of a nested type: never one of our texts
                reader.varuint(), reader.varuint()
                return cls(tname="", assoc=reader.varint() if reader.more() else AFTER)
        except (IndexError, UnicodeDecodeError):
            raise PositionError("a relative position's encoding is cut short or damaged") from None
        raise PositionError(f"unknown relative position kind {kind}")

    def to_base64(self) -> str:
        return base64.b64encode(self.encode()).decode()

    @classmethod
    def from_base64(cls, text: str) -> RelativePosition:
        if not isinstance(text, str) or not text:
            raise PositionError("an anchor is a non-empty base64 string")
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise PositionError("an anchor is base64 (of Yjs' relative position encoding)") from None
        return cls.decode(data)


def create(text: Text, offset: int, assoc: int = AFTER, *, root: str = ROOT) -> RelativePosition:
    """The relative position of byte `offset` in `text` (clamped to the text and to the start
    of the character it falls inside). AFTER sticks to the character at `offset`, BEFORE to
    the one before it (Yjs' `createRelativePositionFromTypeIndex`)."""
    state = _state(text)
    data = state.data
    offset = _char_start(data, max(0, min(offset, len(data))))
    if assoc < 0:
        if offset == 0:
            return RelativePosition(tname=root, assoc=assoc)
        # Yjs sticks to the last code unit before the position: the second half of a
        # surrogate pair after an emoji.
        block, start = state.block_at(text, _char_start(data, offset - 1))
        units = utf16_units(data[start:offset]) - 1
        return RelativePosition(item=(block.client, block.clock + units), assoc=assoc)
    if offset == len(data):
        return RelativePosition(tname=root, assoc=assoc)
    block, start = state.block_at(text, offset)
    units = utf16_units(data[start:offset])
    return RelativePosition(item=(block.client, block.clock + units), assoc=assoc)


def resolve(
    text: Text,
    position: RelativePosition,
    *,
    deleted: Literal["none", "collapse"] = "none",
    root: str = ROOT,
) -> int | None:
    """The byte offset `position` stands for now, or None when it is not in this text (an id
    the document never had, another type). When its character was deleted: None with
    `deleted="none"` (a comment's anchor, whose text is gone), else where the character
    was (`"collapse"`, what Yjs does for cursors)."""
    state = _state(text)
    if position.item is None:
        if position.tname != root:
            return None
        return len(state.data) if position.assoc >= 0 else 0
    client, clock = position.item
    block = state.block_of(client, clock)
    if block is None or (block.content is None and not block.deleted):
        return None  # unknown id, or an embed / format / nested type: not a character
    if block.deleted or state.is_deleted(client, clock):
        if deleted == "none":
            return None
        return state.start_of(text, block, allow_deleted=True)
    start = state.start_of(text, block)
    if start is None:
        return None
    assert block.content is not None
    return start + _bytes_for_units(block.content, clock - block.clock, after=position.assoc < 0)


# -- the document's blocks --------------------------------------------------------------------


@dataclass
class _State:
    """One version of a document: its text as UTF-8 and its blocks, with the byte offsets of
    the blocks' first characters learnt as they are needed."""

    data: bytes
    doc: DocState
    starts: dict[tuple[int, int], int | None] = field(default_factory=dict)

    def block_of(self, client: int, clock: int) -> Block | None:
        return self.doc.block_of(client, clock)

    def is_deleted(self, client: int, clock: int) -> bool:
        return self.doc.is_deleted(client, clock)

    def start_of(self, text: Text, block: Block, *, allow_deleted: bool = False) -> int | None:
        """The byte offset of `block`'s first character, from pycrdt (a distance of 0 within
        the block, so no units are mixed), checked against the text: a block of another type
        in the same document does not match."""
        key = (block.client, block.clock)
        if key in self.starts:
            return self.starts[key]
        found = _pycrdt_offset(text, block.client, block.clock)
        if found is not None and not (block.deleted or allow_deleted):
            assert block.content is not None
            if self.data[found : found + len(block.content)] != block.content:
                found = None
        self.starts[key] = found
        return found

    def block_at(self, text: Text, offset: int) -> tuple[Block, int]:
        """The live text block holding the character at byte `offset`, and its start."""
        guess = _pycrdt_sticky(text, offset)
        if guess is not None:
            # pycrdt's clock is the block's first clock plus the *byte* distance into it:
            # the blocks of that client that such a clock can fall in are few; the one whose
            # start plus that distance is `offset` is the block.
            client, clock = guess
            for block in self.doc.blocks_of(client):
                if block.deleted or block.content is None or block.clock > clock:
                    continue
                distance = clock - block.clock
                if distance >= len(block.content):
                    continue
                start = self.start_of(text, block)
                if start is not None and start + distance == offset:
                    return block, start
        # Not found that way (pycrdt answered something unexpected): every live block's
        # start, the slow and sure way.
        for block in self.doc.live_text_blocks():
            start = self.start_of(text, block)
            assert block.content is not None
            if start is not None and start <= offset < start + len(block.content):
                return block, start
        raise RuntimeError(f"no block of the document holds byte {offset}")


_cache: weakref.WeakKeyDictionary[Doc, tuple[tuple[bytes, int], _State]] = weakref.WeakKeyDictionary()


def _state(text: Text) -> _State:
    doc = text.doc
    # pycrdt's len() of a Text is its length in bytes, without copying it; a deletion leaves
    # the state vector as it was but shortens the text.
    key = (doc.get_state(), len(text))
    cached = _cache.get(doc)
    if cached is not None and cached[0] == key:
        return cached[1]
    data = str(text).encode()
    try:
        decoded = read_update(doc.get_update())
    except DecodeError as exc:  # our reader and pycrdt disagree: a bug to see, not to hide
        raise RuntimeError(f"could not read the document's state: {exc}") from exc
    state = _State(data, decoded)
    _cache[doc] = (key, state)
    return state


def _pycrdt_offset(text: Text, client: int, clock: int) -> int | None:
    """pycrdt's offset of the id (client, clock), which must exist in the document (an
    unknown id panics in pycrdt)."""
    sticky = StickyIndex.from_json({"item": {"client": client, "clock": clock}, "assoc": 0}, text)
    try:
        return sticky.get_index()
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if type(exc).__name__ != "PanicException":
            raise
        return None


def _pycrdt_sticky(text: Text, offset: int) -> tuple[int, int] | None:
    """pycrdt's (client, clock) for byte `offset` < len (its clock off as explained above)."""
    try:
        item = StickyIndex.new(text, offset, Assoc.AFTER).to_json().get("item")
    except BaseException as exc:
        if type(exc).__name__ != "PanicException":
            raise
        return None
    if not isinstance(item, dict):
        return None
    return int(item["client"]), int(item["clock"])


# -- small helpers ----------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _char_start(data: bytes, offset: int) -> int:
    """`offset` moved left to the first byte of the character it falls inside."""
    while 0 < offset < len(data) and (data[offset] & 0xC0) == 0x80:
        offset -= 1
    return offset


def _bytes_for_units(raw: bytes, units: int, *, after: bool = False) -> int:
    """The byte length of the first `units` UTF-16 code units of the UTF-8 `raw` (a unit
    inside a surrogate pair counts as the start of its character); with `after`, through the
    end of the character at `units` (a BEFORE position stands after it)."""
    wide = raw.decode(errors="replace").encode("utf-16-le")
    cut = min(units * 2, len(wide))
    if 0 < cut < len(wide) and 0xDC <= wide[cut + 1] <= 0xDF:  # cut before a low surrogate
        cut -= 2
    if after and cut < len(wide):
        cut += 4 if 0xD8 <= wide[cut + 1] <= 0xDB else 2
    return len(wide[:cut].decode("utf-16-le", errors="replace").encode())


def _varuint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _varint(value: int) -> bytes:
    """lib0's signed varint: the first byte holds a sign bit (0x40) and 6 bits."""
    negative = value < 0
    value = -value if negative else value
    out = bytearray([(0x80 if value > 0x3F else 0) | (0x40 if negative else 0) | (value & 0x3F)])
    value >>= 6
    while value:
        out.append((0x80 if value > 0x7F else 0) | (value & 0x7F))
        value >>= 7
    return bytes(out)
