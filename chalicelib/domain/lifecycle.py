"""A report's lifecycle (ARCHITECTURE.md §2, §7): which statuses hold the duplicate lock and count under
the in-progress cap, and what each report store operation does to both.

Beside each report the store keeps its duplicate lock and the partner's in-progress counter,
changed in the same write as the report. Both follow from the report's status alone:

    status        holds the duplicate lock    counts under MAX_REPORTS_IN_PROGRESS
    IN_PROGRESS   yes                         yes
    COMPLETED     yes                         no
    FAILED        no                          no

A point-in-time report never holds a lock (each is its own snapshot, never a duplicate). So an
identical request answers the running report (200) while it is IN_PROGRESS, is a conflict (409)
once it is COMPLETED, and makes a new report once it FAILED or is gone (`duplicate_answer`).

Each operation moves a report from one status to another (None: no report, before `create` and
after `delete`). A move takes the lock when the new status holds it and the old one did not,
releases it the other way round, and changes the counter by counts(new) − counts(old).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from chalicelib.domain.reports import ReportRequest, ReportStatus


@dataclass(frozen=True)
class StatusRule:
    holds_lock: bool  # the report holds its duplicate lock (a reconciliation report's)
    in_progress: bool  # the report counts under the partner's cap of reports in progress


STATUS_RULES: dict[ReportStatus, StatusRule] = {
    ReportStatus.IN_PROGRESS: StatusRule(holds_lock=True, in_progress=True),
    ReportStatus.COMPLETED: StatusRule(holds_lock=True, in_progress=False),
    ReportStatus.FAILED: StatusRule(holds_lock=False, in_progress=False),
}


class Transition(str, Enum):
    """The report store's operations on a report."""

    CREATE = "create"
    COMPLETE = "complete"
    FAIL = "fail"
    DELETE = "delete"
    MARK_WAITING = "mark_waiting"
    CLAIM_WAITING = "claim_waiting"
    TAKE_OVER_RUN = "take_over_run"
    REPLACE_FILE = "replace_file"
    RECORD_VERSIONS = "record_versions"
    CLAIM_REGENERATION = "claim_regeneration"
    RELEASE_REGENERATION = "release_regeneration"


_IN_PROGRESS, _COMPLETED, _FAILED = ReportStatus.IN_PROGRESS, ReportStatus.COMPLETED, ReportStatus.FAILED

# Per operation, the statuses it applies to (a report in any other is left as it is) → the
# status it leaves the report in.
TRANSITIONS: dict[Transition, dict[ReportStatus | None, ReportStatus | None]] = {
    Transition.CREATE: {None: _IN_PROGRESS},
    Transition.COMPLETE: {_IN_PROGRESS: _COMPLETED},
    Transition.FAIL: {_IN_PROGRESS: _FAILED},
    Transition.DELETE: {status: None for status in ReportStatus},
    Transition.MARK_WAITING: {_IN_PROGRESS: _IN_PROGRESS},
    Transition.CLAIM_WAITING: {_IN_PROGRESS: _IN_PROGRESS},
    Transition.TAKE_OVER_RUN: {_IN_PROGRESS: _IN_PROGRESS},
    Transition.REPLACE_FILE: {_COMPLETED: _COMPLETED},
    Transition.RECORD_VERSIONS: {_COMPLETED: _COMPLETED},
    Transition.CLAIM_REGENERATION: {_COMPLETED: _COMPLETED},
    Transition.RELEASE_REGENERATION: {status: status for status in ReportStatus},
}


class LockEffect(str, Enum):
    """What a move does to the report's duplicate lock."""

    NONE = "none"  # there is none before or after
    TAKE = "take"  # written with the move, only if no report holds it (the duplicate rule)
    KEEP = "keep"
    RELEASE = "release"  # removed with the move, if it still names the report


class DuplicateAnswer(str, Enum):
    """The answer to a create request identical to the report that holds its lock."""

    RUNNING = "running"  # 200 with the report being generated
    CONFLICT = "conflict"  # 409 naming the report (delete it to generate it again)
    NEW = "new"  # the lock is stale: it is released and a new report made


def holds_duplicate_lock(status: ReportStatus | None, request: ReportRequest) -> bool:
    """Does a report of `request` in `status` (None: gone) hold its duplicate lock?"""
    return request.duplicate_key() is not None and _holds_lock(status)


def counts_in_progress(status: ReportStatus | None) -> bool:
    """Does a report in `status` (None: gone) count under the partner's in-progress cap?"""
    return status is not None and STATUS_RULES[status].in_progress


def counter_delta(from_status: ReportStatus | None, to_status: ReportStatus | None) -> int:
    """The change to the partner's in-progress counter of a move `from_status` → `to_status`."""
    return int(counts_in_progress(to_status)) - int(counts_in_progress(from_status))


def lock_effect(from_status: ReportStatus | None, to_status: ReportStatus | None, request: ReportRequest) -> LockEffect:
    """What a move `from_status` → `to_status` of a report of `request` does to its lock."""
    before, after = holds_duplicate_lock(from_status, request), holds_duplicate_lock(to_status, request)
    if before and after:
        return LockEffect.KEEP
    if after:
        return LockEffect.TAKE
    return LockEffect.RELEASE if before else LockEffect.NONE


def source_statuses(transition: Transition) -> tuple[ReportStatus, ...]:
    """The statuses of an existing report that `transition` applies to."""
    return tuple(status for status in TRANSITIONS[transition] if status is not None)


def only_source(transition: Transition) -> ReportStatus:
    """The one status `transition` applies to (an operation conditioned on it)."""
    (status,) = source_statuses(transition)
    return status


def target_status(transition: Transition, from_status: ReportStatus | None) -> ReportStatus | None:
    """The status `transition` leaves a report in `from_status` in; KeyError if it does not apply."""
    return TRANSITIONS[transition][from_status]


def duplicate_answer(holder_status: ReportStatus | None) -> DuplicateAnswer:
    """The answer to a request whose duplicate lock names a report in `holder_status` (None: the
    report is gone): the running report while it counts as in progress, a conflict while it
    holds the lock otherwise, a new report (the lock is stale) once it holds none."""
    if not _holds_lock(holder_status):
        return DuplicateAnswer.NEW
    return DuplicateAnswer.RUNNING if counts_in_progress(holder_status) else DuplicateAnswer.CONFLICT


def touches_only_the_report(transition: Transition) -> bool:
    """Does `transition` leave the lock and the counter as they are, from every status it applies
    to (whatever the request: a report without a lock keeps having none)? Then the store writes
    the report alone."""
    return all(
        counter_delta(from_status, to_status) == 0 and _holds_lock(from_status) == _holds_lock(to_status)
        for from_status, to_status in TRANSITIONS[transition].items()
    )


def _holds_lock(status: ReportStatus | None) -> bool:
    return status is not None and STATUS_RULES[status].holds_lock
