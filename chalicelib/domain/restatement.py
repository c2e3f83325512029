"""The restatement marker's rule (ARCHITECTURE.md §4.3): late events oblige re-rating, and no
request is ever lost, whatever passes are pending, running, finishing or dying.

Late events for a rated day D leave an *obligation*: "every day from D on must be re-rated by a
pass that starts after this request". Each request gets the next sequence number `seq`. A
restatement pass reads the marker (its *snapshot*: the highest `seq` it saw), re-rates from the
earliest obligation's day through some day `through`, and then settles what it did:

- an obligation the pass saw (its `seq` ≤ the snapshot) whose days start on or before `through`
  now only obliges the days after `through` (the pass re-rated the others after the events had
  landed) — or nothing, when the pass went through the latest rated day (`finished`: the days
  after it were not rated yet when the pass looked, so their first rating reads the events);
- an obligation the pass did not see (a request that arrived while it ran, for any day — earlier,
  equal or later — even one it had already re-rated) is left as it is: the next pass takes it.

A pass that dies settles nothing: its obligations stay for the next one. Several passes may run
at once; each settles only what it saw, so their order does not matter.

The marker stays small: an obligation that a newer one at an earlier (or the same) day covers is
dropped (any pass that satisfies the newer one satisfies it too), so the kept obligations grow
with both `seq` and day: at most one per distinct day.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True, order=True)
class Obligation:
    """Days from `from_day` on must be re-rated by a pass whose snapshot is at least `seq`."""

    seq: int
    from_day: date


@dataclass(frozen=True)
class RestatementMarker:
    """What late events oblige rating to do. `seq` is the last number handed out (and the
    marker's version: every change raises it, so writers can compare and set)."""

    seq: int = 0
    obligations: tuple[Obligation, ...] = ()

    @property
    def pending(self) -> bool:
        return bool(self.obligations)

    @property
    def from_day(self) -> date:
        """Where the next pass starts: the earliest obliged day."""
        return min(obligation.from_day for obligation in self.obligations)

    def requested(self, day: date) -> RestatementMarker:
        """Late events for `day` landed (before this request): oblige every day from it on."""
        seq = self.seq + 1
        return RestatementMarker(seq, compact([*self.obligations, Obligation(seq, day)]))

    def passed(self, snapshot: int, through: date, finished: bool) -> RestatementMarker:
        """A pass that read the marker at `snapshot` re-rated every day from its start through
        `through`; `finished` when `through` was the latest rated day it saw after its snapshot."""
        kept: list[Obligation] = []
        for obligation in self.obligations:
            if obligation.seq > snapshot:
                kept.append(obligation)  # not seen by this pass: the next one takes it
            elif finished:
                continue
            elif obligation.from_day <= through:
                kept.append(Obligation(obligation.seq, through + timedelta(days=1)))
            else:
                kept.append(obligation)
        return RestatementMarker(self.seq + 1, compact(kept))

    def covered_by(self, snapshot: int, request: int) -> bool:
        """Would a pass that read the marker at `snapshot` take request number `request`?"""
        return request <= snapshot


def compact(obligations: Iterable[Obligation]) -> tuple[Obligation, ...]:
    """Drop each obligation that a newer one at an earlier or the same day covers: what is left
    rises in both `seq` and day."""
    kept: list[Obligation] = []
    for obligation in sorted(obligations, key=lambda o: (-o.seq, o.from_day)):  # newest first
        if kept and kept[-1].from_day <= obligation.from_day:
            continue  # a newer obligation at an earlier or the same day covers it
        kept.append(obligation)
    return tuple(reversed(kept))


@dataclass(frozen=True)
class RestatementPass:
    """Where a restatement pass is: what an operator sees (`wbr rate --status`, the logs)."""

    pass_id: str
    snapshot: int
    from_day: date
    through: date
    days_done: int
    days_total: int
    started_at: datetime
    updated_at: datetime
    finished: bool = False

    @property
    def running(self) -> bool:
        return not self.finished


@dataclass(frozen=True)
class RestatementAsked:
    """What asking for a restatement did (the answer of `wbr ingest`, the ingest logs).

    `request` is this ingest's request number (None: no day it touched was rated yet, so the
    days' first rating reads its events and nothing is asked); `from_day` where the next pass
    starts; `running` the pass under way, if any, and whether it takes this request."""

    requested_day: date | None
    request: int | None
    from_day: date | None
    running: RestatementPass | None = None

    @property
    def covered_by_running_pass(self) -> bool:
        return self.running is not None and self.request is not None and self.running.snapshot >= self.request

    def as_json(self) -> dict[str, object]:
        running = self.running
        return {
            "requestedDay": self.requested_day.isoformat() if self.requested_day else None,
            "request": self.request,
            "pendingFrom": self.from_day.isoformat() if self.from_day else None,
            "runningPass": None
            if running is None
            else {
                "fromDay": running.from_day.isoformat(),
                "through": running.through.isoformat(),
                "daysDone": running.days_done,
                "daysTotal": running.days_total,
                "startedAt": running.started_at.isoformat(),
            },
            "coveredByRunningPass": self.covered_by_running_pass,
        }
