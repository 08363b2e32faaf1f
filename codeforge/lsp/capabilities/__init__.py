"""Each built-in capability's editor contributions, one module (or package) each.

A module here has a `contribute(c: Contributions)` function, and its capability's manifest
(`codeforge/platform/<capability>/capability.py`) names it in `editor`: the server's
assembly (`server.py`) loads what the manifests name, built in or from outside, the same way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["contributors"]


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
