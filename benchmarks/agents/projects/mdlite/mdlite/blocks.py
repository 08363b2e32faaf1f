"""Block structure: headings, fenced code, lists, block quotes and paragraphs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^(```|~~~)\s*([\w+-]*)\s*$")
_BULLET = re.compile(r"^[-*+]\s+(.*)$")
_ORDERED = re.compile(r"^(\d{1,9})[.)]\s+(.*)$")
_QUOTE = re.compile(r"^>\s?(.*)$")


@dataclass
class Block:
    kind: str  # heading | code | list | quote | paragraph
    text: str = ""
    level: int = 0  # heading level; for lists, the start number (0 = bullets)
    language: str = ""
    items: list[str] = field(default_factory=list)


def parse_blocks(source: str) -> list[Block]:
    lines = source.replace("\r\n", "\n").split("\n")
    blocks: list[Block] = []
    paragraph: list[str] = []
    i = 0

    def flush() -> None:
        if paragraph:
            blocks.append(Block("paragraph", " ".join(s.strip() for s in paragraph)))
            paragraph.clear()

    while i < len(lines):
        line = lines[i]
        if not line.strip():
            flush()
            i += 1
            continue
        fence = _FENCE.match(line)
        if fence:
            flush()
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].startswith(fence.group(1)):
                body.append(lines[i])
                i += 1
            blocks.append(Block("code", "\n".join(body), language=fence.group(2)))
            i += 1  # the closing fence (or the end)
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            blocks.append(Block("heading", heading.group(2), level=len(heading.group(1))))
            i += 1
            continue
        if _BULLET.match(line) or _ORDERED.match(line):
            flush()
            ordered = _ORDERED.match(line)
            start = int(ordered.group(1)) if ordered else 0
            pattern = _ORDERED if ordered else _BULLET
            items: list[str] = []
            while i < len(lines) and lines[i].strip():
                m = pattern.match(lines[i])
                if m:
                    items.append(m.group(m.lastindex or 1))
                elif items and lines[i].startswith((" ", "\t")):
                    items[-1] += " " + lines[i].strip()
                else:
                    break
                i += 1
            blocks.append(Block("list", level=start, items=items))
            continue
        if _QUOTE.match(line):
            flush()
            quoted: list[str] = []
            while i < len(lines) and (m := _QUOTE.match(lines[i])):
                quoted.append(m.group(1))
                i += 1
            blocks.append(Block("quote", "\n".join(quoted)))
            continue
        paragraph.append(line)
        i += 1
    flush()
    return blocks
