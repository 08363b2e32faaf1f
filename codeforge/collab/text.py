"""Text positions and minimal diffs between the document, the editors and the disk.

pycrdt `Text` indexes UTF-8 **bytes**; LSP positions are (line, character) where a character
counts UTF-16 code units unless the client negotiated UTF-8 or UTF-32 (code points). Every
offset here is a byte offset into `text.encode()`.

Clamping, so that a stale or sloppy position never lands inside a character:
- a line past the last one clamps to the end of the text;
- a character past a line's end clamps to the line's end (before its line break);
- a position inside a character (the low half of a UTF-16 surrogate pair, the middle of a
  UTF-8 sequence) moves back to the **start** of that character;
- a byte offset inside a UTF-8 sequence moves back to the start of the character, and one
  between the `\r` and `\n` of a CRLF maps to the end of its line.
LSP lines end at `\n`, `\r\n` or `\r` (not at the other separators `str.splitlines` knows).
Negative numbers are bugs and raise ValueError.
"""

from __future__ import annotations

import bisect
import difflib
import functools
import itertools
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "Edit",
    "Encoding",
    "Lines",
    "LspEdit",
    "apply",
    "apply_to_ytext",
    "coarsen",
    "delta_to_edits",
    "diff",
    "edit_from_lsp",
    "to_lsp_edits",
    "to_offset",
    "to_position",
]

Encoding = Literal["utf-8", "utf-16", "utf-32"]
ENCODINGS: tuple[str, ...] = ("utf-8", "utf-16", "utf-32")

_BREAK = re.compile(r"\r\n|\r|\n")
# Words, runs of spaces, single other characters: the second pass of a large diff.
_TOKEN = re.compile(r"\w+|[^\S\r\n]+|\r\n|.", re.DOTALL)
# Above this many chars times chars, a changed region is replaced by lines rather than refined
# character by character (difflib's character matching is quadratic in the worst case).
_CHAR_DIFF_LIMIT = 250_000
# Above this many characters (both sides), a changed group of lines is not compared token by
# token (pure Python: about 1.5 s per MB on a busy machine, with the event loop blocked).
_TOKEN_PASS_LIMIT = 2_000_000
# More edits than this are joined before they reach a pycrdt Text (see apply_to_ytext).
YTEXT_EDIT_LIMIT = 2000
_YTEXT_BYTE_BUDGET = 300_000_000
# How far (in lines, or tokens) a changed region is searched for its end.
_RESYNC_REACH = 20_000


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace bytes [start, end) of the old text's UTF-8 encoding with `text`."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class LspEdit:
    """An LSP TextEdit in plain values: the range in the client's encoding, and the new text."""

    start_line: int
    start_character: int
    end_line: int
    end_character: int
    new_text: str


def _check_encoding(encoding: str) -> None:
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown position encoding {encoding!r}: expected one of {', '.join(ENCODINGS)}")


