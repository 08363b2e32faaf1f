"""Tax rates per region and product category."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ledger.money import Money

STANDARD = "standard"


class UnknownRegion(KeyError):
    """No tax rates are known for a region."""


@dataclass
class TaxTable:
    # region -> category -> rate; the "standard" category applies when a category has no rate
    rates: dict[str, dict[str, Decimal]] = field(default_factory=dict)

    @classmethod
    def default(cls) -> TaxTable:
        table = cls()
        table.set("DE", STANDARD, "0.19")
        table.set("DE", "food", "0.07")
        table.set("DE", "books", "0.07")
        table.set("FR", STANDARD, "0.20")
        table.set("FR", "food", "0.055")
        table.set("FR", "books", "0.055")
        table.set("CH", STANDARD, "0.081")
        table.set("CH", "food", "0.026")
        return table

    def set(self, region: str, category: str, rate: str | Decimal) -> None:
        value = Decimal(rate)
        if not Decimal(0) <= value < Decimal(1):
            raise ValueError(f"tax rate {rate} is not between 0 and 1")
        self.rates.setdefault(region, {})[category] = value

    def rate(self, region: str, category: str) -> Decimal:
        try:
            region_rates = self.rates[region]
        except KeyError:
            raise UnknownRegion(region) from None
        return region_rates.get(category, region_rates.get(STANDARD, Decimal(0)))

    def tax(self, amount: Money, region: str, category: str) -> Money:
        return amount.times(self.rate(region, category))
