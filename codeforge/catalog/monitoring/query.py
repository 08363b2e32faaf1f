"""monitoring.query: a PromQL query over the project's metrics, at one time (instant) or at
every step of a range (docs/monitoring.md). Values are written as Prometheus's HTTP API writes
them (text: `0.25`, `NaN`, `+Inf`), beside their time in Unix seconds."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare
from codeforge.catalog.monitoring.times import DURATION_FORM, TIME_FORM, parse_duration, parse_time

__all__ = ["QUERY", "QueryInput", "QueryResult", "QuerySeries", "ResultType"]

ResultType = Literal["scalar", "string", "vector", "matrix"]


class QueryInput(ProjectInput):
    """An instant query (`time`, default now), or a range query (`start`, with `end` and `step`)."""

    query: str = Field(
        min_length=1,
        max_length=20_000,
        description='A PromQL expression, e.g. sum by (job) (rate(http_requests_total{code=~"5.."}[5m])).',
    )
    time: str | None = Field(
        default=None, max_length=64, description=f"Instant query: evaluate at this time, {TIME_FORM}. Default: now."
    )
    start: str | None = Field(default=None, max_length=64, description=f"Range query: from this time, {TIME_FORM}.")
    end: str | None = Field(
        default=None, max_length=64, description=f"Range query: up to this time, {TIME_FORM}. Default: now."
    )
    step: str | None = Field(
        default=None,
        max_length=32,
        description=f"Range query: one point every step, {DURATION_FORM}. Default: about 250 points over the range.",
    )

    @field_validator("time", "start", "end")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_time(value)
        return value

    @field_validator("step")
    @classmethod
    def _step(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) <= 0:
            raise ValueError(f"{value!r} is not a step: write {DURATION_FORM}, more than zero")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> QueryInput:
        if self.time is not None and (self.start, self.end, self.step) != (None, None, None):
            raise ValueError("give either `time` (an instant query) or `start`/`end`/`step` (a range query), not both")
        if self.start is None and (self.end is not None or self.step is not None):
            raise ValueError("a range query needs `start` (e.g. 1h for an hour ago); `end` and `step` only go with it")
        return self


class QuerySeries(BaseModel):
    labels: dict[str, str] = Field(description="The series' labels (with __name__ where the result keeps it).")
    values: list[tuple[float, str]] = Field(
        description="(Unix seconds, value) pairs oldest first; one pair for a vector's sample or a scalar."
    )


class QueryResult(BaseModel):
    result_type: ResultType = Field(
        description="scalar or string (one series without labels), vector (instant), matrix (a range query, or an "
        "instant range selector such as up[5m])."
    )
    series: list[QuerySeries]
    warnings: list[str] = Field(
        default_factory=list, description="What may make the answer surprising: selectors matching nothing, ..."
    )
    start: float = Field(description="Unix seconds of the first evaluation (an instant query's time).")
    end: float = Field(description="Unix seconds of the last evaluation.")
    step: float = Field(description="Seconds between evaluations (0 for an instant query).")


QUERY = declare(
    Operation(
        name="monitoring.query",
        title="Run a PromQL query over the project's metrics",
        input=QueryInput,
        output=QueryResult,
        permission=Permission.VIEW,
        audit_success=False,
    )
)
