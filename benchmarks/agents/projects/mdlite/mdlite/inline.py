"""Inline Markdown: code spans, links, strong and emphasis, and backslash escapes."""

from __future__ import annotations

import re

from mdlite.escape import escape_attr, escape_text, safe_url

_CODE = re.compile(r"(`+)(.+?)\1", re.S)
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)(?:\s+\"([^\"]*)\")?\)")
_STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_EMPHASIS = re.compile(r"(?<![*\w])\*(?=\S)(.+?)(?<=\S)\*(?![*\w])")
_ESCAPABLE = "\\`*_[]()#+-.!"


def _protect(parts: list[str], html: str) -> str:
    """Store finished HTML and return a placeholder later passes leave alone."""
    parts.append(html)
    return f"\x00{len(parts) - 1}\x00"


def _restore(text: str, parts: list[str]) -> str:
    return re.sub(r"\x00(\d+)\x00", lambda m: parts[int(m.group(1))], text)


def render_inline(text: str) -> str:
    """One block's inline Markdown as HTML."""
    parts: list[str] = []

    # backslash escapes first: the escaped character is literal text
    def escaped(m: re.Match[str]) -> str:
        return _protect(parts, escape_text(m.group(1)))

    text = re.sub(r"\\([" + re.escape(_ESCAPABLE) + "])", escaped, text)

    # code spans: contents are literal, one leading and trailing space stripped
    def code(m: re.Match[str]) -> str:
        body = m.group(2)
        if body.startswith(" ") and body.endswith(" ") and body.strip():
            body = body[1:-1]
        return _protect(parts, f"<code>{escape_text(body)}</code>")

    text = _CODE.sub(code, text)

    def link(m: re.Match[str]) -> str:
        label, url, title = m.group(1), m.group(2), m.group(3)
        attrs = f' href="{escape_attr(safe_url(url))}"'
        if title:
            attrs += f' title="{escape_attr(title)}"'
        return _protect(parts, f"<a{attrs}>{render_inline(label)}</a>")

    text = _LINK.sub(link, text)
    text = escape_text(text)
    text = _STRONG.sub(lambda m: f"<strong>{m.group(1)}</strong>", text)
    text = _EMPHASIS.sub(lambda m: f"<em>{m.group(1)}</em>", text)
    return _restore(text, parts)


def plain_text(text: str) -> str:
    """The inline text without markup (for anchors and the table of contents)."""
    parts: list[str] = []
    text = re.sub(r"\\(.)", lambda m: _protect(parts, m.group(1)), text)
    text = _CODE.sub(lambda m: m.group(2), text)
    text = _LINK.sub(lambda m: m.group(1), text)
    text = text.replace("**", "")
    text = re.sub(r"(?<!\w)\*|\*(?!\w)", "", text)
    return _restore(text, parts)
