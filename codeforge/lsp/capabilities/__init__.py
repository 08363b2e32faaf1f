"""Each capability's editor contributions, one module (or package) each.

A module here with a `contribute(c: Contributions)` function is found and loaded by the
server's assembly (`server.py`): adding a capability to the editor adds a module here and
edits no shared file. `discover()` lists them in name order.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["contributors", "discover"]


def discover() -> list[ModuleType]:
    """The capability modules of this package that contribute, in name order."""
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(module, "contribute", None)):
            found.append(module)
    return found


def contributors(modules: list[ModuleType | str]) -> list[Callable[[Any], None]]:
    """The `contribute` functions of modules given as objects or dotted names."""
    out = []
    for module in modules:
        loaded = importlib.import_module(module) if isinstance(module, str) else module
        contribute = getattr(loaded, "contribute", None)
        if not callable(contribute):
            raise TypeError(f"{loaded.__name__} has no contribute(c: Contributions) function")
        out.append(contribute)
    return out
