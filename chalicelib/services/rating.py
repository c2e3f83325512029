"""Daily rating (DESIGN §5): events → per-key prorated micro-units of a UTC day → the lake.

Rating day D starts from the state D-1 ended in (the keys assigned at midnight, saved beside
D-1's usage), replays D's events, and writes D's usage and end state as a new version, then
publishes it. Keys with no events that day stay assigned all day (1 000 000 units); only keys
with events are walked one by one (`domain.rating.rate_key_day`).

A publication is announced by the `usage_days` item it writes (its stream record reaches the
regeneration service, DESIGN §2): nothing here calls anyone in-process. Late events leave a
restatement marker (`UsageCalendar.request_restatement`); `restate_pending` re-rates from it,
at most `RESTATE_DAYS_PER_RUN` days per call, and moves the marker on, so the next call (the
marker's own stream record, the schedule, `wbr rate`) resumes where this one stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pyarrow as pa

from chalicelib.compute import STATE_SCHEMA, sealed_connection
from chalicelib.domain.events import ASSIGNMENT_TYPES, KEY_FIELDS
from chalicelib.domain.proration import MICRO_UNITS_PER_UNIT, day_start_epoch
from chalicelib.domain.rating import rate_key_day

# Days re-rated per invocation: one rated day costs well under a second here, so a call stays
# far inside a Lambda's limit; a longer restatement continues in the next call.
RESTATE_DAYS_PER_RUN = 31


class RatingGap(Exception):
    """The day before has events but is not rated yet: rate from the first unrated day."""


@dataclass(frozen=True)
class RatedDay:
    day: date
    version: int
    usage_rows: int
    open_keys: int
    ignored_events: int


class RatingService:
    def __init__(
        self,
        event_log: Any,
        lake: Any,
        calendar: Any,
        duckdb_threads: int = 2,
    ) -> None:
        self._events = event_log
        self._lake = lake
        self._calendar = calendar
        self._duckdb_threads = duckdb_threads

    # ---- use cases ----------------------------------------------------------------------

    def rate_range(
        self, first: date, last: date, progress: Callable[[int, int], None] = lambda done, total: None
    ) -> list[RatedDay]:
        """Rate first..last in order (each day needs the one before)."""
        total = (last - first).days + 1
        first_event_day = self._first_event_day()
        rated = []
        for offset in range(total):
            rated.append(self._rate_day(first + timedelta(days=offset), first_event_day))
            progress(offset + 1, total)
        return rated

    def rate_through(self, last: date, progress: Callable[[int, int], None] = lambda d, t: None) -> list[RatedDay]:
        """Rate every day not yet rated up to `last` (the schedule: yesterday)."""
        latest = self._calendar.latest_published_day()
        if latest is not None:
            first = latest + timedelta(days=1)
        else:
            event_days = self._events.event_days()
            if not event_days:
                return []
            first = event_days[0]
        return self.rate_range(first, last, progress) if first <= last else []

    def backfill(
        self, first: date, last: date, progress: Callable[[int, int], None] = lambda d, t: None
    ) -> list[RatedDay]:
        """Publish first..last whatever was rated before (`wbr rate --from --to`): the unrated
        days with events before `first` that rating `first` needs are rated first."""
        return self.rate_range(self._first_needed(first), last, progress)

    def restate_pending(
        self, max_days: int = RESTATE_DAYS_PER_RUN, progress: Callable[[int, int], None] = lambda d, t: None
    ) -> list[RatedDay]:
        """Re-rate at most `max_days` days from the restatement marker, then move it on (or
        remove it once the latest published day is re-rated). A marker moved earlier meanwhile
        (more late events) stays for the next call."""
        marker = self._calendar.pending_restatement()
        if marker is None:
            return []
        latest = self._calendar.latest_published_day()
        if latest is None or marker.from_day > latest:  # nothing rated there yet: rating will see the events
            self._calendar.advance_restatement(marker, None)
            return []
        last = min(marker.from_day + timedelta(days=max_days - 1), latest)
        rated = self.rate_range(self._first_needed(marker.from_day), last, progress)
        self._calendar.advance_restatement(marker, None if last >= latest else last + timedelta(days=1))
        return rated

    def _first_needed(self, day: date) -> date:
        """`day`, or the first unrated day with events before it (rating `day` needs the state
        its previous day ended in; days before the data epoch need nothing)."""
        epoch = self._first_event_day()
        if epoch is None or epoch >= day:
            return day
        before = [epoch + timedelta(days=offset) for offset in range((day - epoch).days)]
        published = self._calendar.published_versions(before)
        first = day
        while first > epoch and (first - timedelta(days=1)) not in published:
            first -= timedelta(days=1)
        return first

    def rate_day(self, day: date) -> RatedDay:
        return self._rate_day(day, self._first_event_day())

    def _rate_day(self, day: date, first_event_day: date | None, attempts: int = 5) -> RatedDay:
        """Rate `day` as a version no other run can take; if the previous day was restated
        meanwhile, rate again from its new state (concurrent runs never publish stale data)."""
        previous = day - timedelta(days=1)
        versions = self._calendar.published_versions([previous, day])
        if previous in versions:
            state = self._lake.read_state(previous, versions[previous])
        elif first_event_day is not None and first_event_day < day:
            raise RatingGap(f"{previous.isoformat()} is not rated yet; rate the days before {day.isoformat()} first")
        else:
            state = STATE_SCHEMA.empty_table()
        events = self._events.read_day(day, ASSIGNMENT_TYPES)
        usage, new_state, ignored = self._rate(day, state, events)
        version = versions.get(day, 0) + 1
        while not self._calendar.claim(day, version):  # another run rates this day too
            version += 1
        rows = self._lake.write_day(day, version, usage)
        self._lake.write_state(day, version, new_state)
        self._calendar.publish(day, version, rows)  # a newer claim's result wins; its stream record announces it
        if attempts > 1 and self._calendar.published_versions([previous]).get(previous) != versions.get(previous):
            return self._rate_day(day, first_event_day, attempts - 1)  # D-1 was restated meanwhile
        return RatedDay(day, version, rows, new_state.num_rows, ignored)

    # ---- internals ----------------------------------------------------------------------

    def _first_event_day(self) -> date | None:
        event_days = self._events.event_days()
        return event_days[0] if event_days else None

    def _rate(self, day: date, state: pa.Table, events: pa.Table) -> tuple[pa.Table, pa.Table, int]:
        keys = ", ".join(KEY_FIELDS)
        connection = sealed_connection(self._duckdb_threads)
        try:
            connection.register("state", state)
            connection.register("events", events)
            connection.execute(
                f"CREATE TEMP TABLE day_events AS SELECT DISTINCT ON (event_id) {keys}, occurred_at, event_id, "
                "event_type FROM events"
            )
            connection.execute(f"CREATE TEMP TABLE touched AS SELECT DISTINCT {keys} FROM day_events")
            untouched = connection.sql(
                f"SELECT {keys}, assigned_since FROM state ANTI JOIN touched USING ({keys})"
            ).to_arrow_table()
            open_before = {
                tuple(row[:-1]): row[-1]
                for row in connection.sql(
                    f"SELECT {keys}, assigned_since FROM state SEMI JOIN touched USING ({keys})"
                ).fetchall()
            }
            walked = connection.sql(
                f"SELECT {keys}, occurred_at, event_id, event_type FROM day_events "
                f"ORDER BY {keys}, occurred_at, event_id"
            ).fetchall()
        finally:
            connection.close()
        width = len(KEY_FIELDS)
        day_start = day_start_epoch(day)
        usage_keys: list[tuple[str, ...]] = []
        usage_units: list[int] = []
        still_open: list[tuple[str, ...]] = []
        open_since: list[int | None] = []
        ignored = 0
        start = 0
        while start < len(walked):
            key = walked[start][:width]
            end = start
            while end < len(walked) and walked[end][:width] == key:
                end += 1
            result = rate_key_day(key in open_before, [row[width:] for row in walked[start:end]], day_start)
            ignored += result.ignored_events
            if result.units:
                usage_keys.append(key)
                usage_units.append(result.units)
            if result.assigned_at_end:
                still_open.append(key)
                open_since.append(result.opened_at if result.opened_at is not None else open_before.get(key))
            start = end
        walked_usage = {name: [key[i] for key in usage_keys] for i, name in enumerate(KEY_FIELDS)}
        walked_state = {name: [key[i] for key in still_open] for i, name in enumerate(KEY_FIELDS)}
        walked_state["assigned_since"] = open_since  # type: ignore[assignment]
        untouched_keys = untouched.select(KEY_FIELDS)
        usage = pa.concat_tables(
            [
                untouched_keys.append_column(
                    "units", pa.array([MICRO_UNITS_PER_UNIT] * untouched.num_rows, pa.int64())
                ),
                pa.table(
                    {**walked_usage, "units": pa.array(usage_units, pa.int64())},
                    schema=untouched_keys.schema.append(pa.field("units", pa.int64())),
                ),
            ]
        )
        usage = usage.add_column(0, "usage_date", pa.array([day] * usage.num_rows, pa.date32()))
        new_state = pa.concat_tables([untouched.cast(STATE_SCHEMA), pa.table(walked_state, schema=STATE_SCHEMA)])
        return usage, new_state, ignored
