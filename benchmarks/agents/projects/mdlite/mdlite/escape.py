"""HTML escaping for text and attribute values."""

from __future__ import annotations

_TEXT = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ATTR = {**_TEXT, '"': "&quot;"}


def escape_text(text: str) -> str:
    return "".join(_TEXT.get(ch, ch) for ch in text)


def escape_attr(text: str) -> str:
    return "".join(_ATTR.get(ch, ch) for ch in text)


def safe_url(url: str) -> str:
    """The URL unless its scheme could run script (javascript:, vbscript:, data:), then '#'."""
    scheme = url.split(":", 1)[0].strip().lower() if ":" in url else ""
    if scheme in {"javascript", "vbscript", "data"}:
        return "#"
    return url
