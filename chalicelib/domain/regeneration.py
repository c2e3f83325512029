"""When a report must be (re)generated because usage was published (ARCHITECTURE.md §4, §5).

A COMPLETED report records the lake version of every day its file was built from. A day
published at a newer version (a restatement) makes the report *stale*: it is regenerated, and
keeps its revision if the new numbers turn out identical. An IN_PROGRESS report parked while
some day was unpublished is *ready* once every day of its period is published.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from chalicelib.domain.reports import Report, ReportStatus


def stale_days(report: Report, published: Mapping[date, int]) -> list[date]:
    """Days of a COMPLETED report whose published version is newer than the one it was built on.
    A point-in-time report is a snapshot of what was known at its `asOf`: never stale."""
    if report.status is not ReportStatus.COMPLETED or report.request.point_in_time:
        return []
    built_on = report.day_versions or {}
    return [day for day in report.period.days() if published.get(day, 0) > built_on.get(day, 0)]


def missing_days(days: Iterable[date], published: Mapping[date, object], epoch: date | None = None) -> list[date]:
    """The days not published yet, in order. Days before the data `epoch` (the first day any
    event occurred on) are published empty (ARCHITECTURE.md §4): never missing."""
    return [day for day in days if day not in published and (epoch is None or day >= epoch)]


def run_name(report_id: str, revision: int, trigger: str) -> str:
    """A name unique per report revision and trigger, so a re-delivered trigger (the same
    publication event twice, a retried start) never runs a second generation. A run's lease
    holds it; the workflow names the run's execution after it."""
    return f"{run_prefix(report_id)}r{revision}-{trigger}"


def run_prefix(report_id: str) -> str:
    """What every run name of one report starts with (to find and stop them)."""
    return f"{report_id[-36:]}-"


def publication_trigger(kind: str, day: date, version: int) -> str:
    return f"{kind}-{day.strftime('%Y%m%d')}v{version}"
