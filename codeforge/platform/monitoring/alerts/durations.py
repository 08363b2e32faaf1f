"""Durations as Prometheus writes them (`30s`, `5m`, `1h30m`, `500ms`, `1d`, `1w`, `1y`)."""

from __future__ import annotations

import re

__all__ = ["DURATION_PATTERN", "format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0, "y": 365 * 86400.0}
_ORDER = ("y", "w", "d", "h", "m", "s", "ms")
DURATION_PATTERN = r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$"
_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")


def parse_duration(text: str) -> float:
    """Seconds of `text`; ValueError naming the form when it is not a duration. Units appear
    largest first, each once, as Prometheus requires (`1h30m`, not `30m1h`)."""
    text = text.strip()
    if not re.fullmatch(DURATION_PATTERN[1:-1], text):
        raise ValueError(f"{text!r} is not a duration: write a number and a unit (ms s m h d w y), e.g. 30s, 5m, 1h30m")
    seen: list[int] = []
    total = 0.0
    for number, unit in _PART.findall(text):
        rank = _ORDER.index(unit)
        if seen and rank <= seen[-1]:
            raise ValueError(f"{text!r}: units must go from largest to smallest, each once, e.g. 1h30m")
        seen.append(rank)
        total += int(number) * _UNITS[unit]
    return total


def format_duration(seconds: float) -> str:
    """`seconds` as Prometheus writes it: 90 -> 1m30s, 0 -> 0s, 0.5 -> 500ms."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    parts: list[str] = []
    for unit in _ORDER:
        size = round(_UNITS[unit] * 1000)
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    return "".join(parts)
