"""Calendar months (UTC) and the day arithmetic around them: which month a day is in, its days,
the months before it, the whole months inside a period, which month a published day closes.
One strict `YYYY-MM` parser (`Month.from_text`) for every caller; each names its own 400 text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

_MONTH = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def from_text(cls, value: object) -> Month | None:
        """A strict `YYYY-MM` (year 0001 or later, month 01-12); None for anything else."""
        match = _MONTH.fullmatch(value) if isinstance(value, str) else None
        if match is None or int(match.group(1)) < 1:
            return None
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    @property
    def day_count(self) -> int:
        return self.last_day.day

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=offset) for offset in range(self.day_count)]

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def back(self, count: int) -> list[Month]:
        """The `count` months ending with this one, oldest first."""
        months = [self]
        while len(months) < count:
            months.append(months[-1].previous())
        return months[::-1]


def last_complete_month(today: date) -> Month:
    """The latest calendar month that is over (UTC): the one before today's."""
    return Month.of(today).previous()


def closed_month(published_day: date) -> Month | None:
    """The month whose last day `published_day` is (its publication completes the month's
    data), or None for any other day."""
    return Month.of(published_day) if (published_day + timedelta(days=1)).day == 1 else None


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


def split_period(start: date, end: date) -> tuple[list[Month], list[date]]:
    """The whole calendar months inside [start, end] and the days left over, in order: what a
    sum over the period reads as cached months plus single days."""
    months: list[Month] = []
    days: list[date] = []
    day = start
    while day <= end:
        month = Month.of(day)
        if day == month.first_day and month.last_day <= end:
            months.append(month)
            day = month.last_day + timedelta(days=1)
        else:
            days.append(day)
            day += timedelta(days=1)
    return months, days
