from datetime import datetime, timedelta, timezone

import pytest

from stockroom import Item, OutOfStock
from stockroom.reservations import ReservingInventory


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def inv(clock) -> ReservingInventory:
    inv = ReservingInventory(clock)
    inv.register(Item("BOLT-M6", "Bolt M6"))
    inv.receive("BOLT-M6", "A1", 10)
    return inv


def test_reservation_holds_stock(inv):
    inv.reserve("BOLT-M6", "A1", 7)
    assert inv.available("BOLT-M6", "A1") == 3
    with pytest.raises(OutOfStock):
        inv.issue("BOLT-M6", "A1", 4)


def test_release_and_expiry(inv, clock):
    r = inv.reserve("BOLT-M6", "A1", 5, ttl=timedelta(minutes=10))
    inv.release(r.id)
    assert inv.available("BOLT-M6", "A1") == 10
    inv.reserve("BOLT-M6", "A1", 6, ttl=timedelta(minutes=10))
    clock.now += timedelta(minutes=11)
    assert inv.available("BOLT-M6", "A1") == 10


def test_fulfil(inv):
    r = inv.reserve("BOLT-M6", "A1", 4)
    inv.fulfil(r.id)
    assert inv.quantity("BOLT-M6") == 6
    with pytest.raises(ValueError):
        inv.fulfil(r.id)


def test_fulfil_all_reserved_stock(inv):
    r = inv.reserve("BOLT-M6", "A1", 10)
    inv.fulfil(r.id)
    assert inv.quantity("BOLT-M6", "A1") == 0
    assert [e.kind for e in inv.log][-2:] == ["reserved", "issued"]


def test_expired_cannot_be_fulfilled(inv, clock):
    r = inv.reserve("BOLT-M6", "A1", 2, ttl=timedelta(seconds=1))
    clock.now += timedelta(seconds=2)
    with pytest.raises(ValueError, match="expired"):
        inv.fulfil(r.id)


def test_unknown_reservation(inv):
    with pytest.raises(KeyError):
        inv.release(12345)
