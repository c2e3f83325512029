"""What a usage day's publication sets in motion (ARCHITECTURE.md §6 event-triggered paths, §6).

- Reports parked because a day of their period was not published yet are started once every
  day is published (one claimer wins; the others see the claim taken).
- COMPLETED reports built on an older version of a restated day are regenerated: same id,
  revision + 1 if the numbers changed (Finalize decides), one regeneration at a time.

Every run holds its report under a lease (domain/leases.py) from its start to its end; the
sweeper resumes or fails the reports whose run died (`recover_dead_runs`). A publication event
may be lost or arrive twice; the sweeper calls the same methods on a schedule, so every waiting
or stale report is picked up within one sweep, and execution names make a re-delivered event
start nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from chalicelib.domain.commands import GenerationJob, job_of, regeneration_job_of
from chalicelib.domain.errors import REPORT_ERROR_DESCRIPTIONS, ReportErrorCode
from chalicelib.domain.leases import lease_at_risk, may_resume, resume_trigger
from chalicelib.domain.messages import DayPublished, RunLease
from chalicelib.domain.regeneration import missing_days, publication_trigger, stale_days
from chalicelib.domain.reports import Report, ReportError, ReportStatus
from chalicelib.services.ports import ReportStore, UsageCalendar, Workflow


@dataclass
class RunsStarted:
    """Which reports a publication (or a sweep) started or regenerated."""

    started: list[str] = field(default_factory=list)
    regenerated: list[str] = field(default_factory=list)


@dataclass
class Recovered:
    """What a sweep did with reports whose run had died."""

    resumed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)  # regenerations: the sweep starts them anew


class RegenerationService:
    def __init__(
        self,
        store: ReportStore,
        calendar: UsageCalendar,
        workflow: Workflow,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        logger: Any = None,
        runs_known_since: datetime | None = None,
    ) -> None:
        """`runs_known_since`: the workflow knows only the runs started since then (local mode:
        this process's start); older leases belong to runs of a process that is gone."""
        self._runs_known_since = runs_known_since
        self._store = store
        self._calendar = calendar
        self._workflow = workflow
        self._clock = clock
        self._logger = logger

    def on_day_published(self, published: DayPublished) -> RunsStarted:
        """A day was published (first rating or restatement)."""
        result = RunsStarted()
        result.started = self.start_ready(publication_trigger("wake", published.day, published.version))
        result.regenerated = self.regenerate_stale(
            publication_trigger("regen", published.day, published.version), published.day
        )
        return result

    def start_ready(self, trigger: str) -> list[str]:
        """Start every parked report whose days are now all published."""
        started = []
        waiting = self._store.waiting()
        epoch = self._calendar.data_epoch() if waiting else None
        for report in waiting:
            days = list(report.period.days())
            if missing_days(days, self._calendar.published_versions(days), epoch):
                continue
            job = job_of(report, trigger)
            if self._store.claim_waiting(report, self._lease(job)):
                self._start(job)
                started.append(report.report_id)
        return started

    def regenerate_stale(self, trigger: str, day: date | None = None) -> list[str]:
        """Regenerate COMPLETED reports (covering `day`, or all) built on older day versions."""
        reports = self._store.completed_covering(day)
        published = self._published(reports)
        regenerated = []
        for report in reports:
            if not stale_days(report, published):
                continue
            job = regeneration_job_of(report, trigger)
            if self._store.claim_regeneration(report, self._lease(job)):
                self._start_claimed(report, job)
                regenerated.append(report.report_id)
        return regenerated

    def recover_dead_runs(self) -> Recovered:
        """Reports whose run is no longer alive: a first generation is resumed under a new run
        (its steps are idempotent) or, after `MAX_RESUMES`, FAILED; a regeneration gives its
        lease back (`regenerate_stale` then starts it anew)."""
        result = Recovered()
        now = self._clock()
        for report in self._store.leased():
            lease = lease_at_risk(report, now, self._runs_known_since)
            if lease is None or self._workflow.is_running(lease.run):
                continue
            if report.status is ReportStatus.COMPLETED:
                if self._store.release_regeneration(report, lease.run):
                    result.released.append(report.report_id)
            elif may_resume(report):
                job = job_of(report, resume_trigger(report))
                if self._store.take_over_run(report, lease.run, self._lease(job)):
                    self._start(job)
                    result.resumed.append(report.report_id)
            else:
                code = ReportErrorCode.GENERATION_FAILED
                error = ReportError(
                    code, f"{REPORT_ERROR_DESCRIPTIONS[code]} Its run stopped {report.resumes + 1} times."
                )
                if self._store.fail(report, [error]):
                    result.failed.append(report.report_id)
        return result

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
        job = regeneration_job_of(report, publication_trigger("regen", days[-1], published[days[-1]]))
        if not self._store.claim_regeneration(report, self._lease(job)):
            return []
        self._start_claimed(report, job)
        return [report_id]

    def after_run(self, partner_org_id: str, report_id: str) -> None:
        """What follows every finished run (GenerationSteps' `on_finished`): `catch_up`, best
        effort — the report is already published, and the sweeper regenerates a stale report
        anyway, so a failure here is logged, never raised into the finished run."""
        try:
            regenerated = self.catch_up(partner_org_id, report_id)
        except Exception:  # noqa: BLE001 - never fail a finished run over its follow-up
            if self._logger is not None:
                self._logger.exception("catching up with a restatement failed", extra={"report_id": report_id})
            return
        if regenerated and self._logger is not None:
            self._logger.info("report regenerated: a day was restated during its run", extra={"report_id": report_id})

    def _lease(self, job: GenerationJob) -> RunLease:
        return RunLease(job.run_name, self._clock())

    def _published(self, reports: list[Report]) -> dict[date, int]:
        days = sorted({day for report in reports for day in report.period.days()})
        return self._calendar.published_versions(days) if days else {}

    def _start_claimed(self, report: Report, job: GenerationJob) -> None:
        """Start a regeneration whose claim is held; a start that fails gives the claim back, so
        the next publication or sweep can try again instead of waiting for it to expire."""
        try:
            self._start(job)
        except Exception:
            self._store.release_regeneration(report, job.run_name)
            raise

    def _start(self, job: GenerationJob) -> None:
        name = job.run_name
        if self._logger is not None:
            self._logger.info("generation started by publication", extra={"report_id": job.report_id, "run": name})
        self._workflow.start(job, name)
