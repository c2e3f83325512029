"""Daily rating (ARCHITECTURE.md §4): events → per-key prorated micro-units of a UTC day → the lake.

Rating day D starts from the state D-1 ended in (the keys assigned at midnight, saved beside
D-1's usage), replays D's events, and writes D's usage and end state as a new version, then
publishes it. Keys with no events that day stay assigned all day (1 000 000 units); only keys
with events are walked one by one (`domain.rating.rate_key_day`).

A publication is announced by the `usage_days` item it writes (its stream record reaches the
regeneration service, ARCHITECTURE.md §6): nothing here calls anyone in-process. Late events leave a
restatement marker (`UsageCalendar.request_restatement`); `restate_pending` re-rates from it,
at most `RESTATE_DAYS_PER_RUN` days per call, and moves the marker on, so the next call (the
marker's own stream record, the schedule, `wbr rate`) resumes where this one stopped.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pyarrow as pa

from chalicelib.domain.events import ASSIGNMENT_TYPES
from chalicelib.domain.proration import day_start_epoch
from chalicelib.domain.rating import rate_key_day
from chalicelib.domain.restatement import RestatementPass
from chalicelib.services.ports import DayEvents, DayReplay, RatingCalendar, RatingLake
from chalicelib.services.usage_ports import RollupWriter

# Days re-rated per invocation: one rated day costs well under a second here, so a call stays
# far inside a Lambda's limit; a longer restatement continues in the next call.
RESTATE_DAYS_PER_RUN = 31
# An ingest that announced a landing this long ago and never asked for its restatement died
# (Settings.stale_landing_seconds).
STALE_LANDING_GRACE = timedelta(minutes=10)


class RatingGap(Exception):
    """The day before has events but is not rated yet: rate from the first unrated day."""


@dataclass(frozen=True)
class RatedDay:
    day: date
    version: int
    usage_rows: int
    open_keys: int
    ignored_events: int
    # what the lake wrote (a restatement writes only the partitions whose rows changed)
    partitions: int = 0
    partitions_written: int = 0
    bytes_written: int = 0


class RatingService:
    def __init__(
        self,
        event_log: DayEvents,
        lake: RatingLake,
        calendar: RatingCalendar,
        replay: DayReplay,
        logger: Any = None,
        stale_landing_grace: timedelta = STALE_LANDING_GRACE,
        rollups: RollupWriter | None = None,
    ) -> None:
        """`rollups`, when given, gets every day version's usage before it is published (the
        read API's per-day rollup beside the lake, DESIGN §12)."""
        self._stale_landing_grace = stale_landing_grace
        self._log = logger if logger is not None else logging.getLogger(__name__)
        self._events = event_log
        self._lake = lake
        self._calendar = calendar
        self._replay = replay
        self._rollups = rollups

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
        """One restatement pass: re-rate at most `max_days` days from the marker's earliest
        obligation, then settle the requests it saw (domain/restatement.py); requests that
        arrived while it ran stay for the next pass, whatever day they name. Landings whose
        ingest died before asking are asked for first (`ask_for_stale_landings`)."""
        self.ask_for_stale_landings()
        marker = self._calendar.restatement_marker()
        if not marker.pending:
            return []
        latest = self._calendar.latest_claimed_day()  # read after the snapshot: see domain/restatement.py
        if latest is None or marker.from_day > latest:  # nothing rated there yet: rating will read the events
            self._calendar.settle_restatement(marker.seq, marker.from_day, finished=True)
            return []
        first = self._first_needed(marker.from_day)
        last = min(marker.from_day + timedelta(days=max_days - 1), latest)
        started = datetime.now(timezone.utc)
        pass_id = f"{started.strftime('%Y%m%dT%H%M%S')}-{marker.seq}-{uuid.uuid4().hex[:8]}"
        total = (last - first).days + 1

        def report(done: int, _total: int, finished: bool = False) -> None:
            now = datetime.now(timezone.utc)
            self._calendar.record_restatement_pass(
                RestatementPass(pass_id, marker.seq, first, last, done, total, started, now, finished)
            )
            self._log.info(
                "restatement pass settled" if finished else "restatement pass progress",
                extra={
                    "pass": pass_id,
                    "fromDay": first.isoformat(),
                    "through": last.isoformat(),
                    "daysDone": done,
                    "daysTotal": total,
                    "sawRequestsThrough": marker.seq,
                },
            )
            progress(done, total)

        report(0, total)
        rated = self.rate_range(first, last, report)
        settled = self._calendar.settle_restatement(marker.seq, last, finished=last >= latest)
        report(total, total, finished=True)
        if settled.pending:
            self._log.info(
                "restatement still pending",
                extra={"pendingFrom": settled.from_day.isoformat(), "requests": len(settled.obligations)},
            )
        return rated

    def ask_for_stale_landings(self, grace: timedelta | None = None) -> list[date]:
        """Ingests that landed events and died before asking for their restatement (kill -9,
        a Lambda timeout): ask for them now (the sweep, every pass). An ingest still running
        for longer than `grace` is asked for early, which costs a pass and loses nothing."""
        grace = self._stale_landing_grace if grace is None else grace
        stale = self._calendar.stale_landings(datetime.now(timezone.utc) - grace)
        for day in sorted(set(stale.values())):
            self._calendar.request_restatement(day)
            self._log.warning(
                "restatement asked for an ingest that died before asking", extra={"fromDay": day.isoformat()}
            )
        if stale:
            self._calendar.landings_asked(stale)
        return sorted(set(stale.values()))

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
            state = self._replay.empty_state()
        version = versions.get(day, 0) + 1
        # claimed before the events are read: a run that claims later reads later, so the highest
        # version has the latest events, and an ingest that lands after the claim asks for a pass
        while not self._calendar.claim(day, version):  # another run rates this day too
            version += 1
        events = self._events.read_day(day, ASSIGNMENT_TYPES)
        usage, new_state, ignored = self._rate(day, state, events)
        earlier = versions.get(day)  # a restatement keeps the partitions whose rows did not change
        written = self._lake.write_day(day, version, usage, earlier)
        state_written = self._lake.write_state(day, version, new_state, earlier)
        if self._rollups is not None:  # beside the lake, before the publication names the version
            self._rollups.write_day(day, version, usage, earlier, events)
        self._calendar.publish(
            day, version, written.rows
        )  # a newer claim's result wins; its stream record announces it
        if attempts > 1 and self._calendar.published_versions([previous]).get(previous) != versions.get(previous):
            return self._rate_day(day, first_event_day, attempts - 1)  # D-1 was restated meanwhile
        return RatedDay(
            day,
            version,
            written.rows,
            new_state.num_rows,
            ignored,
            written.partitions,
            written.partitions_written,
            written.bytes_written + state_written.bytes_written,
        )

    # ---- internals ----------------------------------------------------------------------

    def _first_event_day(self) -> date | None:
        event_days = self._events.event_days()
        return event_days[0] if event_days else None

    def _rate(self, day: date, state: pa.Table, events: pa.Table) -> tuple[pa.Table, pa.Table, int]:
        """The day's usage, closing state and ignored events: every key the events touch goes
        through the domain's rule (`rate_key_day`); the replay adapter does the table work."""
        touched = self._replay.touched(state, events)
        day_start = day_start_epoch(day)
        rated = [(key, rate_key_day(key in touched.open_before, replay, day_start)) for key, replay in touched.keys()]
        usage, new_state = self._replay.tables(day, touched, rated)
        return usage, new_state, sum(result.ignored_events for _, result in rated)
