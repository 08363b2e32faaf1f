"""Which service function implements which catalog operation.

Service modules register themselves with `@implements(op)`; `load_capabilities()` imports
every `codeforge.platform.<capability>.service` (and `.models`) module, so adding an
operation touches only its declaration and its service function.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from codeforge.catalog import CATALOG, Operation

if TYPE_CHECKING:
    from codeforge.platform.context import Context

__all__ = ["IMPLEMENTATIONS", "implements", "load_capabilities", "load_models"]

Service = Callable[["Context", Any], Any]
F = TypeVar("F", bound=Service)

IMPLEMENTATIONS: dict[str, Service] = {}


def implements(op: Operation[Any, Any]) -> Callable[[F], F]:
    def register(fn: F) -> F:
        if op.name in IMPLEMENTATIONS:
            raise ValueError(f"operation {op.name!r} is implemented twice")
        IMPLEMENTATIONS[op.name] = fn
        return fn

    return register


def _import_all(module_name: str) -> None:
    import codeforge.platform as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.ispkg:
            try:
                importlib.import_module(f"codeforge.platform.{info.name}.{module_name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"codeforge.platform.{info.name}.{module_name}":
                    raise


def load_models() -> None:
    _import_all("models")


def load_capabilities() -> dict[str, Service]:
    """Import every service module and check that each catalog operation has one implementation."""
    load_models()
    _import_all("service")
    _import_all("panes")
    missing = sorted(set(CATALOG) - set(IMPLEMENTATIONS))
    if missing:
        raise RuntimeError(f"catalog operations without an implementation: {', '.join(missing)}")
    return IMPLEMENTATIONS
