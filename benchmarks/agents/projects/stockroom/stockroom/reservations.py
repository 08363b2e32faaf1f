"""Reservations hold stock for an order until they are fulfilled, released or expire."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from stockroom.events import Event
from stockroom.store import Inventory, OutOfStock

_ids = itertools.count(1)


@dataclass
class Reservation:
    id: int
    sku: str
    location: str
    quantity: float
    expires: datetime
    state: str = "held"  # held | fulfilled | released | expired


class ReservingInventory(Inventory):
    def __init__(self, clock=lambda: datetime.now(timezone.utc)) -> None:
        super().__init__()
        self.clock = clock
        self.reservations: dict[int, Reservation] = {}

    def _expire(self) -> None:
        now = self.clock()
        for r in self.reservations.values():
            if r.state == "held" and r.expires <= now:
                r.state = "expired"

    def reserved(self, sku: str, location: str) -> float:
        self._expire()
        return sum(
            r.quantity
            for r in self.reservations.values()
            if r.state == "held" and r.sku == sku and r.location == location
        )

    def reserve(self, sku: str, location: str, quantity: float, ttl: timedelta = timedelta(hours=1)) -> Reservation:
        if quantity <= 0:
            raise ValueError("reserved quantity must be positive")
        available = self.available(sku, location)
        if quantity > available:
            raise OutOfStock(sku, location, quantity, available)
        r = Reservation(next(_ids), sku, location, quantity, self.clock() + ttl)
        self.reservations[r.id] = r
        self.log.record(Event("reserved", sku, quantity, location))
        return r

    def release(self, reservation_id: int) -> None:
        r = self._get(reservation_id)
        if r.state == "held":
            r.state = "released"
            self.log.record(Event("released", r.sku, r.quantity, r.location))

    def fulfil(self, reservation_id: int) -> None:
        """Issue the reserved stock: the reservation stops holding it first."""
        r = self._get(reservation_id)
        self._expire()
        if r.state != "held":
            raise ValueError(f"reservation {r.id} is {r.state}")
        r.state = "fulfilled"
        self.issue(r.sku, r.location, r.quantity)

    def _get(self, reservation_id: int) -> Reservation:
        try:
            return self.reservations[reservation_id]
        except KeyError:
            raise KeyError(f"no reservation {reservation_id}") from None
