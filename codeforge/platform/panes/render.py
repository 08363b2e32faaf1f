"""PaneContent to a self-contained HTML page (inline CSS and SVG, works offline) or to text."""

from __future__ import annotations

from html import escape

from codeforge.platform.panes.content import Bars, Code, Log, PaneContent, Section, Table

__all__ = ["render_html", "render_text"]

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0}.sub{color:#59636e;margin:4px 0 20px}
h2{font-size:15px;margin:24px 0 8px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #d1d9e0}th{background:#f6f8fa}
.empty{color:#59636e;font-style:italic}.tree div{padding:3px 0}.tree .d{color:#59636e;margin-left:8px}
svg text{font:12px system-ui,sans-serif;fill:#1f2328}
.log div{padding:3px 0;white-space:pre-wrap}.log .t{color:#59636e;margin-right:8px;font-weight:600}
pre{background:#f6f8fa;padding:10px;overflow:auto;font:12px/1.4 ui-monospace,monospace}
pre .a{color:#1a7f37}pre .r{color:#cf222e}pre .h{color:#8250df}
@media (prefers-color-scheme:dark){body{background:#0d1117;color:#e6edf3}th{background:#161b22}
th,td{border-color:#30363d}svg text{fill:#e6edf3}pre{background:#161b22}}
"""


def _bars_svg(section: Bars) -> str:
    top = max((v for _, v, _ in section.bars), default=0) or 1
    row, label_w, bar_w = 26, 180, 360
    parts = [
        f'<svg role="img" aria-label="{escape(section.title)}" width="{label_w + bar_w + 120}" '
        f'height="{row * len(section.bars) + 4}">'
    ]
    for i, (label, value, shown) in enumerate(section.bars):
        y = i * row
        width = max(2, round(bar_w * value / top))
        parts.append(
            f'<text x="0" y="{y + 17}">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{width}" height="18" rx="3" fill="{section.colors.get(label, "#2f81f7")}"/>'
            f'<text x="{label_w + width + 6}" y="{y + 17}">{escape(shown)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _code_html(section: Code) -> str:
    if not section.diff:
        return escape(section.text)
    out = []
    for line in section.text.splitlines():
        kind = ""
        if line.startswith("@@"):
            kind = "h"
        elif line.startswith("+") and not line.startswith("+++"):
            kind = "a"
        elif line.startswith("-") and not line.startswith("---"):
            kind = "r"
        out.append(f'<span class="{kind}">{escape(line)}</span>' if kind else escape(line))
    return "\n".join(out)


def _section_html(section: Section) -> str:
    head = f"<h2>{escape(section.title)}</h2>"
    if isinstance(section, Table):
        if not section.rows:
            return head + f'<p class="empty">{escape(section.empty)}</p>'
        cols = "".join(f"<th>{escape(c)}</th>" for c in section.columns)
        rows = "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in r) + "</tr>" for r in section.rows)
        return head + f"<table><thead><tr>{cols}</tr></thead><tbody>{rows}</tbody></table>"
    if isinstance(section, Bars):
        if not section.bars:
            return head + f'<p class="empty">{escape(section.empty)}</p>'
        return head + _bars_svg(section)
    if isinstance(section, Log):
        if not section.entries:
            return head + f'<p class="empty">{escape(section.empty)}</p>'
        entries = "".join(f'<div><span class="t">{escape(t)}</span>{escape(x)}</div>' for t, x in section.entries)
        return head + f'<div class="log">{entries}</div>'
    if isinstance(section, Code):
        if not section.text:
            return head + f'<p class="empty">{escape(section.empty)}</p>'
        return head + f"<pre>{_code_html(section)}</pre>"
    if not section.nodes:
        return head + f'<p class="empty">{escape(section.empty)}</p>'
    nodes = "".join(
        f'<div style="margin-left:{depth * 22}px">{"└─ " if depth else ""}<b>{escape(label)}</b>'
        f'<span class="d">{escape(detail)}</span></div>'
        for depth, label, detail in section.nodes
    )
    return head + f'<div class="tree">{nodes}</div>'


def render_html(content: PaneContent) -> str:
    body = "".join(_section_html(s) for s in content.sections)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(content.title)}</title>'
        f'<meta name="viewport" content="width=device-width"><style>{_CSS}</style></head><body>'
        f'<h1>{escape(content.title)}</h1><p class="sub">{escape(content.subtitle)}</p>{body}</body></html>'
    )


def _section_text(section: Section) -> list[str]:
    lines = [section.title, "-" * len(section.title)]
    if isinstance(section, Table):
        if not section.rows:
            return [*lines, section.empty]
        widths = [max(len(str(x)) for x in col) for col in zip(section.columns, *section.rows, strict=False)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        return [*lines, fmt.format(*section.columns), *(fmt.format(*r) for r in section.rows)]
    if isinstance(section, Bars):
        top = max((v for _, v, _ in section.bars), default=0) or 1
        width = max((len(label) for label, _, _ in section.bars), default=0)
        bars = [f"{label:<{width}}  {'█' * max(1, round(30 * v / top))} {shown}" for label, v, shown in section.bars]
        return [*lines, *(bars or [section.empty])]
    if isinstance(section, Log):
        return [*lines, *([f"[{t}] {x}" for t, x in section.entries] or [section.empty])]
    if isinstance(section, Code):
        return [*lines, *(section.text.splitlines() or [section.empty])]
    nodes = [f"{'  ' * d}{'└─ ' if d else ''}{label}  {detail}" for d, label, detail in section.nodes]
    return [*lines, *(nodes or [section.empty])]


def render_text(content: PaneContent) -> str:
    lines = [content.title, content.subtitle, ""]
    for section in content.sections:
        lines += [*_section_text(section), ""]
    return "\n".join(lines)
