"""Positions (UTF-8 / UTF-16 / UTF-32 against pycrdt's byte indexes) and minimal diffs."""

from __future__ import annotations

import itertools
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Doc, Text

from codeforge.collab.text import (
    Edit,
    Lines,
    apply,
    apply_to_ytext,
    coarsen,
    delta_to_edits,
    diff,
    edit_from_lsp,
    to_lsp_edits,
    to_offset,
    to_position,
)

ENCODINGS = ("utf-8", "utf-16", "utf-32")
# Characters that break naive position code: astral (surrogate pairs in UTF-16), combining
# marks, CJK (3 UTF-8 bytes), 2-byte Latin, and every LSP line break.
ALPHABET = ["a", "b", " ", "é", "e\u0301", "\u0301", "中", "文", "😀", "👍🏽", "\U0001d54f", "\n", "\r", "\r\n", "\t"]
texts = st.lists(st.sampled_from(ALPHABET), max_size=40).map("".join)


def units(ch: str, encoding: str) -> int:
    return (
        len(ch.encode({"utf-8": "utf-8", "utf-16": "utf-16-le", "utf-32": "utf-32-le"}[encoding]))
        // ({"utf-8": 1, "utf-16": 2, "utf-32": 4}[encoding])
    )


def reference_positions(text: str, encoding: str) -> list[tuple[tuple[int, int], int]]:
    """Every valid position and its byte offset, walking the text one character at a time
    (independent of the implementation's slicing)."""
    out = []
    line = character = offset = 0
    i = 0
    while True:
        out.append(((line, character), offset))
        if i == len(text):
            return out
        ch = text[i]
        if ch == "\r" and text[i + 1 : i + 2] == "\n":
            line, character, offset, i = line + 1, 0, offset + 2, i + 2
        elif ch in "\r\n":
            line, character, offset, i = line + 1, 0, offset + 1, i + 1
        else:
            character += units(ch, encoding)
            offset += len(ch.encode())
            i += 1


def test_pycrdt_text_counts_utf8_bytes() -> None:
    # The premise of the whole module: if pycrdt ever changes this, every offset is wrong.
    t = Doc().get("content", type=Text)
    t += "a😀"
    assert len(t) == 5
    t.insert(1, "é")  # byte 1: after "a"
    assert str(t) == "aé😀"


@pytest.mark.parametrize(
    ("text", "position", "encoding", "offset"),
    [
        ("a😀b", (0, 1), "utf-16", 1),
        ("a😀b", (0, 3), "utf-16", 5),  # the emoji is 2 UTF-16 units, 4 bytes
        ("a😀b", (0, 4), "utf-16", 6),
        ("a😀b", (0, 2), "utf-32", 5),
        ("a😀b", (0, 5), "utf-8", 5),
        ("中文x", (0, 1), "utf-16", 3),
        ("中文x", (0, 2), "utf-32", 6),
        ("e\u0301x", (0, 2), "utf-16", 3),  # the combining mark is its own code unit
        ("ab\r\ncd", (1, 1), "utf-16", 5),
        ("ab\rcd", (1, 0), "utf-16", 3),
        ("ab\ncd\n", (2, 0), "utf-16", 6),
    ],
)
def test_known_positions(text: str, position: tuple[int, int], encoding: str, offset: int) -> None:
    assert to_offset(text, *position, encoding) == offset  # type: ignore[arg-type]
    assert to_position(text, offset, encoding) == position  # type: ignore[arg-type]


