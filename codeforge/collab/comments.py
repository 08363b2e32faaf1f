"""Comment anchors: a place in a document's text that stays on its character while the text
around it changes (a review comment stays on its line as lines are added above it).

An anchor is the base64 of Yjs' encoding of a relative position (the bytes pycrdt's
`StickyIndex.encode()` writes), sticking to the character at the offset it was made for:
text typed before that character moves the anchor with it; text typed after leaves it. The
platform stores it as an opaque string (`collab.comment {anchor}`); Yjs clients can decode
it with `Y.decodeRelativePosition`. The ids are worked out by `relative.py`, not by pycrdt's
`StickyIndex`, which is wrong for text with multi-byte characters (see there).
"""

from __future__ import annotations

from pycrdt import Text

from codeforge.collab.relative import AFTER, PositionError, RelativePosition, create
from codeforge.collab.relative import resolve as resolve_position

__all__ = ["AnchorError", "anchor", "resolve"]

# A malformed anchor (not base64, not a relative position): a ValueError that says which.
AnchorError = PositionError


def anchor(text: Text, offset: int) -> str:
    """An anchor on the character at byte `offset` of `text` (at the end of the text: the
    end, wherever it moves). An offset outside the text is clamped to it."""
    return create(text, offset, AFTER).to_base64()


def resolve(text: Text, anchor: str) -> int | None:
    """The byte offset of the anchor's character now; None when that character was deleted
    or the anchor belongs to another document (the caller keeps the last known place). A
    malformed anchor raises `AnchorError`."""
    return resolve_position(text, RelativePosition.from_base64(anchor), deleted="none")