class Lines:
    """A text's line starts (in characters and bytes), built once and reused for many positions.

    Module functions keep the last few in a cache keyed by the text, so a language server
    converting every position of a change against the same text indexes it once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.ascii = text.isascii()
        # starts[i]: character index where line i begins; ends[i]: where its content ends
        # (before the break). One more line than there are breaks.
        self._byte_starts: list[int] | None = None
        raw = b"" if self.ascii else text.encode()
        self.size = len(text) if self.ascii else len(raw)
        if "\r" not in text:
            # The common case, at C speed (split and accumulate): a language server indexes
            # the text again after every keystroke, and 5 MB took 45-100 ms with the regex.
            lengths = list(map(len, text.split("\n")))
            self.starts = [0, *itertools.accumulate(n + 1 for n in lengths[:-1])]
            self.ends = list(map(operator.add, self.starts, lengths))
            if self.ascii:
                self._byte_starts = self.starts
            else:
                raw_lengths = list(map(len, raw.split(b"\n")))
                self._byte_starts = [0, *itertools.accumulate(n + 1 for n in raw_lengths[:-1])]
        else:
            starts = [0]
            ends = []
            for m in _BREAK.finditer(text):
                ends.append(m.start())
                starts.append(m.end())
            ends.append(len(text))
            self.starts = starts
            self.ends = ends

    @property
    def byte_starts(self) -> list[int]:
        if self._byte_starts is None:
            if self.ascii:
                self._byte_starts = self.starts
            else:
                text, starts = self.text, self.starts
                # Each line's byte length (with its break), accumulated.
                lengths = (len(text[a:b].encode()) for a, b in itertools.pairwise(starts))
                self._byte_starts = [0, *itertools.accumulate(lengths)]
        return self._byte_starts

    def offset(self, line: int, character: int, encoding: Encoding = "utf-16") -> int:
        """Byte offset of an LSP position (clamped as the module says)."""
        _check_encoding(encoding)
        if line < 0 or character < 0:
            raise ValueError(f"position ({line}, {character}) is negative")
        if line >= len(self.starts):
            return self.size
        start, end = self.starts[line], self.ends[line]
        base = self.byte_starts[line]
        if self.ascii:
            return base + min(character, end - start)
        content = self.text[start:end]
        if encoding == "utf-32":
            return base + len(content[:character].encode())
        if encoding == "utf-8":
            raw = content.encode()
            cut = min(character, len(raw))
            while 0 < cut < len(raw) and raw[cut] & 0xC0 == 0x80:  # a continuation byte
                cut -= 1
            return base + cut
        units = content.encode("utf-16-le")
        cut = min(character * 2, len(units))
        if 0 < cut < len(units) and 0xD8 <= units[cut - 1] <= 0xDB:
            # Just after a high surrogate: the position splits a pair; take the char's start.
            cut -= 2
        return base + len(units[:cut].decode("utf-16-le").encode())

    def position(self, offset: int, encoding: Encoding = "utf-16") -> tuple[int, int]:
        """(line, character) of a byte offset (clamped as the module says)."""
        _check_encoding(encoding)
        if offset < 0:
            raise ValueError(f"offset {offset} is negative")
        offset = min(offset, self.size)
        byte_starts = self.byte_starts
        line = bisect.bisect_right(byte_starts, offset) - 1
        start, end = self.starts[line], self.ends[line]
        within = offset - byte_starts[line]
        if self.ascii:
            return line, min(within, end - start)
        raw = self.text[start:end].encode()
        within = min(within, len(raw))  # inside the line break: the line's end
        while 0 < within < len(raw) and raw[within] & 0xC0 == 0x80:
            within -= 1
        if encoding == "utf-8":
            return line, within
        prefix = raw[:within].decode()
        if encoding == "utf-32":
            return line, len(prefix)
        return line, len(prefix.encode("utf-16-le")) // 2


@functools.lru_cache(maxsize=4)
def _lines(text: str) -> Lines:
    return Lines(text)


def to_offset(text: str, line: int, character: int, encoding: Encoding = "utf-16") -> int:
    """Byte offset into `text.encode()` of the LSP position (line, character)."""
    return _lines(text).offset(line, character, encoding)


def to_position(text: str, offset: int, encoding: Encoding = "utf-16") -> tuple[int, int]:
    """The LSP position (line, character) of byte `offset` into `text.encode()`."""
    return _lines(text).position(offset, encoding)


def apply(text: str, edits: Iterable[Edit]) -> str:
    """`text` with `edits` (byte offsets into the same original text, non-overlapping) applied."""
    raw = text.encode()
    out: list[bytes] = []
    at = 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        if not 0 <= edit.start <= edit.end <= len(raw):
            raise ValueError(f"edit [{edit.start}, {edit.end}) is outside the text (0..{len(raw)} bytes)")
        if edit.start < at:
            raise ValueError(f"edit [{edit.start}, {edit.end}) overlaps the previous edit (ends at {at})")
        for cut in (edit.start, edit.end):
            if cut < len(raw) and raw[cut] & 0xC0 == 0x80:
                raise ValueError(f"edit boundary {cut} falls inside a UTF-8 character")
        out.append(raw[at : edit.start])
        out.append(edit.text.encode())
        at = edit.end
    out.append(raw[at:])
    return b"".join(out).decode()


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by comparing growing slices (C memcmp) then bisecting."""
    limit = min(len(a), len(b))
    done, step = 0, 64
    while done < limit:
        step = min(step, limit - done)
        if a[done : done + step] == b[done : done + step]:
            done += step
            step *= 2
            continue
        if step == 1:
            break
        step //= 2
    return done


