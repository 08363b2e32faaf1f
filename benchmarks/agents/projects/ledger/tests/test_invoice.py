from decimal import Decimal

import pytest

from ledger import FixedDiscount, Invoice, Line, Money, PercentDiscount


def make_invoice() -> Invoice:
    invoice = Invoice(number="2024-001", region="DE")
    invoice.add(Line("BK-1", "Python book", 2, Money(2000), "books"))
    invoice.add(Line("MUG", "Coffee mug", 1, Money(1000)))
    return invoice


def test_subtotal_and_tax():
    invoice = make_invoice()
    assert invoice.subtotal() == Money(5000)
    assert invoice.tax_by_category() == {"books": Money(280), "standard": Money(190)}
    assert invoice.total() == Money(5470)


def test_percent_discount_before_tax():
    invoice = make_invoice()
    invoice.discounts.append(PercentDiscount(Decimal(10)))
    assert invoice.discounted() == Money(4500)
    assert invoice.tax() == Money(252 + 171)
    assert invoice.total() == Money(4500 + 423)


def test_discounts_apply_in_order():
    invoice = make_invoice()
    invoice.discounts += [FixedDiscount(Money(1000)), PercentDiscount(Decimal(50))]
    assert invoice.discount_lines() == [("voucher", Money(1000)), ("discount", Money(2000))]
    assert invoice.discounted() == Money(2000)


def test_currency_of_lines_must_match():
    invoice = Invoice(number="1", region="DE", currency="EUR")
    with pytest.raises(ValueError):
        invoice.add(Line("X", "thing", 1, Money(100, "USD")))


def test_zero_quantity_refused():
    with pytest.raises(ValueError):
        Line("X", "thing", 0, Money(100))


def test_empty_invoice():
    invoice = Invoice(number="1", region="CH")
    assert invoice.total() == Money(0)


def test_voucher_larger_than_order():
    invoice = make_invoice()
    invoice.discounts.append(FixedDiscount(Money(8000), "gift card"))
    assert invoice.discount_lines() == [("gift card", Money(5000))]
    assert invoice.total() == Money(0)
