"""iCalendar (RFC 5545) export."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

from timeplan.calendar import Calendar, Event


def _stamp(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> list[str]:
    """Lines longer than 75 octets continue on lines starting with a space."""
    out: list[str] = []
    current = ""
    for ch in line:
        limit = 75 if not out else 74
        if len((current + ch).encode("utf-8")) > limit:
            out.append(current)
            current = ch
        else:
            current += ch
    out.append(current)
    return [out[0], *(" " + part for part in out[1:])]


def _rrule(event: Event) -> str | None:
    rule = event.rule
    if rule is None:
        return None
    parts = [f"FREQ={rule.freq.upper()}"]
    if rule.interval != 1:
        parts.append(f"INTERVAL={rule.interval}")
    if rule.weekdays:
        parts.append("BYDAY=" + ",".join(d[:2].upper() for d in rule.weekdays))
    if rule.count is not None:
        parts.append(f"COUNT={rule.count}")
    if rule.until is not None:
        parts.append(f"UNTIL={_stamp(rule.until)}")
    return "RRULE:" + ";".join(parts)


def to_ics(calendar: Calendar, name: str = "timeplan") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:-//{name}//EN"]
    for event in calendar.events:
        uid = hashlib.sha1(f"{event.title}{event.start.isoformat()}".encode()).hexdigest()[:16]
        lines += ["BEGIN:VEVENT", f"UID:{uid}@{name}", f"DTSTART:{_stamp(event.start)}", f"DTEND:{_stamp(event.end)}"]
        lines.append(f"SUMMARY:{escape(event.title)}")
        rrule = _rrule(event)
        if rrule:
            lines.append(rrule)
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "".join(part + "\r\n" for line in lines for part in fold(line))
