from decimal import Decimal

import pytest

from ledger import FixedDiscount, Invoice, Line, Money, PercentDiscount
from ledger.storage import from_dict, load, save, to_dict


def test_round_trip(tmp_path):
    invoice = Invoice(number="9", region="CH", currency="CHF")
    invoice.add(Line("CHZ", "Cheese", 2, Money(1250, "CHF"), "food"))
    invoice.discounts += [PercentDiscount(Decimal("12.5")), FixedDiscount(Money(100, "CHF"), "loyalty")]
    save(invoice, tmp_path / "inv.json")
    again = load(tmp_path / "inv.json")
    assert to_dict(again) == to_dict(invoice)
    assert again.total() == invoice.total()


def test_unknown_discount_kind():
    with pytest.raises(ValueError):
        from_dict({"number": "1", "region": "DE", "discounts": [{"kind": "bogus"}]})
