"""Prometheus exposition into samples: the text format (0.0.4) and OpenMetrics 1.0, chosen by
the response's Content-Type as Prometheus does, parsed with prometheus_client's own parsers.

A malformed body raises `ExpositionError` with the parser's message and, when one line alone
fails to parse, that line's number and text: the scrape then stores nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families as text_families

__all__ = ["ACCEPT", "ExpositionError", "is_openmetrics", "parse"]

# What the scraper asks for, Prometheus's own Accept header: OpenMetrics first, then text.
ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)

# (labels with __name__, Unix ms, value)
ParsedSample = tuple[dict[str, str], int, float]


class ExpositionError(ValueError):
    def __init__(self, message: str, line: int | None = None, text: str = "") -> None:
        where = f"line {line}: " if line is not None else ""
        shown = f" (in {text[:120]!r})" if text else ""
        super().__init__(f"{where}{message}{shown}")
        self.line = line


def is_openmetrics(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == "application/openmetrics-text"


def parse(body: str, content_type: str, default_ms: int) -> list[ParsedSample]:
    """Every sample of the exposition; samples without their own timestamp get `default_ms`."""
    openmetrics = is_openmetrics(content_type)
    families = openmetrics_families if openmetrics else text_families
    out: list[ParsedSample] = []
    try:
        for family in families(body):
            _samples_of(family, default_ms, out)
    except Exception as exc:  # the parsers raise ValueError, and KeyError/IndexError on some input
        raise _located(exc, body, openmetrics) from None
    return out


def _samples_of(family: Metric, default_ms: int, out: list[ParsedSample]) -> None:
    for sample in family.samples:
        ts = sample.timestamp
        if ts is None:
            t_ms = default_ms
        elif isinstance(ts, int | float):
            t_ms = round(ts * 1000)
        else:  # OpenMetrics' Timestamp(sec, nsec)
            t_ms = int(ts.sec) * 1000 + int(ts.nsec) // 1_000_000
        labels = dict(sample.labels)
        labels["__name__"] = sample.name
        out.append((labels, t_ms, float(sample.value)))


def _message(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, ValueError) else f"{type(exc).__name__}: {text}"


def _located(exc: Exception, body: str, openmetrics: bool) -> ExpositionError:
    """The parser's error, with the first line that fails on its own when there is one (the
    parsers do not say where they stopped)."""
    message = _message(exc)
    parse_one: Callable[[str], Iterable[Metric]] = (
        (lambda line: openmetrics_families(line + "# EOF\n")) if openmetrics else text_families
    )
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        try:
            list(parse_one(line + "\n"))
        except Exception as line_exc:
            return ExpositionError(_message(line_exc), number, line)
    return ExpositionError(message)
