"""What a point-in-time report counts (ARCHITECTURE.md §3): the allocations open at `asOf`, from the last
published day's closing state plus every event ingested since, including events no rating has
seen yet.

The base is the closing state of the latest published day whose state can be trusted: when late
events left a restatement pending from day R, the day before R (its state is what rating of R
starts from). Every event logged for the days after the base, up to `asOf`, is replayed on it
(`domain.point_in_time.open_assignments`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from chalicelib.domain.events import ASSIGNMENT_TYPES, KEY_FIELDS, Key
from chalicelib.domain.point_in_time import AssignmentEvent, open_assignments
from chalicelib.services.ports import ClosingStates, DayEvents, UsageCalendar


class PointInTimeCounts:
    def __init__(self, calendar: UsageCalendar, states: ClosingStates, events: DayEvents) -> None:
        self._calendar = calendar
        self._states = states
        self._events = events

    def open_at(self, as_of: datetime, partner_org_ids: Collection[str]) -> dict[Key, int | None]:
        """The usage keys of `partner_org_ids` assigned at `as_of`, and since when."""
        instant = int(as_of.timestamp())
        partners = pa.array(sorted(partner_org_ids), pa.string())
        base_day = self._base_day()
        start: dict[Key, int | None] = {}
        if base_day is not None:
            version = self._calendar.published_versions([base_day])[base_day]
            state = self._states.read_state(base_day, version, partner_org_ids)  # only their partitions
            state = state.filter(pc.is_in(state["partner_org_id"], value_set=partners))
            keys = zip(*(state[name].to_pylist() for name in KEY_FIELDS), strict=True)
            start = dict(zip(keys, state["assigned_since"].to_pylist(), strict=True))
            first = base_day + timedelta(days=1)
        else:
            days = self._events.event_days()
            first = days[0] if days else as_of.date() + timedelta(days=1)
        events: list[AssignmentEvent] = []
        day = first
        while day <= as_of.date():
            table = self._events.read_day(day, ASSIGNMENT_TYPES)
            table = table.filter(pc.is_in(table["partner_org_id"], value_set=partners))
            columns = [table[name].to_pylist() for name in (*KEY_FIELDS, "occurred_at", "event_id", "event_type")]
            width = len(KEY_FIELDS)
            for row in zip(*columns, strict=True):
                events.append((tuple(row[:width]), row[width], row[width + 1], row[width + 2]))
            day += timedelta(days=1)
        return open_assignments(start, events, instant)

    def _base_day(self) -> date | None:
        """The latest published day whose closing state holds every event up to its midnight."""
        latest = self._calendar.latest_published_day()
        if latest is None:
            return None
        marker = self._calendar.pending_restatement()
        day = latest if marker is None or marker.from_day > latest else marker.from_day - timedelta(days=1)
        # Walk back to a published day (days before the data epoch have no state to start from).
        published = self._calendar.published_versions([day - timedelta(days=offset) for offset in range(7)])
        while day not in published:
            if not published or day < min(published):
                return None
            day -= timedelta(days=1)
        return day
