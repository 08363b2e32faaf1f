"""Invoices saved as JSON documents and read back."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from ledger.discounts import Discount, FixedDiscount, PercentDiscount
from ledger.invoice import Invoice, Line
from ledger.money import Money


def _money(m: Money) -> dict[str, Any]:
    return {"cents": m.cents, "currency": m.currency}


def _discount(d: Discount) -> dict[str, Any]:
    if isinstance(d, PercentDiscount):
        return {"kind": "percent", "percent": str(d.percent), "label": d.label}
    if isinstance(d, FixedDiscount):
        return {"kind": "fixed", "off": _money(d.off), "label": d.label}
    raise TypeError(f"cannot store discount {d!r}")


def to_dict(invoice: Invoice) -> dict[str, Any]:
    return {
        "number": invoice.number,
        "region": invoice.region,
        "currency": invoice.currency,
        "lines": [
            {
                "sku": line.sku,
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": _money(line.unit_price),
                "category": line.category,
            }
            for line in invoice.lines
        ],
        "discounts": [_discount(d) for d in invoice.discounts],
    }


def from_dict(data: dict[str, Any]) -> Invoice:
    invoice = Invoice(number=data["number"], region=data["region"], currency=data.get("currency", "EUR"))
    for raw in data.get("lines", []):
        invoice.add(
            Line(
                sku=raw["sku"],
                description=raw["description"],
                quantity=int(raw["quantity"]),
                unit_price=Money(**raw["unit_price"]),
                category=raw.get("category", "standard"),
            )
        )
    for raw in data.get("discounts", []):
        if raw["kind"] == "percent":
            invoice.discounts.append(PercentDiscount(Decimal(raw["percent"]), raw.get("label", "discount")))
        elif raw["kind"] == "fixed":
            invoice.discounts.append(FixedDiscount(Money(**raw["off"]), raw.get("label", "voucher")))
        else:
            raise ValueError(f"unknown discount kind {raw['kind']!r}")
    return invoice


def save(invoice: Invoice, path: Path) -> None:
    path.write_text(json.dumps(to_dict(invoice), indent=2) + "\n", encoding="utf-8")


def load(path: Path) -> Invoice:
    return from_dict(json.loads(path.read_text(encoding="utf-8")))
