"""The inventory: quantities per item and location."""

from __future__ import annotations

from collections import defaultdict

from stockroom.events import Event, Log
from stockroom.models import Item


class OutOfStock(Exception):
    def __init__(self, sku: str, location: str, wanted: float, available: float) -> None:
        super().__init__(f"{sku} at {location}: {wanted} wanted, {available} available")
        self.sku, self.location, self.wanted, self.available = sku, location, wanted, available


class Inventory:
    def __init__(self) -> None:
        self.items: dict[str, Item] = {}
        self._levels: dict[tuple[str, str], float] = defaultdict(float)
        self.log = Log()

    def register(self, item: Item) -> None:
        if item.sku in self.items and self.items[item.sku] != item:
            raise ValueError(f"{item.sku} is already registered differently")
        self.items[item.sku] = item

    def item(self, sku: str) -> Item:
        try:
            return self.items[sku]
        except KeyError:
            raise KeyError(f"unknown item {sku}") from None

    def quantity(self, sku: str, location: str | None = None) -> float:
        self.item(sku)
        if location is not None:
            return self._levels[(sku, location)]
        return sum(q for (s, _), q in self._levels.items() if s == sku)

    def locations(self, sku: str) -> dict[str, float]:
        return {loc: q for (s, loc), q in sorted(self._levels.items()) if s == sku and q}

    def receive(self, sku: str, location: str, quantity: float) -> None:
        if quantity <= 0:
            raise ValueError("received quantity must be positive")
        self.item(sku)
        self._levels[(sku, location)] += quantity
        self.log.record(Event("received", sku, quantity, location))

    def issue(self, sku: str, location: str, quantity: float) -> None:
        if quantity <= 0:
            raise ValueError("issued quantity must be positive")
        available = self.available(sku, location)
        if quantity > available:
            raise OutOfStock(sku, location, quantity, available)
        self._levels[(sku, location)] -= quantity
        self.log.record(Event("issued", sku, quantity, location))

    def move(self, sku: str, source: str, target: str, quantity: float) -> None:
        if source == target:
            raise ValueError("source and target are the same location")
        available = self.available(sku, source)
        if quantity > available:
            raise OutOfStock(sku, source, quantity, available)
        self._levels[(sku, source)] -= quantity
        self._levels[(sku, target)] += quantity
        self.log.record(Event("moved", sku, quantity, source, target))

    def available(self, sku: str, location: str) -> float:
        """What can be issued or moved: the level less what is reserved (see reservations)."""
        return self.quantity(sku, location) - self.reserved(sku, location)

    def reserved(self, sku: str, location: str) -> float:
        return 0.0  # overridden by ReservingInventory
