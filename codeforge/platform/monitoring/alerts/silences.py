"""Silences as Alertmanager's: label matchers (`=`, `!=`, `=~`, `!~`; regexes fully anchored; a
missing label is the empty string) and a time span. An alert every matcher of an active
silence matches is silenced: it still fires, and notifies nobody."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from codeforge.platform.monitoring.alerts.models import AlertSilence
from codeforge.platform.monitoring.records import Matcher, matches

__all__ = ["LABEL_NAME", "active_silences", "parse_matchers", "silenced_by"]

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_TEXT_MATCHER = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse_matchers(given: Mapping[str, str] | Sequence[str]) -> list[Matcher]:
    """Matchers from `{"label": "value"}` (equality) or `["label=value", "env=~prod|stage"]`.
    ValueError names the bad one and the form."""
    found: list[Matcher] = []
    if isinstance(given, Mapping):
        items: Iterable[tuple[str, str, str]] = ((k, "=", str(v)) for k, v in given.items())
    else:
        parsed = []
        for text in given:
            match = _TEXT_MATCHER.match(text)
            if match is None:
                raise ValueError(
                    f"matcher {text!r} is not label=value: write name=value, name!=value, name=~regex or name!~regex"
                )
            parsed.append((match[1], match[2], _unquote(match[3])))
        items = parsed
    for name, op, value in items:
        if not LABEL_NAME.match(name):
            raise ValueError(
                f"matcher label {name!r} is not a label name: letters, digits and _, not starting with a digit"
            )
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"matcher {name}{op}{value!r}: the regex does not compile: {exc}") from None
        found.append(Matcher(name, op, value))
    if not found:
        raise ValueError("a silence needs at least one matcher, e.g. alertname=HighLatency")
    if all(_matches_empty(m) for m in found):
        raise ValueError("these matchers match every alert (each accepts an empty label): add one that names something")
    return found


def _matches_empty(m: Matcher) -> bool:
    return m.accepts({})


def active_silences(session: Session, project_id: str, now: datetime) -> list[AlertSilence]:
    return list(
        session.scalars(
            select(AlertSilence).where(
                AlertSilence.project_id == project_id, AlertSilence.starts_at <= now, AlertSilence.ends_at > now
            )
        )
    )


def silenced_by(silences: Sequence[AlertSilence], labels: Mapping[str, str]) -> list[str]:
    """Ids of the silences that silence an alert with these labels."""
    return [s.id for s in silences if matches(labels, (Matcher(m["name"], m["op"], m["value"]) for m in s.matchers))]
