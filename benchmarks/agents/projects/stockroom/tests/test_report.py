from stockroom.report import reorder_report, stock_report


def test_stock_report(inventory):
    inventory.receive("FLOUR", "A1", 1.125)
    inventory.receive("FLOUR", "B1", 2)
    lines = stock_report(inventory).splitlines()
    assert lines[0].split() == ["BOLT-M6", "Bolt", "M6", "0", "pcs"]
    assert lines[2].split() == ["FLOUR", "Flour", "3.125", "kg"]


def test_reorder_report_most_urgent_first(inventory):
    inventory.receive("FLOUR", "A1", 4.5)
    inventory.receive("BOLT-M6", "A1", 150)
    inventory.receive("CABLE-3", "A1", 1)
    assert reorder_report(inventory).splitlines() == ["REORDER FLOUR: 4.5 kg left (level 5)"]
    inventory.issue("BOLT-M6", "A1", 100)
    assert reorder_report(inventory).splitlines() == [
        "REORDER BOLT-M6: 50 pcs left (level 100)",
        "REORDER FLOUR: 4.5 kg left (level 5)",
    ]


def test_nothing_to_reorder(inventory):
    inventory.receive("FLOUR", "A1", 50)
    inventory.receive("BOLT-M6", "A1", 500)
    assert reorder_report(inventory) == "nothing to reorder"
