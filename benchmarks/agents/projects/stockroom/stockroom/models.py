"""Items and locations."""

from __future__ import annotations

import re
from dataclasses import dataclass

UNITS = ("pcs", "kg", "g", "l", "m")
_SKU = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")


@dataclass(frozen=True)
class Item:
    sku: str
    name: str
    unit: str = "pcs"
    reorder_level: float = 0

    def __post_init__(self) -> None:
        if not _SKU.match(self.sku):
            raise ValueError(f"bad SKU {self.sku!r}: capital letters, digits and '-', 2 to 32 characters")
        if self.unit not in UNITS:
            raise ValueError(f"unknown unit {self.unit!r} (one of {', '.join(UNITS)})")


@dataclass(frozen=True)
class Location:
    code: str
    name: str = ""

    def __str__(self) -> str:
        return self.code
