"""Blocks to HTML."""

from __future__ import annotations

from mdlite.blocks import Block, parse_blocks
from mdlite.escape import escape_attr, escape_text
from mdlite.inline import plain_text, render_inline
from mdlite.slug import Slugger
from mdlite.toc import entries, render_toc


def render_block(block: Block, slugger: Slugger) -> str:
    if block.kind == "heading":
        anchor = slugger.slug(plain_text(block.text))
        return f'<h{block.level} id="{escape_attr(anchor)}">{render_inline(block.text)}</h{block.level}>'
    if block.kind == "code":
        cls = f' class="language-{escape_attr(block.language)}"' if block.language else ""
        return f"<pre><code{cls}>{escape_text(block.text)}\n</code></pre>"
    if block.kind == "list":
        tag = "ol" if block.level else "ul"
        start = f' start="{block.level}"' if block.level > 1 else ""
        items = "".join(f"<li>{render_inline(item)}</li>" for item in block.items)
        return f"<{tag}{start}>{items}</{tag}>"
    if block.kind == "quote":
        inner = "\n".join(render_block(b, slugger) for b in parse_blocks(block.text))
        return f"<blockquote>\n{inner}\n</blockquote>"
    return f"<p>{render_inline(block.text)}</p>"


def to_html(source: str, *, toc: bool = False) -> str:
    blocks = parse_blocks(source)
    slugger = Slugger()
    body = [render_block(block, slugger) for block in blocks]
    if toc:
        nav = render_toc(entries(blocks))
        if nav:
            body.insert(0, nav)
    return "\n".join(body) + "\n"
