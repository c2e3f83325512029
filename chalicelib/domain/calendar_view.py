"""What the usage calendar says of some days at one moment: each published day's (version, usage
rows, when published), the latest published day, and the data epoch (the first day any event
occurred on). The read API needs all three on every request, so the calendar answers them in
one read (adapters/usage_calendar.py `view`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class CalendarView:
    publications: dict[date, tuple[int, int, str | None]]  # day → (version, rows, publishedAt)
    latest_published_day: date | None
    data_epoch: date | None

    @property
    def versions(self) -> dict[date, int]:
        """The published version of each published day asked for."""
        return {day: version for day, (version, _, _) in self.publications.items()}

    def of(self, days: list[date]) -> dict[date, tuple[int, int, str | None]]:
        """The publications of `days` only (a view read for more days than one answer needs)."""
        return {day: self.publications[day] for day in days if day in self.publications}
