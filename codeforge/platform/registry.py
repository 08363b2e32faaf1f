"""Finding capabilities and which service function implements which catalog operation.

Each capability declares itself in one manifest, `codeforge/platform/<capability>/capability.py`
(`CAPABILITY = Capability(...)`, see `manifest.py`). The registry finds manifests in three
places, so a new capability adds files and edits no shared one:

- every subpackage of `codeforge.platform` that has a `capability` module;
- the packages named in `CODEFORGE_CAPABILITIES` (comma-separated), each with a `capability`
  module: capabilities that live outside this package (and the tests' fixture capability);
- the entry point group `codeforge.capabilities` of installed distributions, each naming a
  manifest module (or its `CAPABILITY` object).

`load_capabilities()` then imports what the manifests name (catalog, models, services,
panes) and checks that every catalog operation has exactly one implementation.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import entry_points
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, Field, create_model

from codeforge.catalog import CATALOG, Operation
from codeforge.platform.manifest import Capability

if TYPE_CHECKING:
    from codeforge.platform.context import Context

__all__ = [
    "ENTRY_POINT_GROUP",
    "IMPLEMENTATIONS",
    "discover_capabilities",
    "editor_modules",
    "implements",
    "load_capabilities",
    "load_models",
    "project_file_model",
]

ENTRY_POINT_GROUP = "codeforge.capabilities"
MANIFEST = "capability"

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


def _manifest_of(module: ModuleType | Capability, package: str) -> Capability:
    found = module if isinstance(module, Capability) else getattr(module, "CAPABILITY", None)
    if not isinstance(found, Capability):
        raise RuntimeError(f"{package}.{MANIFEST} must define CAPABILITY = Capability(...)")
    return dataclasses.replace(found, package=package)


def _optional_manifest(package: str) -> Capability | None:
    name = f"{package}.{MANIFEST}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:  # the manifest exists but imports something missing: say so
            raise
        return None
    return _manifest_of(module, package)


def _builtin() -> list[Capability]:
    import codeforge.platform as pkg

    found = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.ispkg and (cap := _optional_manifest(f"codeforge.platform.{info.name}")) is not None:
            found.append(cap)
    return found


def _from_entry_points() -> list[Capability]:
    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        loaded = ep.load()
        package = ep.module.rsplit(".", 1)[0] if ep.module.endswith(f".{MANIFEST}") else ep.module
        found.append(_manifest_of(loaded, package))
    return found


def discover_capabilities(extra: Iterable[str] = ()) -> list[Capability]:
    """Every capability's manifest: built in, named in `extra` (packages), from entry points.
    Only manifests are imported, not what they name."""
    caps = _builtin()
    for package in extra:
        cap = _optional_manifest(package)
        if cap is None:
            raise RuntimeError(f"capability package {package!r} has no {MANIFEST} module; check CODEFORGE_CAPABILITIES")
        caps.append(cap)
    caps += _from_entry_points()
    seen: dict[str, str] = {}
    for cap in caps:
        if cap.name in seen:
            raise RuntimeError(f"capability {cap.name!r} is declared twice: in {seen[cap.name]} and {cap.package}")
        seen[cap.name] = cap.package
    return caps


def _import(cap: Capability, names: Sequence[str]) -> None:
    for name in names:
        importlib.import_module(f"{cap.package}.{name}")


def load_models(capabilities: Sequence[Capability] | None = None) -> None:
    """Import every capability's SQLAlchemy models, so `Base.metadata` holds every table."""
    for cap in capabilities if capabilities is not None else discover_capabilities():
        _import(cap, cap.models)


def load_capabilities(capabilities: Sequence[Capability]) -> dict[str, Service]:
    """Import what the manifests name and check that each catalog operation has an
    implementation; the operations' implementations by name."""
    for cap in capabilities:
        for module in cap.catalog:
            importlib.import_module(module)
    load_models(capabilities)
    for cap in capabilities:
        _import(cap, cap.services)
        _import(cap, cap.panes)
    missing = sorted(set(CATALOG) - set(IMPLEMENTATIONS))
    if missing:
        raise RuntimeError(f"catalog operations without an implementation: {', '.join(missing)}")
    return IMPLEMENTATIONS


def api_routers(capabilities: Sequence[Capability]) -> list[Any]:
    """The FastAPI routers of the modules capabilities name in `api` (protocol endpoints)."""
    return [importlib.import_module(f"{cap.package}.{name}").router for cap in capabilities for name in cap.api]


def editor_modules(capabilities: Sequence[Capability]) -> list[str]:
    """The language-server modules capabilities contribute (each has `contribute(c)`)."""
    return [module for cap in capabilities for module in cap.editor]


def project_file_model(capabilities: Sequence[Capability]) -> type[BaseModel]:
    """`codeforge.yaml`'s model with every capability's section: `ProjectFile` itself, plus a
    field for each section it does not declare yet (a capability from outside this package)."""
    from codeforge.projectfile import ProjectFile

    fields: dict[str, Any] = {}
    for cap in capabilities:
        section = cap.project_section
        if section is None or section.key in ProjectFile.model_fields:
            continue
        if section.key in fields:
            raise RuntimeError(f"two capabilities declare the codeforge.yaml section {section.key!r}")
        fields[section.key] = (
            section.annotation,
            Field(default_factory=section.default_factory, description=section.description),
        )
    if not fields:
        return ProjectFile
    model: type[BaseModel] = create_model("ProjectFile", __base__=ProjectFile, **fields)
    return model
