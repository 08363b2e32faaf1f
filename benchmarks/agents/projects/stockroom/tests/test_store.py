import pytest

from stockroom import Item, OutOfStock


def test_receive_issue_move(inventory):
    inventory.receive("BOLT-M6", "A1", 500)
    inventory.issue("BOLT-M6", "A1", 120)
    inventory.move("BOLT-M6", "A1", "B2", 80)
    assert inventory.quantity("BOLT-M6") == 380
    assert inventory.locations("BOLT-M6") == {"A1": 300, "B2": 80}
    assert [e.kind for e in inventory.log] == ["received", "issued", "moved"]


def test_issue_more_than_stock(inventory):
    inventory.receive("FLOUR", "A1", 2.5)
    with pytest.raises(OutOfStock) as info:
        inventory.issue("FLOUR", "A1", 3)
    assert info.value.available == 2.5
    assert inventory.quantity("FLOUR", "A1") == 2.5


def test_bad_quantities_and_items(inventory):
    with pytest.raises(ValueError):
        inventory.receive("FLOUR", "A1", 0)
    with pytest.raises(KeyError):
        inventory.receive("NOPE", "A1", 1)
    with pytest.raises(ValueError):
        inventory.move("FLOUR", "A1", "A1", 1)


def test_register_conflict(inventory):
    with pytest.raises(ValueError):
        inventory.register(Item("FLOUR", "Rye flour", "kg"))


@pytest.mark.parametrize(("sku", "unit"), [("bolt", "pcs"), ("X", "pcs"), ("GOOD-1", "lb")])
def test_item_validation(sku, unit):
    with pytest.raises(ValueError):
        Item(sku, "thing", unit)
