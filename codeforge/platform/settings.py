"""Typed settings of the platform service, from `CODEFORGE_*` environment variables."""

from __future__ import annotations

import os
import secrets
import socket
from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "codeforge"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CODEFORGE_", extra="ignore")

    data_dir: Path = Field(default_factory=_default_data_dir, description="Where the platform keeps its state.")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite in the data dir.")
    secret_key: SecretStr | None = Field(
        default=None, description="Fernet key for secrets at rest; generated into the data dir when unset."
    )
    host: str = "127.0.0.1"
    port: int = 8470
    public_url: str = Field(default="", description="URL editors use to reach the platform.")
    log_level: str = "INFO"
    job_workers: int = Field(default=4, ge=1, le=64)
    instance_id: str = Field(default="", description="Names this replica in job records; defaults to host:port.")
    capabilities: str = Field(
        default="",
        description="Packages of further capabilities, comma-separated, each with a `capability` manifest "
        "(capabilities inside codeforge/platform and from `codeforge.capabilities` entry points need no entry).",
    )
    shutdown_grace_seconds: float = Field(
        default=20.0,
        ge=0,
        le=3600,
        description="On SIGTERM, how long running jobs get to finish before they are cancelled "
        "(orchestrators kill about 30 s after SIGTERM).",
    )
    # Security (docs/architecture.md, "Access to the platform").
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token /metrics requires. Unset: none on loopback; otherwise one generated into "
        "data_dir/metrics.token.",
    )
    metrics_open: bool = Field(default=False, description="Serve /metrics without a token even off loopback.")
    auth_failures_per_minute: int = Field(
        default=20, ge=1, le=100000, description="Failed authentications a source address may make per minute."
    )
    job_events_poll_seconds: float = Field(
        default=1.0, gt=0, le=3600, description="How often job event streams read events written by other replicas."
    )
    # Databases: where operations may read or make things on this host (see docs/databases.md).
    projects_root: Path | None = Field(
        default=None, description="The projects' folders (`codeforge up`: its folder); migration paths live here."
    )
    storage_roots: str = Field(
        default="", description="More folders (os.pathsep-separated) where engines may keep their data_dir."
    )
    databases_supervise_interval: float = Field(
        default=5.0, gt=0, description="Seconds between checks that the platform's database servers run."
    )

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'codeforge.db'}"

    @property
    def capability_packages(self) -> list[str]:
        return [p.strip() for p in self.capabilities.split(",") if p.strip()]

    @property
    def resolved_public_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @cached_property
    def resolved_instance_id(self) -> str:
        return self.instance_id or f"{socket.gethostname()}:{self.port}"

    def fernet_key(self) -> bytes:
        """The key that encrypts secrets; created once, readable by the owner only."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            from cryptography.fernet import Fernet

            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{secrets.token_hex(4)}")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(Fernet.generate_key())
            try:
                os.link(tmp, path)  # atomic create-if-absent: replicas sharing a dir agree
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_bytes().strip()
