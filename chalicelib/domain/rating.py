"""Rating one usage key for one UTC day from its events (ARCHITECTURE.md §4).

The key is assigned or not at the start of the day (the state the previous day ended in); its
events of the day, ordered by time then eventId, switch it on and off. An ASSIGNED while
assigned, or an UNASSIGNED while not assigned, changes nothing and is counted as ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from chalicelib.domain.events import EventType
from chalicelib.domain.proration import SECONDS_PER_DAY, day_units


@dataclass(frozen=True)
class KeyDay:
    units: int  # micro-units of the day
    assigned_at_end: bool
    ignored_events: int
    # When the assignment open at the end of the day began, if it began that day (else it was
    # open since before the day, or is not open).
    opened_at: int | None = field(default=None, compare=False)


def rate_key_day(assigned_at_start: bool, events: Iterable[tuple[int, str, str]], day_start: int) -> KeyDay:
    """`events`: (occurred_at epoch seconds, event_id, event_type) of this key within the day,
    deduplicated by event_id. Returns the day's units and the state at midnight."""
    day_end = day_start + SECONDS_PER_DAY
    assigned = assigned_at_start
    since = day_start
    opened_at = None
    seconds = 0
    ignored = 0
    for occurred_at, _, event_type in sorted(events):
        moment = min(max(occurred_at, day_start), day_end)
        if event_type == EventType.PACKAGE_ASSIGNED:
            if assigned:
                ignored += 1
            else:
                assigned, since, opened_at = True, moment, moment
        elif event_type == EventType.PACKAGE_UNASSIGNED:
            if assigned:
                seconds += moment - since
                assigned = False
            else:
                ignored += 1
    if assigned:
        seconds += day_end - since
    return KeyDay(day_units(seconds), assigned, ignored, opened_at if assigned else None)
