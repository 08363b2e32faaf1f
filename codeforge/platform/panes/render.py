"""PaneContent to a self-contained HTML page (inline CSS and SVG, works offline) or to text.

Charts and waterfalls are drawn here as SVG (no script, so a webview with scripts off shows
them too) and as text for terminals: unicode sparklines, and bars of ▇."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from html import escape

from codeforge.platform.panes.content import Bars, Chart, Code, Log, PaneContent, Section, Table, Waterfall

__all__ = ["PALETTE", "format_value", "nice_ticks", "render_html", "render_text", "time_ticks"]

# Line colours, told apart in light and dark themes and by most colour-blind readers.
PALETTE = ("#2f81f7", "#e16f24", "#1a7f37", "#8250df", "#cf222e", "#0a7d8c", "#bf3989", "#9a6700", "#6e7781")
ERROR_RED = "#cf222e"
SPARKS = "▁▂▃▄▅▆▇█"

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0}.sub{color:#59636e;margin:4px 0 20px}
h2{font-size:15px;margin:24px 0 8px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #d1d9e0}th{background:#f6f8fa}
.empty{color:#59636e;font-style:italic}.tree div{padding:3px 0}.tree .d{color:#59636e;margin-left:8px}
svg text{font:12px system-ui,sans-serif;fill:#1f2328}
.log div{padding:3px 0;white-space:pre-wrap}
.chart .grid{stroke:#d1d9e0;stroke-width:1}.chart .axis{stroke:#59636e;stroke-width:1}
.chart polyline{fill:none;stroke-width:2;stroke-linejoin:round}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:4px 0 0 64px;font-size:12px}
.legend i{display:inline-block;width:12px;height:3px;margin:0 6px 3px 0;vertical-align:middle}
.legend .v{color:#59636e;margin-left:6px}.live{color:#1a7f37;font-size:12px;margin:-14px 0 16px}.log .t{color:#59636e;margin-right:8px;font-weight:600}
pre{background:#f6f8fa;padding:10px;overflow:auto;font:12px/1.4 ui-monospace,monospace}
pre .a{color:#1a7f37}pre .r{color:#cf222e}pre .h{color:#8250df}
@media (prefers-color-scheme:dark){body{background:#0d1117;color:#e6edf3}th{background:#161b22}
th,td{border-color:#30363d}svg text{fill:#e6edf3}pre{background:#161b22}.chart .grid{stroke:#30363d}}
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


# ---- numbers, units and ticks ----------------------------------------------------------

_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_BINARY = ((1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))


def _num(value: float, digits: int = 3) -> str:
    text = f"{value:.{digits}g}"
    if "e" in text:  # 1e+02 reads worse than 100; exponents only for the very small
        text = f"{value:.{digits + 3}f}".rstrip("0").rstrip(".") if abs(value) >= 1 else text
    return "0" if text in ("-0", "0.0") else text


def format_value(value: float, unit: str = "") -> str:
    """A value as people read it in `unit`: 1.5 MiB, 250 ms, 12 req/s, 3.2k."""
    if not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if unit == "bytes":
        for size, name in _BINARY:
            if magnitude >= size:
                return f"{_num(value / size)} {name}"
        return f"{_num(value)} B"
    if unit in ("s", "ms"):
        seconds = value / 1000 if unit == "ms" else value
        if magnitude and abs(seconds) < 1e-3:
            return f"{_num(seconds * 1e6)} µs"
        if abs(seconds) < 1 and magnitude:
            return f"{_num(seconds * 1000)} ms"
        if abs(seconds) < 120:
            return f"{_num(seconds)} s"
        if abs(seconds) < 7200:
            return f"{_num(seconds / 60)} min"
        return f"{_num(seconds / 3600)} h"
    if unit == "%":
        return f"{_num(value)}%"
    for scale, prefix in _SI:
        if magnitude >= scale:
            return f"{_num(value / scale)}{prefix}{' ' + unit if unit else ''}"
    return f"{_num(value)}{' ' + unit if unit else ''}"


def nice_ticks(low: float, high: float, count: int = 5) -> tuple[float, float, list[float]]:
    """Round bounds around [low, high] and ticks between them at 1, 2, 2.5 or 5 times a power of ten."""
    if not high > low:
        low, high = (low - 1, high + 1) if low else (0.0, 1.0)
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if raw <= m * power * (1 + 1e-9))
    first, last = math.floor(low / step + 1e-9) * step, math.ceil(high / step - 1e-9) * step
    ticks = [round(first + i * step, 12) for i in range(round((last - first) / step) + 1)]
    return first, last, ticks


_TIME_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 604800)


def time_ticks(start_ms: int, end_ms: int, count: int = 6) -> list[tuple[int, str]]:
    """Ticks at round times (every 10 s, 5 min, 1 h, ...) between start and end, labelled in UTC."""
    span_s = max(1.0, (end_ms - start_ms) / 1000)
    step_s = next((s for s in _TIME_STEPS_S if span_s / s <= count), _TIME_STEPS_S[-1])
    fmt = "%H:%M:%S" if step_s < 60 else "%H:%M" if step_s < 86400 else "%Y-%m-%d"
    if span_s > 86400 and step_s < 86400:
        fmt = "%m-%d %H:%M"
    step_ms = step_s * 1000
    first = -(-start_ms // step_ms) * step_ms
    return [(t, datetime.fromtimestamp(t / 1000, UTC).strftime(fmt)) for t in range(first, end_ms + 1, step_ms)]


def _finite(points: list[tuple[int, float]]) -> list[tuple[int, float]]:
    return [(t, v) for t, v in points if math.isfinite(v)]


def _chart_bounds(section: Chart) -> tuple[int, int, float, float, list[float]]:
    """The chart's time range and y axis (bounds and ticks) over every series' finite points."""
    points = [p for _, series in section.series for p in _finite(series)]
    times = [t for t, _ in points]
    start = section.start_ms if section.start_ms is not None else min(times)
    end = section.end_ms if section.end_ms is not None else max(times)
    if end <= start:  # one instant: a minute around it, so the point sits in the middle
        start, end = start - 30_000, end + 30_000
    values = [v for _, v in points]
    low = section.y_min if section.y_min is not None else min(0.0, min(values))
    high = section.y_max if section.y_max is not None else max(values)
    low, high, ticks = nice_ticks(low, high)
    if section.y_min is not None or section.y_max is not None:  # pinned bounds stay where pinned
        low = section.y_min if section.y_min is not None else low
        high = section.y_max if section.y_max is not None else high
        ticks = [t for t in ticks if low <= t <= high]
    return start, end, low, high, ticks


# ---- charts -----------------------------------------------------------------------------

_CHART_W, _CHART_H = 760, 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 10, 26


def _has_data(section: Chart) -> bool:
    return any(_finite(points) for _, points in section.series)


def _chart_html(section: Chart) -> str:
    start, end, low, high, ticks = _chart_bounds(section)
    plot_w, plot_h = _CHART_W - _LEFT - _RIGHT, _CHART_H - _TOP - _BOTTOM

    def x(t: int) -> float:
        return _LEFT + plot_w * (t - start) / (end - start)

    def y(v: float) -> float:
        clamped = min(max(v, low), high)
        return _TOP + plot_h * (1 - (clamped - low) / ((high - low) or 1))

    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(section.title)}" width="{_CHART_W}" height="{_CHART_H}" '
        f'viewBox="0 0 {_CHART_W} {_CHART_H}" data-start-ms="{start}" data-end-ms="{end}">'
    ]
    for tick in ticks:
        ty = round(y(tick), 1)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" y1="{ty}" x2="{_CHART_W - _RIGHT}" y2="{ty}"/>'
            f'<text x="{_LEFT - 6}" y="{ty + 4}" text-anchor="end">{escape(format_value(tick, section.unit))}</text>'
        )
    base = _TOP + plot_h
    parts.append(
        f'<line class="axis" x1="{_LEFT}" y1="{base}" x2="{_CHART_W - _RIGHT}" y2="{base}"/>'
        f'<text x="{_LEFT - 6}" y="{base + 17}" text-anchor="end">UTC</text>'
    )
    for t, label in time_ticks(start, end):
        tx = round(x(t), 1)
        parts.append(
            f'<line class="axis" x1="{tx}" y1="{base}" x2="{tx}" y2="{base + 4}"/>'
            f'<text x="{tx}" y="{base + 17}" text-anchor="middle">{label}</text>'
        )
    legend = []
    for i, (label, points) in enumerate(section.series):
        color = PALETTE[i % len(PALETTE)]
        shown = _finite(points)
        xy = [(round(x(t), 1), round(y(v), 1)) for t, v in shown]
        coords = " ".join(f"{px},{py}" for px, py in xy)
        faint = ' stroke-opacity="0.3"' if section.dots else ""
        parts.append(f'<polyline data-series="{escape(label)}" stroke="{color}" points="{coords}"{faint}/>')
        if section.dots or len(xy) == 1:  # a line of one point draws nothing: a dot instead
            parts += [f'<circle cx="{px}" cy="{py}" r="3" fill="{color}"/>' for px, py in xy]
        last = format_value(shown[-1][1], section.unit) if shown else "no data"
        legend.append(
            f'<span><i style="background:{color}"></i>{escape(label)}<span class="v">{escape(last)}</span></span>'
        )
    parts.append("</svg>")
    return "".join(parts) + f'<div class="legend">{"".join(legend)}</div>'


def _sparkline(points: list[tuple[int, float]], start: int, end: int, width: int = 48) -> str:
    """The last value in each of `width` equal time buckets, as a block of eight heights; a
    bucket between two samples keeps the earlier one's value (no holes inside the line)."""
    buckets: list[float | None] = [None] * width
    slots = [min(width - 1, max(0, int((t - start) / ((end - start) or 1) * width))) for t, _ in points]
    for slot, (_, v) in zip(slots, points, strict=True):
        buckets[slot] = v
    for i in range(slots[0] + 1, slots[-1]):
        if buckets[i] is None:
            buckets[i] = buckets[i - 1]
    present = [v for v in buckets if v is not None]
    low, high = min(present), max(present)
    return "".join(
        " " if v is None else SPARKS[round((v - low) / (high - low) * 7) if high > low else 3] for v in buckets
    )


