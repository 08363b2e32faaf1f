from datetime import datetime, timezone

from timeplan import Calendar, Event, Rule
from timeplan.ics import escape, fold, to_ics


def test_export():
    cal = Calendar()
    start = datetime(2024, 3, 4, 9, tzinfo=timezone.utc)
    cal.add(Event("Standup, team; daily", start, start.replace(minute=15), Rule("weekly", weekdays=("mon", "wed"))))
    text = to_ics(cal)
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert "SUMMARY:Standup\\, team\\; daily\r\n" in text
    assert "RRULE:FREQ=WEEKLY;BYDAY=MO,WE\r\n" in text
    assert "DTSTART:20240304T090000Z\r\n" in text
    assert text.endswith("END:VCALENDAR\r\n")


def test_fold_long_lines_by_octets():
    lines = fold("SUMMARY:" + "é" * 60)
    assert all(len(line.encode()) <= 75 for line in lines)
    assert all(line.startswith(" ") for line in lines[1:])
    assert "".join(line[1:] if i else line for i, line in enumerate(lines)) == "SUMMARY:" + "é" * 60


def test_escape():
    assert escape("a\\b\nc") == "a\\\\b\\nc"
