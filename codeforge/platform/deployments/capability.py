"""Deployments (docs/deployments.md): releases of a workspace's tree or an image, run as
instances on the workspace runtimes, served through the edge, rolled out rolling, blue-green
or canary region by region, and rolled back automatically from the edge's metrics."""

from __future__ import annotations

from collections.abc import Sequence

from codeforge.platform.manifest import (
    Background,
    BackgroundService,
    Capability,
    CrashCleanup,
    ProjectSection,
    Runtime,
)
from codeforge.projectfile.deployments import DeploySection

__all__ = ["CAPABILITY"]


class _Registration:
    """Hands the platform's Database to the edge calls of this process (traffic.py)."""

    def __init__(self, rt: Runtime) -> None:
        from codeforge.platform.deployments.traffic import register_db

        register_db(rt.settings, rt.db)

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None


def _registration(rt: Runtime) -> BackgroundService:
    return _Registration(rt)


def _sweep(rt: Runtime) -> Sequence[str]:
    from codeforge.platform.deployments.cleanup import sweep

    return sweep(rt)


CAPABILITY = Capability(
    name="deployments",
    title="Deployments",
    catalog=("codeforge.catalog.deployments",),
    models=("models",),
    services=("service",),
    panes=("pane",),
    background=(Background("edge database", _registration),),
    cleanup=(CrashCleanup("interrupted rollouts and unlisted instances", _sweep),),
    project_section=ProjectSection(
        "deploy",
        DeploySection,
        "Deployments, by name, with the settings of `deployments.deploy`: `web: {workspace, strategy, "
        "instances, canary_steps, hosts, regions, …}`. Code actions deploy each entry and roll it back.",
    ),
    editor=("codeforge.lsp.capabilities.deployments",),
)
