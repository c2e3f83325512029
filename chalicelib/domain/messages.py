"""The events that move numbers between processes (ARCHITECTURE.md §6, §4, §5), typed at the edge.

Each arrives as JSON (a DynamoDB stream record, a Step Functions state) and becomes one of these
frozen values in the entry point that received it; services never index the raw dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


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


@dataclass(frozen=True)
class ReportSettled:
    """A report of `partner_org_id` settled: `event` is a webhook event value (`report.completed`,
    `report.failed`, `report.regenerated`; domain/webhooks.py `settled_event`) at `revision`.
    `summary` is its list item then (`Report.summary_json()`), `at` when the change was made.
    `report.scheduled` (a schedule's report of a month is ready) names its `schedule_id`."""

    partner_org_id: str
    report_id: str
    event: str
    revision: int
    at: datetime
    summary: Mapping[str, Any] = field(default_factory=dict, compare=False)
    schedule_id: str | None = None


Message = DayPublished | RestatementRequested
