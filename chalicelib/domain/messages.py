"""The events that move numbers between processes (ARCHITECTURE.md §6, §4, §5), typed at the edge.

Each arrives as JSON (a DynamoDB stream record, a Step Functions state) and becomes one of these
frozen values in the entry point that received it; services never index the raw dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class DayPublished:
    """Usage day `day` is published at lake `version` (its first rating, or a restatement)."""

    day: date
    version: int


@dataclass(frozen=True)
class RestatementRequested:
    """Late events landed for rated days: re-rate from `from_day` on. `token` changes whenever
    the marker moves, so a rating run only clears the marker it worked on."""

    from_day: date
    token: str


@dataclass(frozen=True)
class RunLease:
    """A run holds a report (its first generation, or a regeneration) under execution `run`
    since `since`. Released when the run ends; a run that is no longer alive loses it."""

    run: str
    since: datetime


Message = DayPublished | RestatementRequested
