"""An invoice: lines, discounts, and its totals per tax category."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ledger.discounts import Discount, apply_all
from ledger.money import Money, total
from ledger.tax import STANDARD, TaxTable


@dataclass(frozen=True)
class Line:
    sku: str
    description: str
    quantity: int
    unit_price: Money
    category: str = STANDARD

    def __post_init__(self) -> None:
        if self.quantity == 0:
            raise ValueError(f"line {self.sku} has quantity 0")

    @property
    def net(self) -> Money:
        return self.unit_price.times(self.quantity)


@dataclass
class Invoice:
    number: str
    region: str
    currency: str = "EUR"
    lines: list[Line] = field(default_factory=list)
    discounts: list[Discount] = field(default_factory=list)
    taxes: TaxTable = field(default_factory=TaxTable.default)

    def add(self, line: Line) -> None:
        if line.unit_price.currency != self.currency:
            raise ValueError(f"line {line.sku} is in {line.unit_price.currency}, the invoice in {self.currency}")
        self.lines.append(line)

    def subtotal(self) -> Money:
        return total([line.net for line in self.lines], self.currency)

    def discounted(self) -> Money:
        net, _ = apply_all(self.subtotal(), self.discounts)
        return net

    def discount_lines(self) -> list[tuple[str, Money]]:
        _, taken = apply_all(self.subtotal(), self.discounts)
        return taken

    def _share(self) -> Decimal:
        """The fraction of the subtotal left after discounts (spread over all lines alike)."""
        subtotal = self.subtotal()
        if subtotal.is_zero():
            return Decimal(1)
        return Decimal(self.discounted().cents) / Decimal(subtotal.cents)

    def net_by_category(self) -> dict[str, Money]:
        by_category: dict[str, Money] = {}
        for line in self.lines:
            by_category[line.category] = by_category.get(line.category, Money.zero(self.currency)) + line.net
        share = self._share()
        return {category: net.times(share) for category, net in by_category.items()}

    def tax_by_category(self) -> dict[str, Money]:
        return {
            category: self.taxes.tax(net, self.region, category) for category, net in self.net_by_category().items()
        }

    def tax(self) -> Money:
        return total(list(self.tax_by_category().values()), self.currency)

    def total(self) -> Money:
        return self.discounted() + self.tax()
