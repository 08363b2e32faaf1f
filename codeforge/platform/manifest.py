"""What a capability declares in its one manifest, `codeforge/platform/<capability>/capability.py`.

A manifest is data: module names and small factories, nothing imported eagerly, so the
registry (and the language server, for editor contributions) can read every manifest
without loading services, SQLAlchemy models or drivers. The core reads manifests and knows
no capability by name.

    CAPABILITY = Capability(
        name="databases",
        services=("service", "backup_service"),      # modules holding @implements functions
        panes=("pane",),                             # modules holding @pane renderers
        background=(Background("backup-scheduler", _scheduler),),
        cleanup=(CrashCleanup("partial copies", _sweep, every=60.0),),
        project_section=ProjectSection("databases", ...),
        editor=("codeforge.lsp.capabilities.databases",),
    )
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from codeforge.platform.crypto import Cipher
    from codeforge.platform.db import Database
    from codeforge.platform.jobs.store import JobStore
    from codeforge.platform.settings import Settings

__all__ = [
    "Background",
    "BackgroundService",
    "Capability",
    "CrashCleanup",
    "ProjectSection",
    "Runtime",
]


@dataclass(frozen=True)
class Runtime:
    """What background services and crash cleanups get from the platform: its state and
    tools, never a request's session or actor."""

    db: Database
    settings: Settings
    cipher: Cipher
    jobs: JobStore
    # The platform's /metrics registry: a background service registers its collectors here.
    metrics: CollectorRegistry | None = None


class BackgroundService(Protocol):
    """A scheduler, sweeper or supervisor: `start` returns at once (it runs on its own thread
    or timer), `stop` returns when it has stopped."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class Background:
    """A background service of a capability, made by `factory` when the platform starts and
    stopped, in reverse order of starting, when it stops (`platform/lifecycle.py`)."""

    name: str
    factory: Callable[[Runtime], BackgroundService]


@dataclass(frozen=True)
class CrashCleanup:
    """Undoes what a process killed half-way left behind (partial copies, stale rows).

    Runs when the platform starts, before it accepts work, and every `every` seconds after
    that when set, so leftovers found later (a job killed on another replica) go too. Returns
    what it removed, for the log. It must be safe to run on several replicas at once."""

    name: str
    run: Callable[[Runtime], Sequence[str]]
    every: float | None = None


@dataclass(frozen=True)
class ProjectSection:
    """A top-level key of `codeforge.yaml` and the pydantic type of its value.

    `annotation` is what the field of `ProjectFile` is typed as (e.g. `dict[str, Entry]`);
    `default_factory` makes the value of a file without the key."""

    key: str
    annotation: Any
    description: str
    default_factory: Callable[[], Any] = dict


@dataclass(frozen=True)
class Capability:
    """Everything one capability brings, declared in one place.

    Module names in `services`, `models` and `panes` are relative to the manifest's package
    (`"service"` is `codeforge.platform.databases.service`); `catalog` is the absolute name of
    its catalog module (operations' declarations), imported before routes and commands are
    built; `editor` names language-server modules with a `contribute(c: Contributions)`
    function (see docs/adding-a-capability.md)."""

    name: str
    title: str
    catalog: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    panes: tuple[str, ...] = ()
    background: tuple[Background, ...] = ()
    cleanup: tuple[CrashCleanup, ...] = ()
    project_section: ProjectSection | None = None
    editor: tuple[str, ...] = ()
    # Modules of this package, each with a FastAPI `router` for endpoints that speak another
    # system's protocol rather than the catalog's (OTLP, Loki push, Prometheus's query API).
    # Thin: they authenticate and call the package's services; the catalog stays the way
    # people reach every operation.
    api: tuple[str, ...] = ()
    # Lines for the `codeforge up` banner (advice a person should see at start), or None.
    notices: tuple[Callable[[Settings], str | None], ...] = ()
    # Filled by the registry: the package the manifest was found in.
    package: str = field(default="", compare=False)
