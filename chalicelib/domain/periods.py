"""Billing periods: strict date parsing and the window a report may cover (ARCHITECTURE.md §2)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.timestamps import parse_iso

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# How the Webex Python SDK sends list filters: an ISO-8601 UTC datetime.
_UTC_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|\+00:00)$")
# Local midnight of a date D, in any UTC offset from -10:00 to +13:45, is an instant at or before
# 10:00 UTC on D (offsets <= 0) or after 10:00 UTC on the day before D (offsets > 0).
LOCAL_MIDNIGHT_CUTOFF = time(10, 0)
LOOKBACK_YEARS = 5


def parse_strict_date(field: str, value: object) -> date:
    """Parse `YYYY-MM-DD` exactly; anything else raises InvalidRequest naming `field`."""
    if not isinstance(value, str) or not _DATE.match(value):
        raise InvalidRequest(
            f"{field} must be a date in YYYY-MM-DD format",
            [f"{field}: expected YYYY-MM-DD, got {value!r}"],
        )
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidRequest(
            f"{field} is not a valid calendar date", [f"{field}: {value!r} is not a calendar date"]
        ) from None


def parse_filter_date(field: str, value: str) -> date:
    """A list filter date: `YYYY-MM-DD`, or an ISO-8601 UTC datetime meaning the date whose local
    midnight it is.

    The Webex Python SDK turns a filter date into the UTC instant of the caller's *local* midnight
    (`dt_iso_str(isoparse("2026-10-01"))` in wxc_sdk): `2026-10-01T00:00:00.000Z` on a machine in
    UTC, `2026-10-01T04:00:00.000Z` in New York (EDT), `2026-09-30T22:00:00.000Z` in Berlin (CEST).
    So a time of day up to 10:00 UTC names its UTC date and a later one the next date: right for
    every offset from UTC-10:00 (Hawaii) to UTC+13:45 (Chatham Islands); midnight UTC is the plain
    date under any rule.
    """
    match = _UTC_DATETIME.match(value)
    if match:
        try:
            moment = parse_iso(value)
        except ValueError:
            raise InvalidRequest(
                f"{field} is not a valid date", [f"{field}: {value!r} is not a valid datetime"]
            ) from None
        day = date.fromisoformat(match.group(1))
        if moment.time() <= LOCAL_MIDNIGHT_CUTOFF:
            return day
        if day == date.max:
            raise InvalidRequest(f"{field} is out of range", [f"{field}: {value!r} is after the last date"])
        return day + timedelta(days=1)
    return parse_strict_date(field, value)


def utc_today(now: datetime) -> date:
    return now.astimezone(timezone.utc).date()


def years_before(day: date, years: int) -> date:
    """The same calendar date `years` earlier; 29 February falls back to 28 February."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class BillingPeriod:
    """An inclusive range of whole UTC days."""

    start: date
    end: date

    @classmethod
    def validated(cls, start: date, end: date, today: date) -> BillingPeriod:
        """A period a report may cover: start <= end < today, start >= today five years ago."""
        problems: list[str] = []
        if start > end:
            problems.append("billingStartDate must be on or before billingEndDate")
        if end >= today:
            problems.append(
                f"billingEndDate must be before today ({today.isoformat()} UTC): "
                "the current day and future days have no usage yet"
            )
        earliest = years_before(today, LOOKBACK_YEARS)
        if start < earliest:
            problems.append(
                f"billingStartDate must be on or after {earliest.isoformat()} (at most {LOOKBACK_YEARS} years back)"
            )
        if problems:
            raise InvalidRequest(problems[0], problems)
        return cls(start, end)

    def days(self) -> Iterator[date]:
        day = self.start
        while day <= self.end:
            yield day
            day += timedelta(days=1)

    @property
    def day_count(self) -> int:
        return (self.end - self.start).days + 1
