"""Comment anchors and relative positions (codeforge/collab/comments.py, relative.py) on real
pycrdt documents edited from several clients, checked against a model of the text and
against Yjs itself (tests/collab/node/relative_positions.mjs)."""

from __future__ import annotations

import base64
import json
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Assoc, Doc, Map, StickyIndex, Text

from codeforge.collab.comments import AnchorError, anchor, resolve
from codeforge.collab.relative import AFTER, BEFORE, PositionError, RelativePosition, create
from codeforge.collab.relative import resolve as resolve_position

NODE_DIR = Path(__file__).parent / "node"
ALPHABET = ["a", "b", "\n", "é", "😀", "中", "文", "e\u0301", " ", "x", "🇫🇷"]


def _doc() -> tuple[Doc[Any], Text]:
    doc: Doc[Any] = Doc()
    return doc, doc.get("content", type=Text)


def _sync(*docs: Doc[Any]) -> None:
    for a in docs:
        for b in docs:
            if a is not b:
                b.apply_update(a.get_update(b.get_state()))


def _offset(s: str, chars: int) -> int:
    return len(s[:chars].encode())


def _random_text(r: random.Random, n: int) -> str:
    return "".join(r.choice(ALPHABET) for _ in range(n))


def _edit(r: random.Random, text: Text, ident: list[int | None] | None = None) -> None:
    """One random insert or delete at character boundaries; `ident` (who each character
    is) follows it."""
    s = str(text)
    if s and r.random() < 0.4:
        a = r.randrange(len(s))
        b = min(len(s), a + r.randrange(1, 4))
        del text[_offset(s, a) : _offset(s, b)]
        if ident is not None:
            del ident[a:b]
    else:
        p = r.randrange(len(s) + 1)
        new = _random_text(r, r.randrange(1, 6))
        text.insert(_offset(s, p), new)
        if ident is not None:
            ident[p:p] = [None] * len(new)


def _fragmented(seed: int) -> tuple[random.Random, list[Doc[Any]], list[Text]]:
    """Three replicas of one document that many small edits from all of them split into
    blocks of different clients: where pycrdt's own sticky indexes go wrong."""
    r = random.Random(seed)
    docs: list[Doc[Any]] = [Doc() for _ in range(3)]
    texts = [d.get("content", type=Text) for d in docs]
    texts[0] += _random_text(r, 30)
    _sync(*docs)
    for _ in range(10):
        _edit(r, texts[r.randrange(3)])
        _sync(*docs)
    return r, docs, texts


@pytest.mark.parametrize("seed", range(40))
def test_every_position_round_trips_on_a_fragmented_document(seed: int) -> None:
    _, _, texts = _fragmented(seed)
    s = str(texts[0])
    for chars in range(len(s) + 1):
        offset = _offset(s, chars)
        for assoc in (AFTER, BEFORE):
            made_on = texts[(chars + assoc) % 3]
            position = create(made_on, offset, assoc)
            assert resolve_position(texts[chars % 3], position) == offset, (chars, assoc, position)


@pytest.mark.parametrize("seed", range(40))
def test_anchors_follow_their_character_through_edits_from_every_client(seed: int) -> None:
    r, docs, texts = _fragmented(seed)
    s = str(texts[0])
    anchors = [anchor(texts[r.randrange(3)], _offset(s, chars)) for chars in range(len(s) + 1)]
    ident: list[int | None] = list(range(len(s)))
    for _ in range(8):
        _edit(r, texts[r.randrange(3)], ident)
        _sync(*docs)
    now = str(texts[0])
    for chars, made in enumerate(anchors):
        if chars == len(s):
            expected: int | None = len(now.encode())  # the end stays the end
        elif chars in ident:
            expected = _offset(now, ident.index(chars))
        else:
            expected = None  # its character was deleted
        assert resolve(texts[2], made) == expected, (chars, now)


def test_a_line_anchor_keeps_its_line_below_an_emoji_where_pycrdt_sticky_indexes_drift() -> None:
    # The case pycrdt 0.14's StickyIndex gets wrong (y-crdt/pycrdt#382): one block holding a
    # 4-byte character, split by a later edit before the anchored character.
    _, text = _doc()
    text += "😀 start\nline1\nline2\ntarget line\n"
    s = str(text)
    made = anchor(text, _offset(s, s.index("target")))
    text.insert(_offset(s, s.index("line1")), "new line\n")
    s = str(text)
    assert resolve(text, made) == _offset(s, s.index("target"))
    del text[_offset(s, s.index("line1")) : _offset(s, s.index("line2"))]
    s = str(text)
    assert resolve(text, made) == _offset(s, s.index("target"))
    assert s[: s.index("target")].count("\n") == 3


def test_line_anchors_through_inserts_deletes_and_edits_of_the_line_itself() -> None:
    _, text = _doc()
    text += "# 注释 🎉\ndef f():\n    return 1\n\nprint(f())\n"
    lines = str(text).split("\n")

    def line_start(n: int) -> int:
        return len("\n".join(str(text).split("\n")[:n]).encode()) + (1 if n else 0)

    def line_of(offset: int | None) -> int | None:
        return None if offset is None else str(text).encode()[:offset].decode().count("\n")

    ret = anchor(text, line_start(2))  # "    return 1"
    empty = anchor(text, line_start(3))  # the empty line: its newline is the anchor
    assert lines[2] == "    return 1"
    text.insert(line_start(1), "import os\nimport sys\n")  # two lines above
    assert line_of(resolve(text, ret)) == 4 and line_of(resolve(text, empty)) == 5
    text.insert(line_start(4) + len(b"    return "), "🙂 + ")  # the line itself, mid-line
    assert line_of(resolve(text, ret)) == 4
    assert str(text).split("\n")[4] == "    return 🙂 + 1"
    del text[line_start(0) : line_start(2)]  # two lines above deleted
    assert line_of(resolve(text, ret)) == 2
    text.insert(line_start(2), "x = 1\n")  # a line typed at the start of the anchored line
    assert line_of(resolve(text, ret)) == 3
    del text[line_start(4) : line_start(5)]  # the empty line deleted: its anchor is gone
    assert resolve(text, empty) is None
    del text[line_start(3) : line_start(4)]  # the anchored line deleted
    assert resolve(text, ret) is None