def _chart_text(section: Chart) -> list[str]:
    start, end, _, _, _ = _chart_bounds(section)
    width = max(len(label) for label, _ in section.series)
    span = " to ".join(datetime.fromtimestamp(t / 1000, UTC).strftime("%H:%M:%S") for t in (start, end))
    lines = [f"{'':<{width}}  {span} UTC"]
    for label, points in section.series:
        shown = _finite(points)
        if not shown:
            lines.append(f"{label:<{width}}  no data")
            continue
        values = [v for _, v in shown]
        stats = " ".join(
            f"{name} {format_value(v, section.unit)}"
            for name, v in (("min", min(values)), ("max", max(values)), ("last", values[-1]))
        )
        lines.append(f"{label:<{width}}  {_sparkline(shown, start, end)}  {stats}")
    return lines


# ---- waterfalls -------------------------------------------------------------------------

_ROW_H, _LABEL_W, _TRACK_W, _INDENT = 22, 300, 480, 14


def _waterfall_html(section: Waterfall) -> str:
    total = max((start + duration for _, _, start, duration, _, _ in section.rows), default=0.0) or 1.0
    _, top, ticks = nice_ticks(0.0, total)
    width = _LABEL_W + _TRACK_W + 90
    parts = [
        f'<svg class="chart waterfall" role="img" aria-label="{escape(section.title)}" width="{width}" '
        f'height="{_ROW_H * (len(section.rows) + 1) + 6}">'
    ]
    for tick in ticks:
        tx = round(_LABEL_W + _TRACK_W * tick / top, 1)
        parts.append(
            f'<line class="grid" x1="{tx}" y1="{_ROW_H - 4}" x2="{tx}" y2="{_ROW_H * (len(section.rows) + 1)}"/>'
            f'<text x="{tx}" y="{_ROW_H - 8}" text-anchor="middle">{escape(format_value(tick, "ms"))}</text>'
        )
    for i, (depth, label, start, duration, error, detail) in enumerate(section.rows):
        row_y = _ROW_H * (i + 1)
        bar_x = round(_LABEL_W + _TRACK_W * start / top, 1)
        bar_w = round(max(2.0, _TRACK_W * duration / top), 1)
        color = ERROR_RED if error else PALETTE[0]
        label_style = f' style="fill:{ERROR_RED}"' if error else ""  # over the theme's text colour
        tip = escape(f"{label}: {format_value(duration, 'ms')} at +{format_value(start, 'ms')}. {detail}".strip())
        parts.append(
            f'<g class="{"span error" if error else "span"}"><title>{tip}</title>'
            f'<text x="{depth * _INDENT}" y="{row_y + 15}"{label_style}>'
            f"{escape(_clip(label, 40 - depth * 2))}</text>"
            f'<rect x="{bar_x}" y="{row_y + 4}" width="{bar_w}" height="14" rx="2" fill="{color}"/>'
            f'<text x="{round(bar_x + bar_w + 4, 1)}" y="{row_y + 15}">{escape(format_value(duration, "ms"))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def _waterfall_text(section: Waterfall) -> list[str]:
    total = max((start + duration for _, _, start, duration, _, _ in section.rows), default=0.0) or 1.0
    labels = [f"{'  ' * d}{'└─ ' if d else ''}{label}" for d, label, *_ in section.rows]
    width, track = max(len(label) for label in labels), 40
    lines = []
    for text, (_, _, start, duration, error, detail) in zip(labels, section.rows, strict=True):
        offset = min(track - 1, int(track * start / total))
        bar = " " * offset + "▇" * max(1, min(track - offset, round(track * duration / total)))
        mark = "  ERROR" if error else ""
        lines.append(f"{text:<{width}}  {bar:<{track}}  {format_value(duration, 'ms')}{mark}  {detail}".rstrip())
    return lines


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
    if isinstance(section, Chart):
        if not _has_data(section):
            return head + f'<p class="empty">{escape(section.empty)}</p>'
        return head + _chart_html(section)
    if isinstance(section, Waterfall):
        if not section.rows:
            return head + f'<p class="empty">{escape(section.empty)}</p>'
        return head + _waterfall_html(section)
    if not section.nodes:
        return head + f'<p class="empty">{escape(section.empty)}</p>'
    nodes = "".join(
        f'<div style="margin-left:{depth * 22}px">{"└─ " if depth else ""}<b>{escape(label)}</b>'
        f'<span class="d">{escape(detail)}</span></div>'
        for depth, label, detail in section.nodes
    )
    return head + f'<div class="tree">{nodes}</div>'


# A live page fetches its own URL (the same signed link and query) and swaps in the new body,
# keeping the scroll position; a refusal (the link expired) replaces the page with its
# explanation and stops. Without scripts, a meta refresh reloads the whole page instead.
_REFRESH_JS = """(function(){var ms=%d;function tick(){fetch(location.href,{cache:"no-store"}).then(function(r){
return r.text().then(function(t){if(!r.ok){document.open();document.write(t);document.close();return}
document.body.innerHTML=new DOMParser().parseFromString(t,"text/html").body.innerHTML;setTimeout(tick,ms)})})
.catch(function(){setTimeout(tick,ms)})}setTimeout(tick,ms)})();"""


def _refresh_head(seconds: float | None) -> str:
    if not seconds:
        return ""
    whole = max(1, math.ceil(seconds))
    return (
        f'<noscript><meta http-equiv="refresh" content="{whole}"></noscript>'
        f"<script>{_REFRESH_JS % round(seconds * 1000)}</script>"
    )


def render_html(content: PaneContent) -> str:
    body = "".join(_section_html(s) for s in content.sections)
    live = f'<p class="live">● live: refreshes every {_num(content.refresh_s)} s</p>' if content.refresh_s else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(content.title)}</title>'
        f'<meta name="viewport" content="width=device-width"><style>{_CSS}</style>{_refresh_head(content.refresh_s)}'
        f'</head><body><h1>{escape(content.title)}</h1><p class="sub">{escape(content.subtitle)}</p>{live}{body}'
        "</body></html>"
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
    if isinstance(section, Chart):
        return [*lines, *(_chart_text(section) if _has_data(section) else [section.empty])]
    if isinstance(section, Waterfall):
        return [*lines, *(_waterfall_text(section) if section.rows else [section.empty])]
    nodes = [f"{'  ' * d}{'└─ ' if d else ''}{label}  {detail}" for d, label, detail in section.nodes]
    return [*lines, *(nodes or [section.empty])]


def render_text(content: PaneContent) -> str:
    lines = [content.title, content.subtitle, ""]
    if content.refresh_s:  # a terminal client (Neovim's tail) fetches again after this long
        lines[2:2] = [f"refresh: {_num(content.refresh_s)} s"]
    for section in content.sections:
        lines += [*_section_text(section), ""]
    return "\n".join(lines)
