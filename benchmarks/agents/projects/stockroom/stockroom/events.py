"""The audit log: every change to stock levels, in order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone


@dataclass(frozen=True)
class Event:
    kind: str  # received | issued | moved | reserved | released
    sku: str
    quantity: float
    location: str
    to_location: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


class Log:
    def __init__(self) -> None:
        self._events: list[Event] = []

    def record(self, event: Event) -> None:
        self._events.append(event)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def for_sku(self, sku: str) -> list[Event]:
        return [e for e in self._events if e.sku == sku]