def test_the_end_of_the_text_and_clamping() -> None:
    _, text = _doc()
    text += "ab😀"
    end = anchor(text, 100)  # past the end: the end
    assert resolve(text, end) == len("ab😀".encode())
    text += "cd"
    assert resolve(text, end) == len("ab😀cd".encode())
    inside = anchor(text, 4)  # inside the emoji's four bytes: the emoji
    assert resolve(text, inside) == 2
    assert resolve(text, anchor(text, -5)) == 0
    _, empty = _doc()
    assert resolve(empty, anchor(empty, 0)) == 0
    assert resolve_position(empty, create(empty, 0, BEFORE)) == 0


def test_the_encoding_is_yjs_and_pycrdt_reads_it() -> None:
    _, text = _doc()
    text += "hello world"
    made = anchor(text, 6)
    raw = base64.b64decode(made)
    assert StickyIndex.decode(raw, text).to_json() == RelativePosition.from_base64(made).to_json()
    # ASCII in one block is the case pycrdt gets right: the same bytes.
    assert raw == StickyIndex.new(text, 6, Assoc.AFTER).encode()
    before = create(text, 6, BEFORE)
    assert RelativePosition.decode(before.encode()) == before
    assert RelativePosition.from_json(json.loads(json.dumps(before.to_json()))) == before


def test_an_anchor_from_another_document_or_an_unknown_type_resolves_to_nothing() -> None:
    _, text = _doc()
    text += "some text here"
    _, other = _doc()
    other += "some text here, typed elsewhere"
    assert resolve(text, anchor(other, 3)) is None
    assert resolve_position(text, RelativePosition(tname="elsewhere")) is None
    assert resolve_position(text, RelativePosition.from_json({"type": {"client": 1, "clock": 0}})) is None


def test_a_document_with_other_roots_still_resolves() -> None:
    # A room's document also holds a marker map (room.py): its blocks are not the text's.
    doc, text = _doc()
    doc["codeforge"] = Map({"lifetime": "abc"})
    text += "中文 line\nsecond\n"
    doc["codeforge"]["more"] = "x😀y"
    doc["codeforge"]["lifetime"] = "def"  # an overwritten key: a map item with a left origin
    text.insert(0, "top\n")
    s = str(text)
    made = anchor(text, _offset(s, s.index("second")))
    text.insert(0, "again\n")
    s = str(text)
    assert resolve(text, made) == _offset(s, s.index("second"))


@pytest.mark.parametrize(
    "bad",
    ["", "not base64!", base64.b64encode(b"\x00\x81").decode(), base64.b64encode(b"\x07").decode(), 42, None],
)
def test_malformed_anchors_are_refused_with_a_reason(bad: object) -> None:
    _, text = _doc()
    text += "x"
    with pytest.raises(AnchorError) as caught:
        resolve(text, bad)  # type: ignore[arg-type]
    assert str(caught.value)


@pytest.mark.parametrize(
    "bad",
    [[], {"item": {"client": "1", "clock": 0}}, {"item": {"client": -1, "clock": 0}}, {"assoc": "x"}, {}],
)
def test_malformed_positions_are_refused_with_a_reason(bad: object) -> None:
    with pytest.raises(PositionError):
        RelativePosition.from_json(bad)


def _yjs(update: bytes, create_at: list[tuple[int, int]], resolve_these: list[dict]) -> dict:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is needed for the Yjs cross-check (tests/collab/node)")
    request = {"update": base64.b64encode(update).decode(), "create": create_at, "resolve": resolve_these}
    done = subprocess.run(
        [node, "relative_positions.mjs"],
        cwd=NODE_DIR,
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def _utf16(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_yjs_makes_and_reads_the_same_positions(seed: int) -> None:
    r, docs, texts = _fragmented(seed)
    s = str(texts[0])
    ours = []
    wanted = []
    for chars in range(len(s) + 1):
        for assoc in (AFTER, BEFORE):
            ours.append(create(texts[1], _offset(s, chars), assoc).to_json())
            wanted.append((_utf16(s[:chars]), assoc))
    answer = _yjs(docs[0].get_update(), wanted, [])
    assert answer["text"] == s
    for mine, theirs in zip(ours, answer["created"], strict=True):
        theirs.pop("type", None)
        if mine.get("item") is not None:
            assert mine["item"] == theirs["item"]
        else:
            assert theirs.get("tname") == mine["tname"]
        assert mine["assoc"] == theirs.get("assoc", 0)
    # After more edits (some deleting anchored characters), Yjs and we agree where each is.
    for _ in range(6):
        _edit(r, texts[r.randrange(3)])
        _sync(*docs)
    now = str(texts[0])
    answer = _yjs(docs[2].get_update(), [], ours)
    for mine, index in zip(ours, answer["resolved"], strict=True):
        offset = resolve_position(texts[0], RelativePosition.from_json(mine), deleted="collapse")
        assert offset is not None and index is not None
        assert _utf16(now.encode()[:offset].decode()) == index
