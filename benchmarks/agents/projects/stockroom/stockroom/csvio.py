"""Stock levels to and from CSV (sku,location,quantity,unit)."""

from __future__ import annotations

import csv
import io

from stockroom.store import Inventory

HEADER = ["sku", "location", "quantity", "unit"]


def export_csv(inventory: Inventory) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for sku in sorted(inventory.items):
        item = inventory.items[sku]
        for location, qty in inventory.locations(sku).items():
            # whole numbers without decimals, others with at most 3 (no trailing zeros)
            if float(qty).is_integer():
                text = str(int(qty))
            else:
                text = f"{qty:.3f}".rstrip("0").rstrip(".")
            writer.writerow([sku, location, text, item.unit])
    return out.getvalue()


class ImportError_(ValueError):
    """A CSV row could not be imported; names the line."""


def import_csv(inventory: Inventory, text: str) -> int:
    """Receive every row's quantity; returns the number of rows. Rows are checked first:
    one bad row imports nothing."""
    rows = list(csv.DictReader(io.StringIO(text)))
    parsed = []
    for number, row in enumerate(rows, start=2):
        if set(HEADER) - set(row):
            raise ImportError_(f"line {number}: columns {', '.join(HEADER)} are needed")
        try:
            qty = float(row["quantity"])
        except ValueError:
            raise ImportError_(f"line {number}: quantity {row['quantity']!r} is not a number") from None
        if row["sku"] not in inventory.items:
            raise ImportError_(f"line {number}: unknown item {row['sku']}")
        if inventory.items[row["sku"]].unit != row["unit"]:
            raise ImportError_(f"line {number}: {row['sku']} is counted in {inventory.items[row['sku']].unit}")
        parsed.append((row["sku"], row["location"], qty))
    for sku, location, qty in parsed:
        inventory.receive(sku, location, qty)
    return len(parsed)
