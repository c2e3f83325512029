"""What a usage day's publication sets in motion (DESIGN §2 event-triggered paths, §6).

- Reports parked because a day of their period was not published yet are started once every
  day is published (one claimer wins; the others see the claim taken).
- COMPLETED reports built on an older version of a restated day are regenerated: same id,
  revision + 1 if the numbers changed (Finalize decides), one regeneration at a time.

A publication event may be lost or arrive twice; the sweeper calls the same methods on a
schedule, so every waiting or stale report is picked up within one sweep, and execution names
make a re-delivered event start nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from chalicelib.domain.regeneration import missing_days, publication_trigger, stale_days
from chalicelib.domain.reports import Report
from chalicelib.services.generation import execution_name_of, job_of, regeneration_job_of
from chalicelib.services.ports import ReportStore, UsageCalendar, Workflow


@dataclass
class Started:
    """Which reports a publication (or a sweep) started or regenerated."""

    started: list[str] = field(default_factory=list)
    regenerated: list[str] = field(default_factory=list)


class RegenerationService:
    def __init__(
        self,
        store: ReportStore,
        calendar: UsageCalendar,
        workflow: Workflow,
        claim_seconds: int,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        logger: Any = None,
    ) -> None:
        self._store = store
        self._calendar = calendar
        self._workflow = workflow
        self._claim = timedelta(seconds=claim_seconds)
        self._clock = clock
        self._logger = logger

    def on_day_published(self, day: date, version: int) -> Started:
        """`day` was published at `version` (first rating or restatement)."""
        result = Started()
        result.started = self.start_ready(publication_trigger("wake", day, version))
        result.regenerated = self.regenerate_stale(publication_trigger("regen", day, version), day)
        return result

    def start_ready(self, trigger: str) -> list[str]:
        """Start every parked report whose days are now all published."""
        started = []
        for report in self._store.waiting():
            days = list(report.period.days())
            if missing_days(days, self._calendar.published_versions(days)):
                continue
            if self._store.claim_waiting(report):
                self._start(job_of(report, trigger))
                started.append(report.report_id)
        return started

    def regenerate_stale(self, trigger: str, day: date | None = None) -> list[str]:
        """Regenerate COMPLETED reports (covering `day`, or all) built on older day versions."""
        reports = self._store.completed_covering(day)
        published = self._published(reports)
        regenerated = []
        now = self._clock()
        for report in reports:
            if not stale_days(report, published):
                continue
            if self._store.claim_regeneration(report, now, now + self._claim):
                self._start_claimed(report, regeneration_job_of(report, trigger))
                regenerated.append(report.report_id)
        return regenerated

    def catch_up(self, partner_org_id: str, report_id: str) -> list[str]:
        """A run of the report just finished. If a day it covers was published anew while the run
        worked on the older version (that publication found the report IN_PROGRESS or claimed by
        this run, and started nothing), regenerate it now rather than at the next sweep."""
        report = self._store.get(partner_org_id, report_id)
        if report is None:
            return []
        published = self._published([report])
        days = stale_days(report, published)
        if not days:
            return []
        now = self._clock()
        if not self._store.claim_regeneration(report, now, now + self._claim):
            return []
        self._start_claimed(
            report, regeneration_job_of(report, publication_trigger("regen", days[-1], published[days[-1]]))
        )
        return [report_id]

    def _published(self, reports: list[Report]) -> dict[date, int]:
        days = sorted({day for report in reports for day in report.period.days()})
        return self._calendar.published_versions(days) if days else {}

    def _start_claimed(self, report: Report, job: dict[str, Any]) -> None:
        """Start a regeneration whose claim is held; a start that fails gives the claim back, so
        the next publication or sweep can try again instead of waiting for it to expire."""
        try:
            self._start(job)
        except Exception:
            self._store.release_regeneration(report)
            raise

    def _start(self, job: dict[str, Any]) -> None:
        name = execution_name_of(job)
        if self._logger is not None:
            self._logger.info("generation started by publication", extra={"report_id": job["reportId"], "run": name})
        self._workflow.start(job, name)
