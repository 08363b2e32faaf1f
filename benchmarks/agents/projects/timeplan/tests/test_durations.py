from datetime import timedelta

import pytest

from timeplan.durations import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w2d", timedelta(days=9)),
        ("45s", timedelta(seconds=45)),
        ("1h 5m", timedelta(hours=1, minutes=5)),
        (" 90 ", timedelta(minutes=90)),
        ("1H30M", timedelta(hours=1, minutes=30)),
    ],
    ids=["hours-minutes", "days", "weeks-days", "seconds", "spaced", "bare-minutes", "upper-case"],
)
def test_parse(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "h", "1x", "30m1h", "1h1h", "1h 30", "one hour", "1.5h"],
    ids=["empty", "no-number", "bad-unit", "wrong-order", "repeated", "trailing-number", "words", "fraction"],
)
def test_parse_rejects(text):
    with pytest.raises(DurationError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(0), "0m"),
        (timedelta(days=10, seconds=5), "10d5s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(hours=25), "1d1h"),
    ],
    ids=["hours-minutes", "zero", "days-seconds", "seconds", "carry-to-days"],
)
def test_format(value, text):
    assert format_duration(value) == text


def test_format_negative():
    with pytest.raises(DurationError):
        format_duration(timedelta(minutes=-1))


def test_round_trip():
    for text in ["1d2h3m4s", "5m", "3h"]:
        assert format_duration(parse_duration(text)) == text
