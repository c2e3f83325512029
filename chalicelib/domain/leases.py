"""Run leases (ARCHITECTURE.md §5): which run holds a report, and what becomes of a run that died.

A report's first generation, and each regeneration of a COMPLETED report, is one run of the
workflow, named like its execution. The run holds the report (`Report.run`) from the moment it
is started until it ends: Finalize and MarkFailed release the lease, never a clock. A lease whose
run is no longer alive (local threads gone with their process; on AWS an execution that ended
without MarkFailed) is taken over by the sweeper within one sweep:
- a first generation is resumed under a new run name (every step is idempotent), at most
  `MAX_RESUMES` times, then FAILED;
- a regeneration's lease is released, so the same sweep regenerates the report again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib.domain.messages import RunLease
from chalicelib.domain.reports import Report, ReportStatus

# A run started this recently may not be visible to the workflow yet (the lease is written
# before the start call): it is never judged dead.
START_GRACE = timedelta(seconds=60)
MAX_RESUMES = 2


def lease_at_risk(report: Report, now: datetime, runs_known_since: datetime | None = None) -> RunLease | None:
    """The lease to check for liveness: held by a run, past its start grace. A workflow that
    only knows the runs it started since `runs_known_since` (local threads) may judge an older
    lease at once: its run was started by a process that is gone."""
    lease = report.run
    if lease is None or report.waiting_for is not None:
        return None
    taken_before_us = runs_known_since is not None and lease.since < runs_known_since
    if now - lease.since < START_GRACE and not taken_before_us:
        return None
    if report.status not in (ReportStatus.IN_PROGRESS, ReportStatus.COMPLETED):
        return None
    return lease


def may_resume(report: Report) -> bool:
    """A dead first generation is resumed, unless it died too often (then it is FAILED)."""
    return report.status is ReportStatus.IN_PROGRESS and report.resumes < MAX_RESUMES


def resume_trigger(report: Report) -> str:
    return f"resume{report.resumes + 1}"
