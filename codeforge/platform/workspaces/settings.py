"""Workspaces' settings, read from `CODEFORGE_WORKSPACES_*` (docs/workspaces.md): the default
runtime, the host ports services get, and the quotas checked before anything is made."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["WorkspaceSettings", "workspace_settings"]


class WorkspaceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CODEFORGE_WORKSPACES_", extra="ignore")

    runtime: str = Field(default="local", description="Runtime of `runtime=auto`: local, docker or kubernetes.")
    port_range: str = Field(
        default="23000-23999",
        description="Host ports workspaces' services are given: below Linux's ephemeral range (32768-60999), where a port checked free can be taken by an outgoing connection before the service listens.",
    )
    max_per_project: int = Field(default=20, ge=0, description="Workspaces a project may have (pooled ones too).")
    max_cpus_per_project: float | None = Field(default=None, gt=0, description="CPUs a project's limits may add to.")
    max_memory_mb_per_project: int | None = Field(
        default=None, gt=0, description="Memory (MiB) a project's limits may add to."
    )
    snapshots_keep_last: int = Field(default=10, ge=1, description="Snapshots kept per workspace.")
    snapshots_max_age_days: float | None = Field(
        default=None, gt=0, description="Snapshots older than this are deleted (unset: kept however old)."
    )
    pool_interval: float = Field(default=2.0, gt=0, description="Seconds between warm-pool refills.")
    docker_url: str = Field(default="", description="Docker engine URL (default: the local socket).")


def workspace_settings() -> WorkspaceSettings:
    """Read at each use (a few microseconds): a test or an operator changing the environment
    of a running platform's next operation sees it."""
    return WorkspaceSettings()
