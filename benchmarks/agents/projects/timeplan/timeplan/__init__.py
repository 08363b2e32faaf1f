"""Durations, recurrence, working hours, a calendar and iCalendar export."""

from timeplan.calendar import Calendar, Event
from timeplan.durations import format_duration, parse_duration
from timeplan.recurrence import Rule
from timeplan.workhours import WorkHours

__all__ = ["Calendar", "Event", "Rule", "WorkHours", "format_duration", "parse_duration"]
