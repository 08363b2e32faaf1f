"""Working hours: a daily window on some weekdays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timezone

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WorkHours:
    start: time = time(9, 0)
    end: time = time(17, 0)
    days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")

    def __post_init__(self) -> None:
        if self.start >= self.end:
            raise ValueError("working hours must end after they start")
        unknown = [d for d in self.days if d not in WEEKDAYS]
        if unknown:
            raise ValueError(f"unknown weekdays: {', '.join(unknown)}")

    @classmethod
    def parse(cls, text: str) -> WorkHours:
        """'mon-fri 09:00-17:30' or 'mon,wed 08:00-12:00'."""
        try:
            days_text, hours_text = text.split()
            start_text, end_text = hours_text.split("-")
        except ValueError:
            raise ValueError(f"cannot read working hours {text!r}") from None
        if "-" in days_text:
            first, last = days_text.split("-")
            days = WEEKDAYS[WEEKDAYS.index(first) : WEEKDAYS.index(last) + 1]
        else:
            days = tuple(days_text.split(","))
        return cls(time.fromisoformat(start_text), time.fromisoformat(end_text), days)

    def works_on(self, day: date) -> bool:
        return WEEKDAYS[day.weekday()] in self.days

    def window(self, day: date, tz: timezone = timezone.utc) -> tuple[datetime, datetime] | None:
        """The working window of `day`, or None on a day off."""
        if not self.works_on(day):
            return None
        return datetime.combine(day, self.start, tz), datetime.combine(day, self.end, tz)
