"""Discounts on an invoice's net amount, applied before tax, in the order given."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from ledger.money import Money


class Discount(Protocol):
    label: str

    def amount(self, net: Money) -> Money:
        """The amount taken off `net` (never more than `net`)."""
        ...


@dataclass(frozen=True)
class PercentDiscount:
    percent: Decimal
    label: str = "discount"

    def __post_init__(self) -> None:
        if not Decimal(0) <= Decimal(self.percent) <= Decimal(100):
            raise ValueError(f"percent {self.percent} is not between 0 and 100")

    def amount(self, net: Money) -> Money:
        return net.times(Decimal(self.percent) / 100)


@dataclass(frozen=True)
class FixedDiscount:
    off: Money
    label: str = "voucher"

    def amount(self, net: Money) -> Money:
        if self.off.cents > net.cents:
            return net
        return self.off


def apply_all(net: Money, discounts: list[Discount]) -> tuple[Money, list[tuple[str, Money]]]:
    """The net amount after each discount in turn, and what each one took off."""
    taken: list[tuple[str, Money]] = []
    remaining = net
    for discount in discounts:
        off = discount.amount(remaining)
        taken.append((discount.label, off))
        remaining = remaining - off
    return remaining, taken
