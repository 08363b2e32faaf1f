"""The language server's own position conversions (codeforge/lsp/capabilities/collab/
positions.py) agree with codeforge.collab.text's on random texts, positions and encodings,
with the anchor carried from change to change as the sync carries it; and a keystroke in a
5 MB document does not index the whole text."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from codeforge.collab.text import Edit, diff, edit_from_lsp, to_lsp_edits
from codeforge.lsp.capabilities.collab.positions import START, Anchor, change_span, lsp_edits, splice

ALPHABET = ["a", "b", " ", "\n", "\n", "ü", "漢", "😀", "e\u0301", "🎉", "\t"]


def _change(start: tuple[int, int], end: tuple[int, int] | None, text: str) -> SimpleNamespace:
    if end is None:
        return SimpleNamespace(range=None, text=text)
    return SimpleNamespace(
        range=SimpleNamespace(
            start=SimpleNamespace(line=start[0], character=start[1]),
            end=SimpleNamespace(line=end[0], character=end[1]),
        ),
        text=text,
    )


def _random_text(rng: random.Random, size: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(size))


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "utf-32"])
def test_change_spans_agree_with_the_library_as_the_anchor_moves(encoding: str) -> None:
    rng = random.Random(encoding)
    text = _random_text(rng, 300)
    anchor: Anchor = START
    for _ in range(600):
        lines = text.count("\n") + 1
        # Positions anywhere, past line ends and past the last line included (they clamp).
        a = (rng.randrange(lines + 1), rng.randrange(12))
        b = (rng.randrange(a[0], lines + 1), rng.randrange(12))
        if b[0] == a[0]:
            b = (b[0], max(b[1], a[1]))
        new = _random_text(rng, rng.randrange(4))
        expected = edit_from_lsp(text, a, b, new, encoding)  # type: ignore[arg-type]
        if expected.end < expected.start:
            continue  # a clamped range that ends before it starts: refused by both
        span, anchor = change_span(text, anchor, _change(a, b, new), encoding)  # type: ignore[arg-type]
        assert span.edit == expected, (text, a, b)
        raw = text.encode()
        assert raw[: span.start_byte].decode() == text[: span.start]
        assert raw[: span.end_byte].decode() == text[: span.end]
        text, anchor = splice(text, anchor, span)
        line, at, byte = anchor
        assert at == 0 or text[at - 1] == "\n"
        assert text.count("\n", 0, at) == line and len(text[:at].encode()) == byte


def test_a_whole_document_change_and_bad_ranges() -> None:
    span, anchor = change_span("abc\n", (1, 4, 4), _change((0, 0), None, "xyz"), "utf-16")
    assert (span.start, span.end, span.start_byte, span.end_byte, span.text) == (0, 4, 0, 4, "xyz")
    assert anchor == START
    with pytest.raises(ValueError, match="negative"):
        change_span("abc", START, _change((0, -1), (0, 1), ""), "utf-16")
    with pytest.raises(ValueError, match="before its start"):
        change_span("abc", START, _change((0, 2), (0, 1), ""), "utf-16")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "utf-32"])
def test_lsp_edits_agree_with_the_library(encoding: str) -> None:
    rng = random.Random(f"edits-{encoding}")
    for _ in range(300):
        old = _random_text(rng, rng.randrange(80))
        new = _random_text(rng, rng.randrange(80)) if rng.random() < 0.3 else old
        if rng.random() < 0.7 and old:
            cut = rng.randrange(len(old))
            new = old[:cut] + _random_text(rng, 3) + old[cut + rng.randrange(3) :]
        edits = diff(old, new)
        assert lsp_edits(old, edits, encoding) == [  # type: ignore[arg-type]
            (e.start_line, e.start_character, e.end_line, e.end_character, e.new_text)
            for e in to_lsp_edits(old, edits, encoding)  # type: ignore[arg-type]
        ]


def test_crlf_texts_go_through_the_library() -> None:
    text = "a\r\nb😀\r\nc"
    span, _ = change_span(text, START, _change((1, 3), (2, 0), "X"), "utf-16")
    assert span.edit == edit_from_lsp(text, (1, 3), (2, 0), "X", "utf-16")
    assert text[: span.start] + "X" + text[span.end :] == "a\r\nb😀Xc"
    assert lsp_edits(text, [Edit(3, 3, "Z")], "utf-16") == [(1, 0, 1, 0, "Z")]


def test_a_keystroke_in_five_megabytes_does_not_index_the_whole_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The library's index of every line (rebuilt for each new text: ~100 ms in 5 MB) is
    not used for a text without CR: positions come from the anchor."""
    from codeforge.lsp.capabilities.collab import positions

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the whole text was indexed")

    monkeypatch.setattr(positions, "edit_from_lsp", refuse)
    monkeypatch.setattr(positions, "to_lsp_edits", refuse)
    line = "def f(x): return x * 2  # ü 漢字\n"
    text = line * (5_000_000 // len(line.encode()))
    anchor: Anchor = START
    for i in range(20):
        span, anchor = change_span(text, anchor, _change((100_000, 5 + i), (100_000, 5 + i), "b"), "utf-16")
        text, anchor = splice(text, anchor, span)
    assert text.splitlines()[100_000].startswith("def f" + "b" * 20 + "(x)")
    assert lsp_edits(text, [Edit(len(text.encode()) - 1, len(text.encode()), "")], "utf-8") == [
        (text.count("\n") - 1, len(line.encode()) - 1, text.count("\n"), 0, "")
    ]
