"""A report's lifecycle rules (domain/lifecycle.py): the duplicate lock, the in-progress cap."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.lifecycle import (
    STATUS_RULES,
    TRANSITIONS,
    DuplicateAnswer,
    LockEffect,
    Transition,
    counter_delta,
    counts_in_progress,
    duplicate_answer,
    holds_duplicate_lock,
    lock_effect,
    only_source,
    source_statuses,
    target_status,
    touches_only_the_report,
)
from chalicelib.domain.periods import BillingPeriod
from chalicelib.domain.reports import ReportCategory, ReportRequest, ReportStatus, ReportType
from tests.oracles import lock_is_stale

IN_PROGRESS, COMPLETED, FAILED = ReportStatus.IN_PROGRESS, ReportStatus.COMPLETED, ReportStatus.FAILED
MAY = BillingPeriod(date(2026, 5, 1), date(2026, 5, 31))
RECONCILIATION = ReportRequest(MAY, ReportType.USER, None, False)
SNAPSHOT = ReportRequest(
    BillingPeriod(date(2026, 6, 2), date(2026, 6, 2)),
    ReportType.CUSTOMER,
    None,
    False,
    ReportCategory.POINT_IN_TIME,
    datetime(2026, 6, 2, 9, tzinfo=timezone.utc),
)
IN_PLACE = (
    Transition.MARK_WAITING,
    Transition.CLAIM_WAITING,
    Transition.TAKE_OVER_RUN,
    Transition.REPLACE_FILE,
    Transition.RECORD_VERSIONS,
    Transition.CLAIM_REGENERATION,
    Transition.RELEASE_REGENERATION,
)


# --- per status --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "holds_lock", "in_progress"),
    [(IN_PROGRESS, True, True), (COMPLETED, True, False), (FAILED, False, False), (None, False, False)],
)
def test_which_statuses_hold_the_lock_and_count_under_the_cap(status, holds_lock, in_progress):
    assert holds_duplicate_lock(status, RECONCILIATION) is holds_lock
    assert counts_in_progress(status) is in_progress


def test_every_status_has_a_rule():
    assert set(STATUS_RULES) == set(ReportStatus)


@pytest.mark.parametrize("status", [*ReportStatus, None])
def test_a_point_in_time_report_never_holds_a_lock(status):
    assert not holds_duplicate_lock(status, SNAPSHOT)


@pytest.mark.parametrize(
    ("holder", "answer"),
    [
        (IN_PROGRESS, DuplicateAnswer.RUNNING),  # 200 with the running report
        (COMPLETED, DuplicateAnswer.CONFLICT),  # 409 naming it
        (FAILED, DuplicateAnswer.NEW),  # a new report
        (None, DuplicateAnswer.NEW),  # its report is gone
    ],
)
def test_the_duplicate_rule(holder, answer):
    assert duplicate_answer(holder) is answer
    assert lock_is_stale(holder) is (answer is DuplicateAnswer.NEW)


# --- per transition ----------------------------------------------------------------------------

# (transition, from, to, lock effect of a reconciliation report, counter delta)
EFFECTS = [
    (Transition.CREATE, None, IN_PROGRESS, LockEffect.TAKE, +1),
    (Transition.COMPLETE, IN_PROGRESS, COMPLETED, LockEffect.KEEP, -1),
    (Transition.FAIL, IN_PROGRESS, FAILED, LockEffect.RELEASE, -1),
    (Transition.DELETE, IN_PROGRESS, None, LockEffect.RELEASE, -1),
    (Transition.DELETE, COMPLETED, None, LockEffect.RELEASE, 0),
    (Transition.DELETE, FAILED, None, LockEffect.NONE, 0),
    (Transition.MARK_WAITING, IN_PROGRESS, IN_PROGRESS, LockEffect.KEEP, 0),
    (Transition.CLAIM_WAITING, IN_PROGRESS, IN_PROGRESS, LockEffect.KEEP, 0),
    (Transition.TAKE_OVER_RUN, IN_PROGRESS, IN_PROGRESS, LockEffect.KEEP, 0),
    (Transition.REPLACE_FILE, COMPLETED, COMPLETED, LockEffect.KEEP, 0),
    (Transition.RECORD_VERSIONS, COMPLETED, COMPLETED, LockEffect.KEEP, 0),
    (Transition.CLAIM_REGENERATION, COMPLETED, COMPLETED, LockEffect.KEEP, 0),
    (Transition.RELEASE_REGENERATION, IN_PROGRESS, IN_PROGRESS, LockEffect.KEEP, 0),
    (Transition.RELEASE_REGENERATION, COMPLETED, COMPLETED, LockEffect.KEEP, 0),
    (Transition.RELEASE_REGENERATION, FAILED, FAILED, LockEffect.NONE, 0),
]


@pytest.mark.parametrize(("transition", "source", "target", "effect", "delta"), EFFECTS)
def test_what_each_transition_does_to_the_lock_and_the_counter(transition, source, target, effect, delta):
    assert target_status(transition, source) is target
    assert lock_effect(source, target, RECONCILIATION) is effect
    assert lock_effect(source, target, SNAPSHOT) is LockEffect.NONE
    assert counter_delta(source, target) == delta


def test_the_table_lists_every_move_of_every_transition():
    declared = {(transition, source) for transition, moves in TRANSITIONS.items() for source in moves}
    assert declared == {(transition, source) for transition, source, *_ in EFFECTS}
    assert set(TRANSITIONS) == set(Transition)


def test_only_the_status_changes_touch_the_lock_or_the_counter():
    assert {transition for transition in Transition if touches_only_the_report(transition)} == set(IN_PLACE)


def test_the_statuses_an_operation_is_conditioned_on():
    assert only_source(Transition.COMPLETE) is IN_PROGRESS
    assert only_source(Transition.CLAIM_REGENERATION) is COMPLETED
    assert source_statuses(Transition.CREATE) == ()
    assert set(source_statuses(Transition.RELEASE_REGENERATION)) == set(ReportStatus)
    with pytest.raises(ValueError):
        only_source(Transition.DELETE)
    with pytest.raises(KeyError):
        target_status(Transition.COMPLETE, FAILED)


# --- any sequence of operations --------------------------------------------------------------

CAP = 3
REQUESTS = [
    RECONCILIATION,
    ReportRequest(MAY, ReportType.PARTNER, None, False),
    ReportRequest(MAY, ReportType.USER, "sub-partner", False),
    SNAPSHOT,
]


@dataclass
class Partition:
    """One partner's items as the store keeps them, written only by the lifecycle's effects."""

    reports: dict[int, tuple[ReportStatus, ReportRequest]] = field(default_factory=dict)
    locks: dict[str, int] = field(default_factory=dict)  # duplicate key → the report it names
    counter: int = 0
    created: int = 0

    def create(self, request: ReportRequest) -> None:
        key = request.duplicate_key()
        if key is not None and key in self.locks:
            holder = self.reports.get(self.locks[key], (None, request))[0]
            assert duplicate_answer(holder) is not DuplicateAnswer.NEW  # legal moves leave no stale lock
            return  # 200 or 409: nothing is written
        target = target_status(Transition.CREATE, None)
        if self.counter + counter_delta(None, target) > CAP:
            return  # 429: nothing is written
        self.created += 1
        self.move(self.created, request, None, target)

    def apply(self, transition: Transition, report_id: int) -> None:
        status, request = self.reports[report_id]
        if status in TRANSITIONS[transition]:  # else the store's condition refuses it
            self.move(report_id, request, status, target_status(transition, status))

    def move(self, report_id: int, request: ReportRequest, source, target) -> None:
        key = request.duplicate_key()
        effect = lock_effect(source, target, request)
        if effect is LockEffect.TAKE:
            assert key not in self.locks
            self.locks[key] = report_id
        elif effect is LockEffect.RELEASE and self.locks.get(key) == report_id:
            del self.locks[key]
        self.counter += counter_delta(source, target)
        if target is None:
            del self.reports[report_id]
        else:
            self.reports[report_id] = (target, request)


OPERATIONS = st.one_of(
    st.tuples(st.just(Transition.CREATE), st.sampled_from(range(len(REQUESTS)))),
    st.tuples(st.sampled_from([t for t in Transition if t is not Transition.CREATE]), st.integers(0, 20)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(OPERATIONS, max_size=60))
def test_counter_and_locks_follow_the_statuses_for_any_sequence_of_operations(operations):
    partition = Partition()
    for transition, argument in operations:
        if transition is Transition.CREATE:
            partition.create(REQUESTS[argument])
        elif partition.reports:
            partition.apply(transition, sorted(partition.reports)[argument % len(partition.reports)])
        statuses = [status for status, _ in partition.reports.values()]
        assert partition.counter == statuses.count(IN_PROGRESS) <= CAP
        for report_id, (status, request) in partition.reports.items():
            holding = request.duplicate_key() is not None and partition.locks.get(request.duplicate_key()) == report_id
            assert holding is holds_duplicate_lock(status, request)
        assert all(holds_duplicate_lock(*partition.reports[report_id]) for report_id in partition.locks.values())
