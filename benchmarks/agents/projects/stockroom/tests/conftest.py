import pytest

from stockroom import Inventory, Item


@pytest.fixture
def inventory() -> Inventory:
    inv = Inventory()
    inv.register(Item("BOLT-M6", "Bolt M6", "pcs", reorder_level=100))
    inv.register(Item("FLOUR", "Flour", "kg", reorder_level=5))
    inv.register(Item("CABLE-3", "Cable 3 mm", "m"))
    return inv
