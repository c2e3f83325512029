"""The DynamoDB report store and the create/delete rules under concurrency, against moto."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.adapters.dynamo_codec import from_item, to_item
from chalicelib.adapters.dynamo_report_locks import lock_item
from chalicelib.adapters.dynamo_report_store import COUNTER_SK, LOCK_PREFIX
from chalicelib.bootstrap import Container
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.commands import GenerationJob
from chalicelib.domain.errors import Conflict, ReportErrorCode, TooManyRequests
from chalicelib.domain.lifecycle import TRANSITIONS, Transition, holds_duplicate_lock
from chalicelib.domain.messages import RunLease
from chalicelib.domain.periods import BillingPeriod
from chalicelib.domain.report_ids import new_report_id
from chalicelib.domain.reports import Report, ReportCategory, ReportError, ReportRequest, ReportStatus, ReportType
from chalicelib.domain.workflow_messages import (
    AggregateInput,
    AssembleInput,
    FinalizeInput,
    FinalizeResult,
    PlanInput,
    PlanReady,
)
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER
from chalicelib.services.ports import DuplicateReport, InProgressLimitReached, ReportFile
from tests.conftest import TODAY
from tests.faults.atomic_requests import AtomicRequests
from tests.readers import object_exists

CALLER = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
BODY = {
    "billingStartDate": (TODAY - timedelta(days=20)).isoformat(),
    "billingEndDate": (TODAY - timedelta(days=2)).isoformat(),
    "type": "USER",
}


class _HeldWorkflow:
    """Keeps reports IN_PROGRESS: records the runs started (by name), runs nothing."""

    def __init__(self, started):
        self.started = started

    def start(self, job, name):
        self.started.append(name)

    def stop(self, report_id):
        pass

    def stop_all(self):
        pass

    def join(self, timeout=0):
        pass


def _hold_workflow(container):
    """The container's reports are never generated; the names of the runs started."""
    started = []
    container.override(workflow=_HeldWorkflow(started))
    return started


def test_concurrent_identical_creates_make_one_report(seeded):
    started = []
    # DynamoDB requests serialised whole (moto's in-process backend is not thread-safe), for
    # every service of a container built over them
    container = Container(
        seeded.settings, dynamodb=AtomicRequests(seeded.dynamodb), s3=seeded.s3, workflow=_HeldWorkflow(started)
    )
    results, errors = [], []
    barrier = threading.Barrier(12)

    def create():
        barrier.wait()
        try:
            results.append(container.reports.create(CALLER, BODY, "WBR_c")[0].report_id)
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=create) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(results)) == 1 and len(results) == 12
    assert len(set(started)) == 1  # one run: a duplicate's re-start names the same execution
    listed = container.reports.list(CALLER, {})
    assert [item["id"] for item in listed.items] == results[:1]


def test_in_progress_cap_counts_exactly(seeded):
    _hold_workflow(seeded)
    cap = seeded.settings.max_reports_in_progress
    for offset in range(cap):
        day = (TODAY - timedelta(days=3 + offset)).isoformat()
        seeded.reports.create(CALLER, {"billingStartDate": day, "billingEndDate": day}, "WBR_t")
    day = (TODAY - timedelta(days=100)).isoformat()
    try:
        seeded.reports.create(CALLER, {"billingStartDate": day, "billingEndDate": day}, "WBR_t")
        raise AssertionError("the cap was not enforced")
    except TooManyRequests as refused:
        assert refused.retry_after_seconds == seeded.settings.retry_after_seconds
    # Deleting an IN_PROGRESS report frees its place.
    first = seeded.reports.list(CALLER, {}).items[0]
    seeded.reports.delete(CALLER, first["id"])
    assert seeded.reports.create(CALLER, {"billingStartDate": day, "billingEndDate": day}, "WBR_t")[1]


def test_delete_during_generation_never_resurrects_the_report(seeded):
    started = _hold_workflow(seeded)
    report, _ = seeded.reports.create(CALLER, BODY, "WBR_d")
    job = GenerationJob(report.partner_org_id, report.report_id, 1, "t")
    steps = seeded.generation
    plan = steps.plan(PlanInput(job))
    assert isinstance(plan, PlanReady) and isinstance(plan.shards, tuple)
    parts = tuple(
        steps.aggregate_shard(AggregateInput(job, plan.day_versions, plan.day_rows, shard)) for shard in plan.shards
    )
    file = steps.assemble(AssembleInput(job, parts))
    assert object_exists(seeded, file.s3_key)
    seeded.reports.delete(CALLER, report.report_id)  # deleted between Assemble and Finalize
    result = steps.finalize(FinalizeInput(job, file, plan.day_versions))
    assert result == FinalizeResult("gone") and not result.completed
    assert seeded.report_store.get(DEMO_PARTNER, report.report_id) is None
    assert not object_exists(seeded, file.s3_key)
    assert seeded.blobs.list_keys("reports/") == [] and seeded.blobs.list_keys("parts/") == []
    assert started