def test_clamping_never_splits_a_character() -> None:
    # Between the two halves of a surrogate pair: the start of the emoji (documented side).
    assert to_offset("a😀b", 0, 2, "utf-16") == 1
    # Inside a UTF-8 sequence: the start of the character.
    for character in (2, 3, 4):
        assert to_offset("a😀b", 0, character, "utf-8") == 1
    assert to_offset("中", 0, 1, "utf-8") == 0
    # Past the line's end: the line's end, before the CRLF, not into the next line.
    assert to_offset("ab\r\ncd", 0, 99, "utf-16") == 2
    assert to_offset("ab\r\ncd", 0, 3, "utf-8") == 2
    # Past the last line: the end of the text.
    assert to_offset("ab\ncd", 7, 0, "utf-16") == 5
    # Byte offsets: inside a UTF-8 sequence back to its start; between \r and \n the line's end;
    # past the end the end.
    assert to_position("a😀b", 3, "utf-16") == (0, 1)
    assert to_position("ab\r\ncd", 3, "utf-16") == (0, 2)
    assert to_position("ab", 99, "utf-16") == (0, 2)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        to_offset("ab", -1, 0)
    with pytest.raises(ValueError, match="negative"):
        to_position("ab", -3)
    with pytest.raises(ValueError, match="unknown position encoding 'utf-7'"):
        to_offset("ab", 0, 0, "utf-7")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="before its start"):
        edit_from_lsp("abc", (0, 2), (0, 1), "x")
    with pytest.raises(ValueError, match="inside a UTF-8 character"):
        apply("a😀", [Edit(2, 2, "x")])
    with pytest.raises(ValueError, match="overlaps"):
        apply("abcdef", [Edit(0, 3, ""), Edit(2, 4, "")])
    with pytest.raises(ValueError, match="outside the text"):
        apply("ab", [Edit(1, 9, "")])
    with pytest.raises(ValueError, match="embedded object"):
        delta_to_edits([{"insert": {"img": 1}}])


@settings(max_examples=300, deadline=None)
@given(texts)
def test_round_trips_every_valid_position(text: str) -> None:
    lines = Lines(text)
    for encoding in ENCODINGS:
        for position, offset in reference_positions(text, encoding):
            assert lines.offset(*position, encoding) == offset, (text, position, encoding)  # type: ignore[arg-type]
            assert lines.position(offset, encoding) == position, (text, offset, encoding)  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(texts, st.integers(0, 6), st.integers(0, 200))
def test_any_position_lands_on_a_character_boundary(text: str, line: int, character: int) -> None:
    raw = text.encode()
    for encoding in ENCODINGS:
        offset = to_offset(text, line, character, encoding)  # type: ignore[arg-type]
        assert 0 <= offset <= len(raw)
        raw[:offset].decode()  # raises if the offset split a character


@settings(max_examples=300, deadline=None)
@given(texts, texts)
def test_diff_apply_reproduces_the_target(old: str, new: str) -> None:
    edits = diff(old, new)
    assert apply(old, edits) == new
    assert all(a.end < b.start for a, b in itertools.pairwise(edits))  # ordered, apart
    assert all(e.start < e.end or e.text for e in edits)  # no empty edits
    if old == new:
        assert edits == []


@settings(max_examples=150, deadline=None)
@given(texts, texts)
def test_pycrdt_delta_and_lsp_edits_describe_the_same_change(old: str, new: str) -> None:
    doc = Doc()
    ytext = doc.get("content", type=Text)
    ytext += old
    deltas = []
    ytext.observe(lambda event: deltas.append(event.delta))
    with doc.transaction():
        apply_to_ytext(ytext, diff(old, new))
    assert str(ytext) == new
    if old != new:
        # The TextEvent seen by observers, turned back into edits against the old text.
        assert apply(old, delta_to_edits(deltas[-1])) == new
    # The LSP form, applied the way an editor does (ranges into the old text), for every encoding.
    for encoding in ENCODINGS:
        lsp = to_lsp_edits(old, diff(old, new), encoding)  # type: ignore[arg-type]
        back = [
            edit_from_lsp(
                old,
                (e.start_line, e.start_character),
                (e.end_line, e.end_character),
                e.new_text,
                encoding,  # type: ignore[arg-type]
            )
            for e in lsp
        ]
        assert apply(old, back) == new


def test_diff_is_minimal() -> None:
    old = "def f():\n    return 1\n\n\ndef g():\n    return 2\n"
    new = "def f():\n    return 10\n\n\ndef g():\n    return 2\n"
    assert diff(old, new) == [Edit(21, 21, "0")]
    # Two separate changed lines give two edits, not one spanning the middle.
    new2 = "def F():\n    return 1\n\n\ndef g():\n    return 3\n"
    assert diff(old, new2) == [Edit(4, 5, "F"), Edit(old.index("2"), old.index("2") + 1, "3")]
    # Non-ASCII before the change: offsets are bytes.
    assert diff("😀 ab", "😀 aXb") == [Edit(6, 6, "X")]
    assert diff("", "x") == [Edit(0, 0, "x")]
    assert diff("x", "") == [Edit(0, 1, "")]