def _common_suffix(a: str, b: str, limit: int) -> int:
    limit = min(limit, len(a), len(b))
    done, step = 0, 64
    while done < limit:
        step = min(step, limit - done)
        if a[len(a) - done - step : len(a) - done] == b[len(b) - done - step : len(b) - done]:
            done += step
            step *= 2
            continue
        if step == 1:
            break
        step //= 2
    return done


def _resync(
    a: list[str], b: list[str], i: int, j: int, where_b: dict[str, list[int]], where_a: dict[str, list[int]]
) -> tuple[int, int] | None:
    """The nearest (x, y) where a[i+x:] and b[j+y:] agree again on the next few parts (so one
    blank line or lone brace does not count as agreeing), or None. Nearest is the fewest parts
    on the longer side, then the most even: in repetitive text, replacing one line by one line
    (refined to characters afterwards) beats inserting one and deleting another further on.
    Looks at most _RESYNC_REACH parts ahead: beyond that, the rest is one changed region."""
    n, m = len(a), len(b)
    # The usual cases first, cheaply (a word or a line replaced, inserted, removed): no
    # candidate can cost less than these.
    for x, y in ((1, 1), (0, 1), (1, 0)):
        run = min(3, n - i - x, m - j - y)
        if run > 0 and a[i + x : i + x + run] == b[j + y : j + y + run]:
            return x, y
    best: tuple[int, int] | None = None
    best_cost = (_RESYNC_REACH + 1, 0)
    for lines, at, where, other_at, flip in ((a, i, where_b, j, False), (b, j, where_a, i, True)):
        for x in range(min(len(lines) - at, _RESYNC_REACH)):
            if x > best_cost[0]:
                break
            found = where.get(lines[at + x])
            if not found:
                continue
            k = bisect.bisect_left(found, other_at)
            for p in found[k : k + 8]:  # a few nearest occurrences, not every blank line
                y = p - other_at
                if y > best_cost[0]:
                    break  # further occurrences only cost more
                cost = (x if x > y else y, abs(x - y))
                if cost >= best_cost:
                    continue
                ax, by = (i + y, j + x) if flip else (i + x, j + y)
                run = min(3, n - ax, m - by)
                if a[ax : ax + run] == b[by : by + run]:
                    best, best_cost = ((y, x) if flip else (x, y)), cost
                    break
    return best


def _line_regions(a: list[str], b: list[str]) -> list[tuple[int, int, int, int]]:
    """(a_start, a_end, b_start, b_end) in lines of each changed region: a greedy walk that
    resynchronises at the nearest agreeing lines. Not an LCS (Myers is O(ND), far too slow in
    Python for a formatter's thousands of changes) but near-linear, and a change stays local."""
    where_a: dict[str, list[int]] = {}
    where_b: dict[str, list[int]] = {}
    for k, line in enumerate(a):
        where_a.setdefault(line, []).append(k)
    for k, line in enumerate(b):
        where_b.setdefault(line, []).append(k)
    regions = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            i += 1
            j += 1
            continue
        found = _resync(a, b, i, j, where_b, where_a)
        if found is None:
            break
        regions.append((i, i + found[0], j, j + found[1]))
        i, j = i + found[0], j + found[1]
    if i < len(a) or j < len(b):
        regions.append((i, len(a), j, len(b)))
    return regions


