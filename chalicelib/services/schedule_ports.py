"""What the schedules service needs from the outside (the adapters implement these): the
schedules table with each schedule's runs, and the copy of a report into a partner's bucket."""

from __future__ import annotations

import builtins
from typing import Protocol

from chalicelib.domain.months import Month
from chalicelib.domain.schedules import Schedule, ScheduleRun


class ScheduleLimitReached(Exception):
    """The partner has as many schedules as it may have."""


class ScheduleStore(Protocol):
    def create(self, schedule: Schedule, max_per_partner: int) -> None:
        """Put the schedule if the partner has fewer than `max_per_partner`, else raise
        ScheduleLimitReached (atomically)."""
        ...

    def get(self, partner_org_id: str, schedule_id: str) -> Schedule | None: ...

    def list(self, partner_org_id: str, after: str | None, limit: int) -> builtins.list[Schedule]:
        """Up to `limit` of the partner's schedules in id order, after the id `after`."""
        ...

    def every(self) -> builtins.list[Schedule]:
        """The schedules of every partner (read when a month closes)."""
        ...

    def delete(self, partner_org_id: str, schedule_id: str) -> bool:
        """Remove it; False if it was not there."""
        ...

    def run(self, partner_org_id: str, schedule_id: str, month: Month) -> ScheduleRun | None: ...

    def record_run(self, run: ScheduleRun) -> bool:
        """Record the schedule's run of its month unless one is recorded (a conditional write per
        (schedule, month)): True if this one was, False if another was first."""
        ...

    def runs_of_report(self, partner_org_id: str, report_id: str) -> builtins.list[ScheduleRun]:
        """The runs (of any of the partner's schedules) whose report is `report_id`."""
        ...

    def mark_delivered(self, run: ScheduleRun, revision: int) -> bool:
        """Record that `revision` of the run's report was copied and announced, unless it or a
        later one was: True if this call recorded it."""
        ...


class ReportCopier(Protocol):
    def copy(self, source_key: str, bucket: str, key: str, partner_org_id: str) -> str | None:
        """Copy the report file `source_key` to `bucket`/`key`, tagged with the partner whose
        schedule asked for it; None when done, else why not (the partner's bucket refused)."""
        ...