def test_completed_duplicate_is_a_conflict_naming_the_report(seeded):
    report, _ = seeded.reports.create(CALLER, BODY, "WBR_x")
    seeded.workflow.join(60)
    assert seeded.reports.get(CALLER, report.report_id)[0].status is ReportStatus.COMPLETED
    try:
        seeded.reports.create(CALLER, BODY, "WBR_y")
        raise AssertionError("expected a conflict")
    except Conflict as conflict:
        assert report.report_id in conflict.message


def test_sweeper_fails_reports_stuck_past_their_deadline_and_frees_their_place(seeded):
    from chalicelib.services.sweeper import Sweeper

    _hold_workflow(seeded)  # a generation that never finishes (a crashed process)
    stuck, _ = seeded.reports.create(CALLER, BODY, "WBR_s")
    seeded.blobs.put_text(f"parts/{DEMO_PARTNER}/{stuck.report_id}/r1/part-00000.csv", "left over")
    assert Sweeper(seeded.report_store, seeded.blobs).sweep().failed == []  # before the deadline: untouched
    later = stuck.deadline + timedelta(seconds=1)
    failed = Sweeper(seeded.report_store, seeded.blobs, clock=lambda: later).sweep().failed
    assert failed == [stuck.report_id]
    report, url = seeded.reports.get(CALLER, stuck.report_id)
    assert report.status is ReportStatus.FAILED and url is None
    assert [error.code for error in report.errors] == [ReportErrorCode.DEADLINE_EXCEEDED]
    assert seeded.blobs.list_keys("parts/") == []
    # Its lock and its place under the cap are released: the same request makes a new report.
    again, created = seeded.reports.create(CALLER, BODY, "WBR_s2")
    assert created and again.report_id != stuck.report_id
    assert Sweeper(seeded.report_store, seeded.blobs, clock=lambda: datetime.now(timezone.utc)).sweep().failed == []


# --- the store follows domain/lifecycle.py, for any sequence of its operations ---------------

_LIFECYCLE_CAP = 3


def _lifecycle_requests():
    period = BillingPeriod(TODAY - timedelta(days=20), TODAY - timedelta(days=2))
    now = datetime.now(timezone.utc)
    return [
        ReportRequest(period, ReportType.USER, None, False),
        ReportRequest(period, ReportType.USER, None, True),
        ReportRequest(period, ReportType.CUSTOMER, "sub", False),
        ReportRequest(BillingPeriod(TODAY, TODAY), ReportType.USER, None, False, ReportCategory.POINT_IN_TIME, now),
    ]


def _partition(container, partner):
    """The partner's reports (by id), locks (duplicate key → report id) and in-progress counter."""
    items = [
        from_item(item)
        for item in container.dynamodb.query(
            TableName=container.settings.reports_table,
            KeyConditionExpression="partnerOrgId = :p",
            ExpressionAttributeValues=to_item({":p": partner}),
            ConsistentRead=True,
        )["Items"]
    ]
    reports = {
        item["reportId"]: container.report_store.get(partner, item["reportId"])
        for item in items
        if not item["reportId"].startswith((LOCK_PREFIX, COUNTER_SK))
    }
    locks = {
        item["reportId"][len(LOCK_PREFIX) :]: item["lockedReportId"]
        for item in items
        if item["reportId"].startswith(LOCK_PREFIX)
    }
    counter = sum(int(item.get("inProgress", 0)) for item in items if item["reportId"] == COUNTER_SK)
    return reports, locks, counter


def _operate(store, report, operation, now):
    """Run one store operation on `report` (as last read); its answer."""
    lease = RunLease(f"run-{operation}", now)
    file = ReportFile(f"reports/{report.report_id}.csv", 3, "a" * 64, {TODAY: 2})
    return {
        "complete": lambda: store.complete(report, file, now),
        "fail": lambda: store.fail(report, [ReportError(ReportErrorCode.GENERATION_FAILED, "failed")]),
        "delete": lambda: store.delete(report.partner_org_id, report.report_id) is not None,
        "mark_waiting": lambda: store.mark_waiting(report, TODAY),
        "claim_waiting": lambda: store.claim_waiting(report, lease),
        "take_over_run": lambda: store.take_over_run(report, report.run.run if report.run else "none", lease),
        "replace_file": lambda: store.replace_file(
            replace(report, revision=report.revision + 1), report.revision, file, now
        ),
        "record_versions": lambda: store.record_versions(report, {TODAY: 3}),
        "claim_regeneration": lambda: store.claim_regeneration(report, lease),
        "release_regeneration": lambda: store.release_regeneration(report),
    }[operation]()


