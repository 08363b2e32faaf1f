"""Stock levels per location, reservations, CSV and reports."""

from stockroom.models import Item, Location
from stockroom.store import Inventory, OutOfStock

__all__ = ["Inventory", "Item", "Location", "OutOfStock"]
