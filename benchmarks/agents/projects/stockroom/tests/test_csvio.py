import pytest

from stockroom.csvio import ImportError_, export_csv, import_csv


def test_export(inventory):
    inventory.receive("FLOUR", "A1", 2.25)
    inventory.receive("FLOUR", "B1", 10)
    inventory.receive("BOLT-M6", "A1", 40)
    assert export_csv(inventory) == (
        "sku,location,quantity,unit\nBOLT-M6,A1,40,pcs\nFLOUR,A1,2.25,kg\nFLOUR,B1,10,kg\n"
    )


def test_import_round_trip(inventory):
    text = "sku,location,quantity,unit\nCABLE-3,R1,12.5,m\nBOLT-M6,A1,3,pcs\n"
    assert import_csv(inventory, text) == 2
    assert export_csv(inventory) == "sku,location,quantity,unit\nBOLT-M6,A1,3,pcs\nCABLE-3,R1,12.5,m\n"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("FLOUR,A1,lots,kg", "not a number"),
        ("SUGAR,A1,1,kg", "unknown item"),
        ("FLOUR,A1,1,pcs", "counted in kg"),
    ],
)
def test_bad_rows_import_nothing(inventory, row, message):
    text = f"sku,location,quantity,unit\nBOLT-M6,A1,3,pcs\n{row}\n"
    with pytest.raises(ImportError_, match=message):
        import_csv(inventory, text)
    assert inventory.quantity("BOLT-M6") == 0


def test_missing_columns(inventory):
    with pytest.raises(ImportError_, match="line 2"):
        import_csv(inventory, "sku,quantity\nFLOUR,1\n")