def test_locks_and_counter_follow_the_lifecycle_for_any_sequence_of_operations(container):
    requests = _lifecycle_requests()
    store = container.report_store
    operations = [transition.value for transition in Transition if transition is not Transition.CREATE]

    @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        st.lists(
            st.one_of(
                st.tuples(st.just("create"), st.integers(0, len(requests) - 1)),
                st.tuples(st.sampled_from(operations), st.integers(0, 20)),
            ),
            max_size=20,
        )
    )
    def run(steps):
        partner = f"partner-{uuid.uuid4()}"  # a partition of its own per example
        now = datetime.now(timezone.utc)
        for operation, argument in steps:
            reports, locks, counter = _partition(container, partner)
            if operation == "create":
                request = requests[argument]
                report = Report(
                    partner,
                    new_report_id(),
                    request,
                    ReportStatus.IN_PROGRESS,
                    now,
                    "someone",
                    "WBR_l",
                    now + timedelta(hours=1),
                    run=RunLease("first", now),
                )
                key = request.duplicate_key()
                try:
                    store.create(report, _LIFECYCLE_CAP)
                except DuplicateReport as duplicate:
                    assert key in locks and duplicate.report_id == locks[key]
                except InProgressLimitReached:
                    assert counter == _LIFECYCLE_CAP
                else:
                    assert key not in locks and counter < _LIFECYCLE_CAP
            elif reports:
                report = reports[sorted(reports)[argument % len(reports)]]
                if operation == "record_versions" and report.sha256 is None:
                    continue  # asked of a built file only (without one, the request is malformed)
                applied = _operate(store, report, operation, now)
                after = store.get(partner, report.report_id)
                if report.status not in TRANSITIONS[Transition(operation)]:
                    assert not applied and after == report
                elif applied:
                    target = TRANSITIONS[Transition(operation)][report.status]
                    assert (after.status if after else None) is target
            reports, locks, counter = _partition(container, partner)
            assert counter == sum(report.status is ReportStatus.IN_PROGRESS for report in reports.values())
            assert locks == {
                report.request.duplicate_key(): report.report_id
                for report in reports.values()
                if holds_duplicate_lock(report.status, report.request)
            }

    run()


def test_a_stale_lock_is_released_only_while_it_names_the_report(container):
    store, now = container.report_store, datetime.now(timezone.utc)
    request = _lifecycle_requests()[0]
    key = request.duplicate_key()

    def new_report():
        return Report("partner-stale", new_report_id(), request, ReportStatus.IN_PROGRESS, now, "someone", "WBR_s", now)

    failed = new_report()
    store.create(failed, _LIFECYCLE_CAP)
    assert store.fail(failed, [])
    # A lock left naming the FAILED report (no transition leaves one; older data may hold it).
    container.dynamodb.put_item(TableName=container.settings.reports_table, Item=to_item(lock_item(failed, key)))
    second = new_report()
    try:
        store.create(second, _LIFECYCLE_CAP)
        raise AssertionError("the lock was not seen")
    except DuplicateReport as duplicate:
        assert (duplicate.report_id, duplicate.duplicate_key) == (failed.report_id, key)
    assert not store.release_stale_lock("partner-stale", key, second.report_id)  # it names another report
    assert store.release_stale_lock("partner-stale", key, failed.report_id)
    assert not store.release_stale_lock("partner-stale", key, failed.report_id)  # gone already
    store.create(second, _LIFECYCLE_CAP)
    assert _partition(container, "partner-stale")[1:] == ({key: second.report_id}, 1)


def test_a_table_kept_from_before_the_created_index_gets_it_and_lists_newest_first(seeded):
    """A reports table made before `byCreated` existed (a local stack adopted after an upgrade)
    gets the index from ensure_resources, over the reports it already holds: none is rewritten."""
    from chalicelib.adapters.dynamo_report_store import table_definition
    from chalicelib.domain.listing import ListQuery, SortBy, SortOrder
    from chalicelib.local.provisioning import ensure_resources

    settings, db = seeded.settings, seeded.dynamodb
    db.delete_table(TableName=settings.reports_table)
    old = table_definition(settings.reports_table)
    old.pop("GlobalSecondaryIndexes")
    old["AttributeDefinitions"] = [a for a in old["AttributeDefinitions"] if a["AttributeName"] != "created"]
    db.create_table(**old)
    _hold_workflow(seeded)
    made = []
    for days in (30, 40, 50):
        body = {**BODY, "billingStartDate": (TODAY - timedelta(days=days)).isoformat()}
        made.append(seeded.reports.create(CALLER, body, "t")[0])
    ensure_resources(settings, db, seeded.s3)
    ensure_resources(settings, db, seeded.s3)  # idempotent
    indexes = db.describe_table(TableName=settings.reports_table)["Table"]["GlobalSecondaryIndexes"]
    assert [index["IndexName"] for index in indexes] == ["byCreated"]
    newest_first = seeded.report_store.list(
        DEMO_PARTNER, ListQuery(sort_by=SortBy.CREATED, order=SortOrder.DESC), None, 10
    )
    expected = sorted(made, key=lambda report: (report.created, report.report_id), reverse=True)
    assert [item["id"] for item in newest_first] == [report.report_id for report in expected]