def test_delta_insert_and_delete_at_one_place_is_one_replace() -> None:
    assert delta_to_edits([{"retain": 2}, {"delete": 3}, {"insert": "x"}]) == [Edit(2, 5, "x")]
    assert delta_to_edits([{"retain": 2}, {"insert": "x"}, {"delete": 3}]) == [Edit(2, 5, "x")]
    assert delta_to_edits([{"insert": "a"}, {"retain": 4}, {"delete": 1}]) == [Edit(0, 0, "a"), Edit(4, 5, "")]


def test_five_megabytes_with_a_small_change() -> None:
    """Measured, not asserted on time (the machine is shared): printed for the report."""
    line = "    value = compute(alpha, beta, 'é中😀')  # a typical line\n"
    old = line * (5_000_000 // len(line.encode()))
    middle = len(old) // 2
    new = old[:middle] + "X" + old[middle:]
    started = time.perf_counter()
    edits = diff(old, new)
    diff_s = time.perf_counter() - started
    assert len(edits) == 1 and edits[0].text == "X" and edits[0].start == edits[0].end
    assert apply(old, edits) == new
    started = time.perf_counter()
    lines = Lines(old)
    position = lines.position(edits[0].start, "utf-16")
    assert lines.offset(*position, "utf-16") == edits[0].start
    index_s = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(1000):
        lines.offset(position[0], position[1], "utf-16")
    offset_us = (time.perf_counter() - started) * 1000
    print(f"\n5 MB: diff {diff_s * 1000:.1f} ms, line index {index_s * 1000:.1f} ms, offset {offset_us:.2f} us")
    # A formatter-sized change: every 10th line rewritten.
    lines_old = old.splitlines(keepends=True)[:20_000]
    small_old = "".join(lines_old)
    small_new = "".join(x.replace("alpha, beta", "alpha,beta") if i % 10 == 0 else x for i, x in enumerate(lines_old))
    started = time.perf_counter()
    edits = diff(small_old, small_new)
    formatter_s = time.perf_counter() - started
    assert apply(small_old, edits) == small_new
    assert len(edits) == 2000 and all(e.end - e.start == 1 and e.text == "" for e in edits)
    print(f"formatter-like change, {len(small_old.encode()) >> 10} KiB, 2000 edits: diff {formatter_s * 1000:.1f} ms")


def test_lsp_edits_never_point_between_cr_and_lf() -> None:
    # A Yjs client may delete just the \r of a CRLF; LSP cannot name that spot, so the edit
    # rewrites the whole line break instead.
    edits = to_lsp_edits("a\r\nb", [Edit(1, 2, "")], "utf-16")
    assert [(e.start_line, e.start_character, e.end_line, e.end_character, e.new_text) for e in edits] == [
        (0, 1, 1, 0, "\n")
    ]
    # Two edits meeting inside one CRLF become one.
    edits = to_lsp_edits("a\r\nb", [Edit(0, 2, "x"), Edit(2, 4, "y")], "utf-16")
    assert [(e.start_line, e.start_character, e.end_line, e.end_character, e.new_text) for e in edits] == [
        (0, 0, 1, 1, "xy")
    ]


def test_many_edits_reach_a_pycrdt_text_joined_and_in_bounded_time() -> None:
    """pycrdt walks the text's blocks to find an index: 100,000 small edits (a formatter
    touching every line of 850 KiB) took 96 s one by one. Over the limit they are joined."""
    old = "".join(f"def f{i}( a,b ):\n    return a+b  # f{i}\n\n" for i in range(5000))
    new = "".join(f"def f{i}(a, b):\n    return a + b  # f{i}\n\n" for i in range(5000))
    edits = diff(old, new)
    assert len(edits) == 25_000
    joined = coarsen(old, edits, 2000)
    assert len(joined) == 2000 and apply(old, joined) == new
    doc = Doc()
    ytext = doc.get("content", type=Text)
    ytext += old
    started = time.perf_counter()
    with doc.transaction():
        apply_to_ytext(ytext, edits)
    print(f"\n25,000 edits applied to a pycrdt Text as {len(joined)}: {(time.perf_counter() - started) * 1000:.0f} ms")
    assert str(ytext) == new
    assert coarsen(old, edits[:5], 2000) == edits[:5]
