"""LSP positions of an editor's document without indexing the whole text at every keystroke.

`codeforge.collab.text` converts through an index of every line of the text (`Lines`), which
is right for many positions in one text but is rebuilt for every new text: in a 5 MB document
that is ~100 ms per keystroke. An editor's changes are one or two positions each, near the
previous ones, so here a position is found from an *anchor* (a known line start: its line,
character index and byte offset) by scanning only the lines in between, and the anchor moves
with the edits. Byte offsets → positions (for an applyEdit) go through the text once,
left to right, with C-speed `str` methods.

Lines end at `\\n` here; a text that has a `\\r` anywhere (CRLF or old Mac breaks) goes through
`codeforge.collab.text`, which knows every LSP line break. Clamping is the same: a character
past a line's end is its end, a position inside a character (half a surrogate pair, inside a
UTF-8 sequence) is that character's start, a line past the last is the end of the text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from codeforge.collab.text import Edit, Encoding, edit_from_lsp, to_lsp_edits

__all__ = ["Anchor", "Span", "change_span", "lsp_edits", "splice"]

Anchor = tuple[int, int, int]  # a line start: (line, character index, byte offset)
START: Anchor = (0, 0, 0)


@dataclass(frozen=True, slots=True)
class Span:
    """One change: characters [start, end) of the text (bytes [start_byte, end_byte)) become `text`."""

    start: int
    end: int
    start_byte: int
    end_byte: int
    text: str

    @property
    def edit(self) -> Edit:
        return Edit(self.start_byte, self.end_byte, self.text)


def _line_start(text: str, anchor: Anchor, line: int) -> Anchor | None:
    """The anchor of `line`'s start, or None when the text has fewer lines."""
    known, at, byte = anchor
    start = at
    if line >= known:
        for _ in range(line - known):
            newline = text.find("\n", start)
            if newline < 0:
                return None
            start = newline + 1
        return line, start, byte + len(text[at:start].encode())
    for _ in range(known - line):
        start = text.rfind("\n", 0, start - 1) + 1
    return line, start, byte - len(text[start:at].encode())


def _within(content: str, character: int, encoding: Encoding) -> int:
    """Characters of `content` (one line) before LSP character `character`, clamped."""
    if content.isascii() or encoding == "utf-32":
        return min(character, len(content))
    if encoding == "utf-8":
        raw = content.encode()
        cut = min(character, len(raw))
        while 0 < cut < len(raw) and raw[cut] & 0xC0 == 0x80:
            cut -= 1
        return len(raw[:cut].decode())
    units = content.encode("utf-16-le")
    cut = min(character * 2, len(units))
    if 0 < cut < len(units) and 0xD8 <= units[cut - 1] <= 0xDB:  # between a surrogate pair's halves
        cut -= 2
    return len(units[:cut].decode("utf-16-le"))


def _locate(text: str, anchor: Anchor, line: int, character: int, encoding: Encoding) -> tuple[int, int, Anchor]:
    """(character index, byte offset, anchor of its line) of an LSP position."""
    if line < 0 or character < 0:
        raise ValueError(f"position ({line}, {character}) is negative")
    found = _line_start(text, anchor, line)
    if found is None:
        return len(text), -1, anchor  # past the last line: the end (its byte offset: the caller's)
    _line, start, byte = found
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    content = text[start:end]
    k = _within(content, character, encoding)
    return start + k, byte + len(content[:k].encode()), found


def change_span(text: str, anchor: Anchor, change: Any, encoding: Encoding) -> tuple[Span, Anchor]:
    """One didChange content change as a Span of `text`, and the anchor to use next."""
    rng = getattr(change, "range", None)
    if rng is None:  # the whole document
        return Span(0, len(text), 0, len(text.encode()), change.text), START
    if "\r" in text or "\r" in change.text:
        edit = edit_from_lsp(
            text, (rng.start.line, rng.start.character), (rng.end.line, rng.end.character), change.text, encoding
        )
        raw = text.encode()
        a, b = len(raw[: edit.start].decode()), len(raw[: edit.end].decode())
        return Span(a, b, edit.start, edit.end, change.text), START
    a, a_byte, anchor = _locate(text, anchor, rng.start.line, rng.start.character, encoding)
    b, b_byte, anchor = _locate(text, anchor, rng.end.line, rng.end.character, encoding)
    size = -1
    if a_byte < 0 or b_byte < 0:
        size = len(text.encode())
        a_byte = size if a_byte < 0 else a_byte
        b_byte = size if b_byte < 0 else b_byte
    if b < a:
        raise ValueError(f"range end ({rng.end.line}, {rng.end.character}) is before its start")
    return Span(a, b, a_byte, b_byte, change.text), anchor


def splice(text: str, anchor: Anchor, span: Span) -> tuple[str, Anchor]:
    """`text` with `span` applied, and the anchor moved along (kept while the text before
    it is untouched, shifted by an edit wholly before the line break that ends the line
    before it, else back to the start)."""
    new = text[: span.start] + span.text + text[span.end :]
    line, at, byte = anchor
    if span.start >= at:
        return new, anchor
    if span.end <= at - 1:
        removed = text[span.start : span.end]
        return new, (
            line + span.text.count("\n") - removed.count("\n"),
            at + len(span.text) - len(removed),
            byte + len(span.text.encode()) - (span.end_byte - span.start_byte),
        )
    return new, START


def _units(text: str, encoding: Encoding) -> int:
    if text.isascii() or encoding == "utf-32":
        return len(text)
    if encoding == "utf-8":
        return len(text.encode())
    return len(text.encode("utf-16-le")) // 2


def lsp_edits(text: str, edits: list[Edit], encoding: Encoding) -> list[tuple[int, int, int, int, str]]:
    """(start line, start character, end line, end character, new text) of byte-offset
    `edits` (ascending) of `text`: one pass left to right."""
    if "\r" in text:
        return [
            (e.start_line, e.start_character, e.end_line, e.end_character, e.new_text)
            for e in to_lsp_edits(text, edits, encoding)
        ]
    raw = text.encode() if not text.isascii() else None
    char, byte, line = 0, 0, 0
    out = []

    def position(offset: int) -> tuple[int, int]:
        nonlocal char, byte, line
        if offset < byte:  # an edit's end before the next one's start cannot be; be safe
            char, byte, line = 0, 0, 0
        index = char + (len(raw[byte:offset].decode(errors="ignore")) if raw is not None else offset - byte)
        line += text.count("\n", char, index)
        char, byte = index, offset
        start = text.rfind("\n", 0, index) + 1
        return line, _units(text[start:index], encoding)

    for edit in edits:
        start = position(edit.start)
        end = position(edit.end)
        out.append((start[0], start[1], end[0], end[1], edit.text))
    return out
