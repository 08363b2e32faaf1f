"""Anchors for headings: lower-case words joined by hyphens, unique within a document."""

from __future__ import annotations

import re
import unicodedata


def slugify(text: str) -> str:
    """'Hello, World!' -> 'hello-world'; accents are dropped, other scripts kept."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(r"[^\w\s-]", "", text.lower())
    text = re.sub(r"[\s_-]+", "-", text).strip("-")
    return text or "section"


class Slugger:
    """Hands out unique slugs: a repeated heading gets -1, -2, … after its slug."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def slug(self, text: str) -> str:
        base = slugify(text)
        candidate = base
        count = self.seen.get(base, 0)
        while candidate in self.seen:
            count += 1
            candidate = f"{base}-{count}"
        self.seen[base] = count
        self.seen[candidate] = 0
        return candidate