def _char_regions(a: str, b: str, *, tokens: bool = False) -> list[tuple[int, int, int, int]]:
    """(a_start, a_end, b_start, b_end) of the changed regions, in characters: lines first,
    then characters inside each changed group of lines. A group too big to compare character
    by character (a formatter touched every line: no line agrees) is compared by tokens first,
    so a reformatted file still changes by its spaces, not as one replacement."""
    if tokens:
        a_parts, b_parts = _TOKEN.findall(a), _TOKEN.findall(b)
    else:
        # splitlines also splits at \v, \f, \x1c.. and U+2028; that only changes the
        # granularity of this pass, never the result (the pieces still add up to the text).
        a_parts, b_parts = a.splitlines(keepends=True), b.splitlines(keepends=True)
    a_at = [0, *itertools.accumulate(map(len, a_parts))]
    b_at = [0, *itertools.accumulate(map(len, b_parts))]
    regions: list[tuple[int, int, int, int]] = []
    for i1, i2, j1, j2 in _line_regions(a_parts, b_parts):
        a0, a1, b0, b1 = a_at[i1], a_at[i2], b_at[j1], b_at[j2]
        if a0 == a1 or b0 == b1:
            regions.append((a0, a1, b0, b1))
        elif (a1 - a0) * (b1 - b0) <= _CHAR_DIFF_LIMIT:
            inner = difflib.SequenceMatcher(None, a[a0:a1], b[b0:b1], autojunk=False)
            for tag, k1, k2, l1, l2 in inner.get_opcodes():
                if tag != "equal":
                    regions.append((a0 + k1, a0 + k2, b0 + l1, b0 + l2))
        elif not tokens and a1 - a0 + b1 - b0 <= _TOKEN_PASS_LIMIT:
            for k1, k2, l1, l2 in _char_regions(a[a0:a1], b[b0:b1], tokens=True):
                regions.append((a0 + k1, a0 + k2, b0 + l1, b0 + l2))
        else:
            regions.append((a0, a1, b0, b1))
    return regions


def diff(old: str, new: str) -> list[Edit]:
    """Minimal edits (byte offsets of `old`, ascending, non-overlapping) that turn `old` into `new`.

    Common prefix and suffix are cut first (a keystroke in 5 MB costs two memcmp passes),
    then the rest is compared line by line, then character by character inside changed lines."""
    if old == new:
        return []
    head = _common_prefix(old, new)
    tail = _common_suffix(old, new, min(len(old), len(new)) - head)
    a, b = old[head : len(old) - tail], new[head : len(new) - tail]
    base = len(old[:head].encode()) if not old.isascii() else head
    if not a or not b:
        return [Edit(base, base + len(a.encode()), b)]
    edits: list[Edit] = []
    # Walk a's characters once, converting region starts/ends to bytes incrementally.
    char_at, byte_at = 0, base
    for a0, a1, b0, b1 in _char_regions(a, b):
        byte_at += len(a[char_at:a0].encode())
        start = byte_at
        byte_at += len(a[a0:a1].encode())
        char_at = a1
        if edits and edits[-1].end == start:  # touching regions read better as one edit
            last = edits.pop()
            edits.append(Edit(last.start, byte_at, last.text + b[b0:b1]))
        else:
            edits.append(Edit(start, byte_at, b[b0:b1]))
    return edits


def delta_to_edits(delta: Sequence[dict[str, Any]]) -> list[Edit]:
    """Edits (byte offsets of the text before the event) from a pycrdt TextEvent delta.

    pycrdt's delta counts `retain` and `delete` in UTF-8 bytes; `insert` is the string."""
    edits: list[Edit] = []
    at = 0
    for op in delta:
        if "retain" in op:
            at += int(op["retain"])
            continue
        if "insert" in op:
            inserted = op["insert"]
            if not isinstance(inserted, str):
                raise ValueError(f"the delta inserts an embedded object ({type(inserted).__name__}), not text")
            edit = Edit(at, at, inserted)
        elif "delete" in op:
            edit = Edit(at, at + int(op["delete"]), "")
            at += int(op["delete"])
        else:
            raise ValueError(f"unknown delta operation {op!r}")
        if edits and edits[-1].end == edit.start:  # insert+delete at one place: one replace
            last = edits.pop()
            edit = Edit(last.start, edit.end, last.text + edit.text)
        edits.append(edit)
    return edits


