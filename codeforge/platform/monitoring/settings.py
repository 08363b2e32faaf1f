"""Monitoring's settings (`CODEFORGE_MONITORING_*`): retention, intervals, limits, and where
alerts and remote-write go. Read once per platform, like the platform's own settings."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["MonitoringSettings"]


class MonitoringSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CODEFORGE_MONITORING_", extra="ignore")

    # Metrics
    scrape_interval_s: float = Field(15.0, gt=0, description="A target's scrape interval unless it sets its own.")
    scrape_timeout_s: float = Field(10.0, gt=0, description="A scrape that takes longer marks the target down.")
    raw_retention_h: float = Field(48.0, gt=0, description="Raw samples are kept this long, then downsampled.")
    downsample_step_s: int = Field(300, gt=0, description="The step of downsampled samples.")
    downsampled_retention_d: float = Field(30.0, gt=0, description="Downsampled samples are kept this long.")
    remote_write_url: str = Field("", description="A Prometheus remote-write endpoint; empty: none.")
    remote_write_token: SecretStr | None = Field(None, description="Bearer token for remote-write.")
    remote_write_interval_s: float = Field(5.0, gt=0)
    # Logs
    log_retention_d: float = Field(7.0, gt=0)
    ingest_queue_lines: int = Field(
        200_000, gt=0, description="Lines accepted but not yet stored; past it ingestion answers 429."
    )
    max_request_bytes: int = Field(
        16 * 1024 * 1024, gt=0, description="An ingest body larger than this is refused (413)."
    )
    # Traces
    trace_retention_d: float = Field(7.0, gt=0)
    # Alerts
    eval_interval_s: float = Field(15.0, gt=0, description="How often alert rules are evaluated.")
    smtp_host: str = Field("", description="SMTP server for alert email; empty: email channels fail with a fix.")
    smtp_port: int = Field(25, gt=0)
    smtp_from: str = Field("codeforge@localhost")
    smtp_username: str = ""
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    # The sweep that applies retention.
    retention_interval_s: float = Field(300.0, gt=0)
