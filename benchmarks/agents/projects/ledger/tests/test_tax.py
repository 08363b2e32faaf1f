from decimal import Decimal

import pytest

from ledger.money import Money
from ledger.tax import TaxTable, UnknownRegion


def test_category_rate_falls_back_to_standard():
    table = TaxTable.default()
    assert table.rate("DE", "food") == Decimal("0.07")
    assert table.rate("DE", "toys") == Decimal("0.19")


def test_tax_amount():
    assert TaxTable.default().tax(Money(10000), "FR", "books") == Money(550)


def test_unknown_region():
    with pytest.raises(UnknownRegion):
        TaxTable.default().rate("XX", "food")


def test_rate_bounds():
    with pytest.raises(ValueError):
        TaxTable().set("DE", "standard", "1.5")
