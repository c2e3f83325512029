"""Daily proration (ARCHITECTURE.md §3, §4): seconds assigned in a UTC day → integer micro-units.

All arithmetic is on integers; a full day is 1 000 000 micro-units.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone

MICRO_UNITS_PER_UNIT = 1_000_000
QUANTITY_DECIMALS = len(str(MICRO_UNITS_PER_UNIT)) - 1  # a QUANTITY has at most 6 decimals
SECONDS_PER_DAY = 86_400

Interval = tuple[int, int]  # [start, end) in epoch seconds


def day_units(seconds_assigned: int) -> int:
    """round_half_up(seconds × 1 000 000 / 86 400) for 0 <= seconds <= 86 400."""
    if not 0 <= seconds_assigned <= SECONDS_PER_DAY:
        raise ValueError(f"seconds_assigned out of range: {seconds_assigned}")
    return (seconds_assigned * MICRO_UNITS_PER_UNIT * 2 + SECONDS_PER_DAY) // (2 * SECONDS_PER_DAY)


def format_quantity(units: int) -> str:
    """Micro-units as a plain decimal with trailing zeros removed: 31, 15.5, 0.041667."""
    if units < 0:
        raise ValueError("quantities are never negative")
    whole, fraction = divmod(units, MICRO_UNITS_PER_UNIT)
    if fraction == 0:
        return str(whole)
    return f"{whole}.{fraction:0{QUANTITY_DECIMALS}d}".rstrip("0")


def seat_equivalents(units: int, days: int) -> int:
    """SEAT_EQUIVALENTS in micro-units: QUANTITY ÷ days of the period, rounded half up to
    QUANTITY_DECIMALS decimals (round_half_up(units / days)), on integers."""
    if units < 0 or days <= 0:
        raise ValueError(f"seat equivalents need units >= 0 and days > 0, got {units} and {days}")
    return (units * 2 + days) // (2 * days)


def format_seats(micro_seats: int) -> str:
    """Seat equivalents as a fixed decimal of QUANTITY_DECIMALS decimals: 1.000000, 0.516129."""
    whole, fraction = divmod(micro_seats, MICRO_UNITS_PER_UNIT)
    return f"{whole}.{fraction:0{QUANTITY_DECIMALS}d}"


def day_start_epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())


def epoch_day(epoch_seconds: int) -> date:
    return datetime.fromtimestamp(epoch_seconds, tz=timezone.utc).date()


def union_length(intervals: Iterable[Interval]) -> int:
    """Length in seconds of the union of half-open intervals."""
    total = 0
    current_start: int | None = None
    current_end = 0
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if current_start is None or start > current_end:
            if current_start is not None:
                total += current_end - current_start
            current_start, current_end = start, end
        else:
            current_end = max(current_end, end)
    if current_start is not None:
        total += current_end - current_start
    return total


def units_by_day(intervals: Iterable[Interval]) -> dict[date, int]:
    """Micro-units per UTC day for one usage key, from its assigned intervals (any overlap).

    Days with zero seconds assigned are absent. Each day is rated on its own, so splitting an
    interval at midnight never changes the result.
    """
    clipped: dict[date, list[Interval]] = {}
    for start, end in intervals:
        cursor = start
        while cursor < end:
            day = epoch_day(cursor)
            next_midnight = day_start_epoch(day + timedelta(days=1))
            piece_end = min(end, next_midnight)
            clipped.setdefault(day, []).append((cursor, piece_end))
            cursor = piece_end
    result: dict[date, int] = {}
    for day, pieces in clipped.items():
        units = day_units(union_length(pieces))
        if units > 0:
            result[day] = units
    return result
