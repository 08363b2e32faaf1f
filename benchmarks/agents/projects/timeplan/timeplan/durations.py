"""Durations written as '1h30m', '2d', '45s' or '1h 5m'."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)\s*([wdhms])")


class DurationError(ValueError):
    """Text that is not a duration."""


def parse_duration(text: str) -> timedelta:
    """'1h30m' -> 1:30:00. Units w, d, h, m, s, each at most once, largest first; a bare
    number is minutes. Raises DurationError otherwise."""
    compact = text.strip().lower()
    if not compact:
        raise DurationError("empty duration")
    if compact.isdigit():
        return timedelta(minutes=int(compact))
    seconds = 0
    position = 0
    seen: list[str] = []
    for match in _PART.finditer(compact):
        if compact[position : match.start()].strip():
            raise DurationError(f"cannot read {text!r} at {compact[position:]!r}")
        unit = match.group(2)
        if seen and list(_UNITS).index(unit) <= list(_UNITS).index(seen[-1]):
            raise DurationError(f"{text!r}: units must come largest first, each once")
        seen.append(unit)
        seconds += int(match.group(1)) * _UNITS[unit]
        position = match.end()
    if not seen or compact[position:].strip():
        raise DurationError(f"cannot read {text!r}")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """1:30:00 -> '1h30m'; zero is '0m'; negative durations are refused."""
    total = int(value.total_seconds())
    if total < 0:
        raise DurationError("negative duration")
    if total == 0:
        return "0m"
    parts = []
    for unit, size in _UNITS.items():
        if unit == "w":
            continue  # weeks read well as days ('10d')
        amount, total = divmod(total, size)
        if amount:
            parts.append(f"{amount}{unit}")
    return "".join(parts)