def _whole_line_breaks(text: str, edits: Iterable[Edit]) -> list[Edit]:
    """`edits` widened so that none starts or ends between the `\\r` and `\\n` of a CRLF.

    An LSP position cannot point there (the CRLF is one line break), but a byte edit can
    (a Yjs client deleting the `\\r`). The widened edit rewrites the whole break; edits that
    meet after widening become one, its text computed from the original edits."""
    raw = text.encode()

    def inside_crlf(at: int) -> bool:
        return 0 < at < len(raw) and raw[at - 1] == 0x0D and raw[at] == 0x0A

    ordered = sorted(edits, key=lambda e: (e.start, e.end))
    groups: list[tuple[int, int, list[Edit]]] = []
    for edit in ordered:
        start = edit.start - 1 if inside_crlf(edit.start) else edit.start
        end = edit.end + 1 if inside_crlf(edit.end) else edit.end
        if groups and start < groups[-1][1]:
            first, _, members = groups[-1]
            groups[-1] = (first, max(end, groups[-1][1]), [*members, edit])
        else:
            groups.append((start, end, [edit]))
    result = []
    for start, end, members in groups:
        if len(members) == 1 and (members[0].start, members[0].end) == (start, end):
            result.append(members[0])
            continue
        piece = raw[start:end].decode()
        shifted = [Edit(m.start - start, m.end - start, m.text) for m in members]
        result.append(Edit(start, end, apply(piece, shifted)))
    return result


def to_lsp_edits(text: str, edits: Iterable[Edit], encoding: Encoding = "utf-16") -> list[LspEdit]:
    """LSP TextEdits for `edits` against `text` (ranges all refer to `text`, as LSP wants)."""
    lines = _lines(text)
    result = []
    for edit in _whole_line_breaks(text, edits):
        start = lines.position(edit.start, encoding)
        end = lines.position(edit.end, encoding)
        result.append(LspEdit(start[0], start[1], end[0], end[1], edit.text))
    return result


def edit_from_lsp(
    text: str,
    start: tuple[int, int],
    end: tuple[int, int],
    new_text: str,
    encoding: Encoding = "utf-16",
) -> Edit:
    """The Edit for one LSP content change (range in `encoding`) against `text`."""
    lines = _lines(text)
    a = lines.offset(start[0], start[1], encoding)
    b = lines.offset(end[0], end[1], encoding)
    if b < a:
        raise ValueError(f"range end {end} is before its start {start}")
    return Edit(a, b, new_text)


def coarsen(text: str, edits: Sequence[Edit], limit: int) -> list[Edit]:
    """At most about `limit` edits doing the same as `edits` (against `text`): the edits
    closest together are joined, the unchanged text between them rewritten."""
    ordered = sorted(edits, key=lambda e: e.start)
    if len(ordered) <= limit:
        return ordered
    raw = text.encode()
    gaps = [b.start - a.end for a, b in itertools.pairwise(ordered)]
    # Exactly the narrowest gaps that bring the count down to the limit (ties: the first).
    joined = set(sorted(range(len(gaps)), key=gaps.__getitem__)[: len(ordered) - max(limit, 1)])
    out: list[Edit] = []
    start, end, pieces = ordered[0].start, ordered[0].end, [ordered[0].text]
    for k, edit in enumerate(ordered[1:]):
        if k in joined:
            pieces += [raw[end : edit.start].decode(), edit.text]
        else:
            out.append(Edit(start, end, "".join(pieces)))
            start, pieces = edit.start, [edit.text]
        end = edit.end
    out.append(Edit(start, end, "".join(pieces)))
    return out


def apply_to_ytext(ytext: Any, edits: Iterable[Edit], *, limit: int | None = None) -> None:
    """Apply `edits` (against the current `str(ytext)`) to a pycrdt Text, last first so the
    earlier offsets stay valid. Call inside a transaction so peers get one update.

    Each pycrdt edit costs about a nanosecond per byte of the text (it walks the blocks and
    counts their bytes to find the index): 100,000 edits to 850 KiB (a formatter touching
    every line) took 96 s one by one. So edits beyond `limit` (default: what fits in about
    0.3 s for this text's size, 100 to 2000) are joined, the closest first (`coarsen`):
    still local changes, in bounded time."""
    edits = list(edits)
    # The text is read only when there are many edits: a keystroke must not copy 5 MB.
    if len(edits) > (100 if limit is None else limit):
        if limit is None:
            limit = max(100, min(YTEXT_EDIT_LIMIT, _YTEXT_BYTE_BUDGET // max(1, len(ytext))))
        edits = coarsen(str(ytext), edits, limit)
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        if edit.end > edit.start:
            del ytext[edit.start : edit.end]
        if edit.text:
            ytext.insert(edit.start, edit.text)
