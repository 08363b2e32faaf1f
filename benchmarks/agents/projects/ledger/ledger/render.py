"""Plain-text rendering of an invoice, as printed on receipts."""

from __future__ import annotations

from ledger.invoice import Invoice
from ledger.money import Money

WIDTH = 48


def _row(left: str, right: str, width: int = WIDTH) -> str:
    space = max(1, width - len(left) - len(right))
    return f"{left}{' ' * space}{right}"


def _rule(char: str = "-") -> str:
    return char * WIDTH


def render_lines(invoice: Invoice) -> list[str]:
    rows = []
    for line in invoice.lines:
        label = f"{line.quantity} x {line.description}"
        if len(label) > 32:
            label = label[:31] + "…"
        rows.append(_row(label, line.net.format()))
    return rows


def render_totals(invoice: Invoice) -> list[str]:
    rows = [_row("Subtotal", invoice.subtotal().format())]
    for label, off in invoice.discount_lines():
        rows.append(_row(label.capitalize(), (-off).format()))
    for category, tax in sorted(invoice.tax_by_category().items()):
        rate = invoice.taxes.rate(invoice.region, category) * 100
        rows.append(_row(f"Tax {category} {rate.normalize()}%", tax.format()))
    rows.append(_rule("="))
    rows.append(_row("Total", invoice.total().format()))
    return rows


def render(invoice: Invoice, title: str = "INVOICE") -> str:
    head = [_row(title, f"No. {invoice.number}"), _row("Region", invoice.region), _rule()]
    return "\n".join([*head, *render_lines(invoice), _rule(), *render_totals(invoice)]) + "\n"


def money_column(amounts: list[Money]) -> list[str]:
    """Amounts right-aligned to the widest one."""
    texts = [amount.format() for amount in amounts]
    width = max((len(t) for t in texts), default=0)
    return [t.rjust(width) for t in texts]
