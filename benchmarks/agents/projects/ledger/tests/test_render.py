from decimal import Decimal

from ledger import Invoice, Line, Money, PercentDiscount
from ledger.render import money_column, render


def test_render_receipt():
    invoice = Invoice(number="7", region="FR")
    invoice.add(Line("BAG", "Bread", 3, Money(250), "food"))
    invoice.discounts.append(PercentDiscount(Decimal(10)))
    text = render(invoice)
    lines = text.splitlines()
    assert lines[0].startswith("INVOICE") and lines[0].endswith("No. 7")
    assert "3 x Bread" in lines[3] and lines[3].endswith("€7.50")
    assert any(line.startswith("Discount") and line.endswith("-€0.75") for line in lines)
    assert any(line.startswith("Tax food 5.5%") for line in lines)
    assert lines[-1].endswith("€7.12")


def test_long_descriptions_are_cut():
    invoice = Invoice(number="8", region="DE")
    invoice.add(Line("X", "A very long description of a product that goes on", 1, Money(100)))
    row = render(invoice).splitlines()[3]
    assert "…" in row and len(row) == 48


def test_money_column():
    assert money_column([Money(100), Money(123456)]) == ["    €1.00", "€1,234.56"]
