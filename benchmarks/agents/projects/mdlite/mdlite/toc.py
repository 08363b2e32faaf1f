"""Table of contents from a document's headings."""

from __future__ import annotations

from dataclasses import dataclass

from mdlite.blocks import Block
from mdlite.escape import escape_text
from mdlite.inline import plain_text
from mdlite.slug import Slugger


@dataclass(frozen=True)
class Entry:
    level: int
    title: str
    anchor: str


def entries(blocks: list[Block], max_level: int = 3) -> list[Entry]:
    """Every heading's entry; anchors unique in document order (the renderer uses the same)."""
    slugger = Slugger()
    result = []
    for block in blocks:
        if block.kind != "heading":
            continue
        title = plain_text(block.text)
        anchor = slugger.slug(title)
        if block.level <= max_level:
            result.append(Entry(block.level, title, anchor))
    return result


def render_toc(toc: list[Entry]) -> str:
    if not toc:
        return ""
    top = min(e.level for e in toc)
    lines = ['<nav class="toc"><ul>']
    for e in toc:
        indent = "  " * (e.level - top)
        lines.append(f'{indent}<li><a href="#{e.anchor}">{escape_text(e.title)}</a></li>')
    lines.append("</ul></nav>")
    return "\n".join(lines)
