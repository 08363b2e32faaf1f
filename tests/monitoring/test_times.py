"""The one reading of durations and times every monitoring input uses
(codeforge/catalog/monitoring/times.py): what a person types, and what it says when wrong."""

from __future__ import annotations

import pytest

from codeforge.catalog.errors import BadInput
from codeforge.catalog.monitoring.times import (
    format_duration,
    parse_duration,
    parse_duration_field,
    parse_time,
    parse_time_field,
    parse_time_ns_field,
)


def test_durations_as_prometheus_writes_them() -> None:
    assert parse_duration("1h30m") == 5400 and parse_duration(" 500ms ") == 0.5 and parse_duration("1y") == 365 * 86400
    for bad in ("", "5", "1m1h", "1.5s", "-1s", "5 minutes", "30m1h", "\uff11s"):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)
    with pytest.raises(ValueError, match="largest to smallest"):
        parse_duration("30m1h")
    for seconds, text in [(5400, "1h30m"), (0, "0s"), (0.5, "500ms"), (90.25, "1m30s250ms"), (8 * 86400, "1w1d")]:
        assert format_duration(seconds) == text and parse_duration(text) == seconds


def test_times_in_every_form() -> None:
    assert parse_time("now", now=1000.0) == 1000.0 and parse_time("NOW", now=1000.0) == 1000.0
    assert parse_time("15m", now=1000.0) == 100.0 and parse_time("15m ago", now=1000.0) == 100.0
    assert parse_time("2026-01-31T12:00:00Z") == 1769860800.0
    assert parse_time("2026-01-31T14:00:00+02:00") == 1769860800.0
    assert parse_time("1769860800") == 1769860800.0 and parse_time("1769860800.5") == 1769860800.5
    with pytest.raises(ValueError, match="no time zone"):
        parse_time("2026-01-31T12:00:00")
    for bad in ("yesterday", "", "inf", "nan", "15 m", "ago", "1m1h ago", "2026-13-01T00:00:00Z"):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_field_forms_name_the_field_and_keep_nanoseconds() -> None:
    now_ns = 10**18 + 7
    assert parse_time_ns_field("since", "now", now_ns) == now_ns
    assert parse_time_ns_field("since", "2h ago", now_ns) == now_ns - 2 * 3600 * 10**9
    assert parse_time_ns_field("since", "2024-05-01T12:00:00Z") == 1714564800 * 10**9
    for field, bad, says in [("since", "yesterday", "is not a time"), ("until", "2024-05-01T12:00:00", "no time zone")]:
        with pytest.raises(BadInput) as caught:
            parse_time_ns_field(field, bad)
        [problem] = caught.value.errors
        assert problem.field == field and says in problem.message and problem.fix, problem
    with pytest.raises(BadInput) as caught:
        parse_time_field("starts", "soon")
    assert caught.value.errors[0].field == "starts"
    with pytest.raises(BadInput) as caught:
        parse_duration_field("window", "5 minutes")
    assert caught.value.errors[0].field == "window" and "30s" in caught.value.errors[0].fix
