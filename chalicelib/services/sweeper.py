"""The sweeper (ARCHITECTURE.md §6): no report stays IN_PROGRESS past its deadline, and no publication
event that went missing leaves a report waiting or stale.

Every run (a 10-minute schedule):
- fails reports still IN_PROGRESS after their deadline (DEADLINE_EXCEEDED; a parked report
  whose data never came gets DATA_NOT_AVAILABLE once `DATA_WAIT_HOURS` have passed), which
  releases their duplicate lock and place under the in-progress cap, and removes their parts;
- resumes (or, after too many deaths, fails) reports whose run is no longer alive, and gives
  back the lease of a regeneration that died (domain/leases.py);
- starts parked reports whose days are all published, and regenerates COMPLETED reports built
  on older versions of a restated day (what the publication event does, as a safety net).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from chalicelib.domain.errors import REPORT_ERROR_DESCRIPTIONS, ReportErrorCode
from chalicelib.domain.reports import Report, ReportError, report_parts_prefix
from chalicelib.services.ports import BlobStore, ReportStore
from chalicelib.services.regeneration import RegenerationService


@dataclass
class SweepResult:
    failed: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    regenerated: list[str] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)


class Sweeper:
    def __init__(
        self,
        store: ReportStore,
        blobs: BlobStore,
        regeneration: RegenerationService | None = None,
        data_wait_hours: int = 36,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._regeneration = regeneration
        self._data_wait = timedelta(hours=data_wait_hours)
        self._clock = clock

    def sweep(self) -> SweepResult:
        now = self._clock()
        result = SweepResult()
        overdue = {report.report_id: report for report in self._store.overdue(now)}
        for report in self._store.waiting():
            if now >= report.gives_up_waiting_at(self._data_wait):
                overdue.setdefault(report.report_id, report)
        for report in overdue.values():
            if self._store.fail(report, [_error_of(report, self._data_wait)]):
                result.failed.append(report.report_id)
            prefix = report_parts_prefix(report.partner_org_id, report.report_id, report.revision)
            self._blobs.delete(self._blobs.list_keys(prefix))
        if self._regeneration is not None:
            recovered = self._regeneration.recover_dead_runs()
            result.resumed = recovered.resumed
            result.failed += recovered.failed
            trigger = f"sweep-{now.strftime('%Y%m%dT%H%M%S')}"
            result.started = self._regeneration.start_ready(trigger)
            result.regenerated = self._regeneration.regenerate_stale(trigger)
        return result


def _error_of(report: Report, data_wait: timedelta) -> ReportError:
    if report.waiting_for is not None:
        code = ReportErrorCode.DATA_NOT_AVAILABLE
        hours = int(data_wait.total_seconds() // 3600)
        return ReportError(
            code,
            f"{REPORT_ERROR_DESCRIPTIONS[code]} Usage for {report.waiting_for.isoformat()} "
            f"was not published within {hours} hours",
        )
    code = ReportErrorCode.DEADLINE_EXCEEDED
    return ReportError(code, REPORT_ERROR_DESCRIPTIONS[code])
