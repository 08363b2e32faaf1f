from decimal import Decimal

import pytest

from ledger.money import CurrencyMismatch, Money, total


def test_parse_and_format():
    assert Money.parse("12.34 EUR") == Money(1234, "EUR")
    assert Money.parse("7 USD").format() == "$7.00"
    assert Money(123456, "EUR").format() == "€1,234.56"
    assert Money(-5, "GBP").format() == "-£0.05"


@pytest.mark.parametrize("text", ["", "abc", "1 2 3", "1.2.3 EUR"])
def test_parse_rejects(text):
    with pytest.raises(ValueError):
        Money.parse(text)


def test_unknown_currency():
    with pytest.raises(ValueError):
        Money(1, "XYZ")


def test_times_rounds_half_to_even():
    assert Money(5).times(Decimal("0.5")) == Money(2)  # 2.5 cents -> 2
    assert Money(15).times(Decimal("0.5")) == Money(8)  # 7.5 cents -> 8
    assert Money(1000).times(3) == Money(3000)


def test_mixed_currencies_refused():
    with pytest.raises(CurrencyMismatch):
        Money(1, "EUR") + Money(1, "USD")


def test_total():
    assert total([Money(1), Money(2), Money(3)]) == Money(6)
    assert total([], "USD") == Money(0, "USD")
