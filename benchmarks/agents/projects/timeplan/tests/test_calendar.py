from datetime import date, datetime, timedelta, timezone

import pytest

from timeplan import Calendar, Event, Rule, WorkHours


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=timezone.utc)


def test_event_validation():
    with pytest.raises(ValueError):
        Event("backwards", at(4, 10), at(4, 9))
    with pytest.raises(ValueError):
        Event("naive", datetime(2024, 3, 4, 9), datetime(2024, 3, 4, 10))


def test_recurring_instances_on_a_day():
    cal = Calendar()
    cal.add(Event("standup", at(4, 9), at(4, 9, 15), Rule("daily")))
    cal.add(Event("review", at(6, 14), at(6, 15)))
    assert [(s.hour, ev.title) for s, _, ev in cal.on(date(2024, 3, 6))] == [(9, "standup"), (14, "review")]


def test_conflicts():
    cal = Calendar()
    cal.add(Event("a", at(4, 9), at(4, 10)))
    cal.add(Event("b", at(4, 9, 30), at(4, 11)))
    cal.add(Event("c", at(4, 11), at(4, 12)))
    assert [(x.title, y.title) for x, y in cal.conflicts(date(2024, 3, 4))] == [("a", "b")]


def test_busy_merges_overlaps():
    cal = Calendar()
    cal.add(Event("a", at(4, 9), at(4, 10)))
    cal.add(Event("b", at(4, 9, 30), at(4, 11)))
    cal.add(Event("c", at(4, 13), at(4, 14)))
    assert cal.busy(date(2024, 3, 4)) == [(at(4, 9), at(4, 11)), (at(4, 13), at(4, 14))]


def test_event_spanning_midnight_counts_on_both_days():
    cal = Calendar()
    cal.add(Event("deploy", at(4, 23), at(5, 1)))
    assert len(cal.on(date(2024, 3, 4))) == 1 and len(cal.on(date(2024, 3, 5))) == 1


def test_work_hours():
    hours = WorkHours.parse("mon-thu 08:30-16:00")
    assert hours.days == ("mon", "tue", "wed", "thu")
    assert hours.window(date(2024, 3, 8)) is None
    start, end = hours.window(date(2024, 3, 4))
    assert end - start == timedelta(hours=7, minutes=30)
    with pytest.raises(ValueError):
        WorkHours.parse("mon-fri")
