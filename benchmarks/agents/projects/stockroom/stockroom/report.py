"""Text reports: stock per item, and what to reorder."""

from __future__ import annotations

from stockroom.store import Inventory


def stock_report(inventory: Inventory) -> str:
    lines = []
    for sku in sorted(inventory.items):
        item = inventory.items[sku]
        qty = inventory.quantity(sku)
        if float(qty).is_integer():
            text = str(int(qty))
        else:
            text = f"{qty:.3f}".rstrip("0").rstrip(".")
        lines.append(f"{sku:<12} {item.name:<24} {text} {item.unit}")
    return "\n".join(lines)


def reorder_report(inventory: Inventory) -> str:
    """Items at or below their reorder level (0: never reordered), most urgent first."""
    short = []
    for sku, item in inventory.items.items():
        qty = inventory.quantity(sku)
        if item.reorder_level and qty <= item.reorder_level:
            short.append((qty - item.reorder_level, sku, item, qty))
    lines = []
    for _, sku, item, qty in sorted(short):
        if float(qty).is_integer():
            text = str(int(qty))
        else:
            text = f"{qty:.3f}".rstrip("0").rstrip(".")
        lines.append(f"REORDER {sku}: {text} {item.unit} left (level {item.reorder_level:g})")
    return "\n".join(lines) or "nothing to reorder"
