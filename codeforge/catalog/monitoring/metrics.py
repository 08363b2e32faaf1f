"""Metrics: the scrape targets of a project (apps' /metrics, or the platform's own) with their
health, and the series the store holds (docs/monitoring.md)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare
from codeforge.catalog.monitoring.times import DURATION_FORM, TIME_FORM, parse_duration, parse_time

__all__ = [
    "ADD_TARGET",
    "LABEL_NAME_PATTERN",
    "REMOVE_TARGET",
    "SERIES",
    "TARGETS",
    "TARGET_NAME_PATTERN",
    "AddTargetInput",
    "RemoveTargetInput",
    "SeriesAnswer",
    "SeriesInput",
    "Target",
    "TargetList",
    "TargetRemoved",
    "TargetsInput",
]

TARGET_NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
LABEL_NAME_PATTERN = r"^[a-zA-Z_][a-zA-Z0-9_]*$"


def _checked_duration(value: str | None) -> str | None:
    if value is not None:
        parse_duration(value)
    return value


# ---- targets ----------------------------------------------------------------------------


class TargetsInput(ProjectInput):
    pass


class AddTargetInput(ProjectInput):
    name: str = Field(
        pattern=TARGET_NAME_PATTERN,
        description="Name of the target, unique in the project; its samples get the label job=<name>. "
        "Lower-case letters, digits, '_', '.' and '-'.",
    )
    url: str = Field(
        min_length=1,
        max_length=2000,
        description="The exposition to scrape: http(s)://host:port/metrics, or `platform` for the platform's own /metrics.",
    )
    interval: str | None = Field(
        default=None, max_length=32, description=f"How often to scrape: {DURATION_FORM} (default: the platform's, 15s)."
    )
    timeout: str | None = Field(
        default=None,
        max_length=32,
        description=f"A scrape taking longer marks the target down: {DURATION_FORM} (default: the platform's, 10s).",
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        max_length=32,
        description="Labels added to every sample of the target, e.g. {'env': 'prod'} (not job or instance).",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if value == "platform":
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"{value!r} is not an http(s) URL: write http://host:port/metrics, or `platform`")
        if not parts.hostname:
            raise ValueError(f"{value!r} names no host: write http://host:port/metrics")
        try:
            parts.port  # noqa: B018 -- raises on a port out of range or not a number
        except ValueError:
            raise ValueError(f"{value!r} has a bad port: write http://host:port/metrics") from None
        return value

    _interval = field_validator("interval")(_checked_duration)
    _timeout = field_validator("timeout")(_checked_duration)

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not re.match(LABEL_NAME_PATTERN, name) or name.startswith("__"):
                raise ValueError(
                    f"{name!r} is not a label name: letters, digits and '_', not starting with a digit or '__'"
                )
            if name in ("job", "instance"):
                raise ValueError(f"label {name!r} is the scraper's own: the target's name and address set it")
            if len(text) > 1000:
                raise ValueError(f"label {name!r} is longer than 1000 characters")
        return value

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> AddTargetInput:
        if self.interval and self.timeout and parse_duration(self.timeout) > parse_duration(self.interval):
            raise ValueError(f"timeout {self.timeout} is longer than interval {self.interval}: make it at most that")
        return self


class Target(BaseModel):
    name: str
    url: str
    interval_s: float = Field(description="Scrape interval in seconds (the target's, else the platform's).")
    timeout_s: float = Field(description="Scrape timeout in seconds.")
    labels: dict[str, str]
    health: Literal["up", "down", "unknown"] = Field(description="unknown: not scraped yet (by this replica).")
    last_scrape: datetime | None = None
    last_duration_s: float | None = None
    last_error: str = ""
    samples: int | None = Field(default=None, description="Samples the last scrape stored.")
    created_by: str
    created_at: datetime


class TargetList(BaseModel):
    items: list[Target]


class RemoveTargetInput(ProjectInput):
    name: str = Field(
        pattern=TARGET_NAME_PATTERN,
        description="Name of the target to stop scraping (its stored samples stay until retention).",
        json_schema_extra={"x-codeforge-values": "monitoring.targets#name"},
    )


class TargetRemoved(BaseModel):
    name: str
    removed: bool


# ---- series -----------------------------------------------------------------------------


class SeriesInput(ProjectInput):
    """Nothing: the metric names. `label`: that label's values. `match`: the series it selects."""

    match: str = Field(
        default="",
        max_length=2000,
        description='A series selector, e.g. up{job="api"} or {__name__=~"http_.*", status!="200"}.',
    )
    label: str = Field(
        default="",
        max_length=200,
        description="A label name: list its values (among the series `match` selects, when given).",
    )
    start: str = Field(default="1h", max_length=64, description=f"Only series with samples after this: {TIME_FORM}.")
    end: str = Field(default="now", max_length=64, description=f"... and before this: {TIME_FORM}.")
    limit: int = Field(default=1000, ge=1, le=10_000, description="At most this many answers.")

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str) -> str:
        parse_time(value)
        return value

    @field_validator("label")
    @classmethod
    def _label(cls, value: str) -> str:
        if value and not re.match(LABEL_NAME_PATTERN, value):
            raise ValueError(f"{value!r} is not a label name: letters, digits and '_', not starting with a digit")
        return value


class SeriesAnswer(BaseModel):
    kind: Literal["names", "values", "series"]
    values: list[str] = Field(default_factory=list, description="Metric names or label values, sorted.")
    series: list[dict[str, str]] = Field(default_factory=list, description="Label sets of the selected series.")
    truncated: bool = False


TARGETS = declare(
    Operation(
        name="monitoring.targets",
        title="List scrape targets and their health",
        input=TargetsInput,
        output=TargetList,
        permission=Permission.VIEW,
    )
)
ADD_TARGET = declare(
    Operation(
        name="monitoring.add_target",
        title="Scrape a /metrics endpoint",
        input=AddTargetInput,
        output=Target,
        permission=Permission.EDIT,
        target="{project}/{name}",
    )
)
REMOVE_TARGET = declare(
    Operation(
        name="monitoring.remove_target",
        title="Stop scraping a target",
        input=RemoveTargetInput,
        output=TargetRemoved,
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{name}",
    )
)
SERIES = declare(
    Operation(
        name="monitoring.series",
        title="List metric names, label values or series",
        input=SeriesInput,
        output=SeriesAnswer,
        permission=Permission.VIEW,
    )
)
