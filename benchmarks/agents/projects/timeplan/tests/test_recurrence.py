from datetime import datetime, timezone
from itertools import islice

import pytest

from timeplan.recurrence import Rule

START = datetime(2024, 3, 4, 10, 0, tzinfo=timezone.utc)  # a Monday


def test_daily_every_two_days_with_count():
    days = [d.day for d in Rule("daily", interval=2, count=3).occurrences(START)]
    assert days == [4, 6, 8]


def test_weekly_on_weekdays():
    rule = Rule("weekly", weekdays=("fri", "mon"))
    assert [d.day for d in islice(rule.occurrences(START), 4)] == [4, 8, 11, 15]


def test_weekly_starting_midweek_skips_earlier_days():
    rule = Rule("weekly", weekdays=("mon", "thu"), count=2)
    assert [d.day for d in rule.occurrences(START.replace(day=6))] == [7, 11]


def test_until_and_between():
    rule = Rule("daily", until=datetime(2024, 3, 7, 10, 0, tzinfo=timezone.utc))
    assert len(list(rule.occurrences(START))) == 4
    window = Rule("daily").between(
        START, datetime(2024, 3, 10, tzinfo=timezone.utc), datetime(2024, 3, 12, tzinfo=timezone.utc)
    )
    assert [d.day for d in window] == [10, 11]


@pytest.mark.parametrize("kwargs", [{"freq": "hourly"}, {"interval": 0}, {"weekdays": ("mon",)}])
def test_invalid_rules(kwargs):
    with pytest.raises(ValueError):
        Rule(**kwargs)
