"""The DynamoDB report store and the create/delete rules under concurrency, against moto."""

from __future__ import annotations

import threading
from datetime import timedelta

from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.errors import Conflict, TooManyRequests
from chalicelib.domain.reports import ReportStatus
from chalicelib.services.demo_data import DEMO_ADMIN, DEMO_PARTNER
from tests.conftest import TODAY

CALLER = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
BODY = {"billingStartDate": (TODAY - timedelta(days=20)).isoformat(),
        "billingEndDate": (TODAY - timedelta(days=2)).isoformat(), "type": "USER"}


def _hold_workflow(container):
    """Keep reports IN_PROGRESS: a workflow that records starts and runs nothing."""
    started = []
    container.__dict__["workflow"] = type("Held", (), {"start": lambda self, job, name: started.append(name),
                                                       "stop": lambda self, report_id: None,
                                                       "stop_all": lambda self: None,
                                                       "join": lambda self, timeout=0: None})()
    container.__dict__.pop("reports", None)
    return started


class _AtomicRequests:
    """moto's in-process backend is not thread-safe; DynamoDB's requests are each atomic.
    Serialising whole requests keeps that guarantee and nothing more (interleaving stays free)."""

    def __init__(self, client):
        self._client = client
        self._lock = threading.Lock()

    def __getattr__(self, name):
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args, **kwargs):
            with self._lock:
                return method(*args, **kwargs)

        return call


def test_concurrent_identical_creates_make_one_report(seeded):
    seeded.__dict__["dynamodb"] = _AtomicRequests(seeded.dynamodb)
    for cached in ("report_store", "directory", "reports"):
        seeded.__dict__.pop(cached, None)
    started = _hold_workflow(seeded)
    results, errors = [], []
    barrier = threading.Barrier(12)

    def create():
        barrier.wait()
        try:
            results.append(seeded.reports.create(CALLER, BODY, "WBR_c")[0].report_id)
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
    listed = seeded.reports.list(CALLER, {})
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
    job = {"partnerOrgId": report.partner_org_id, "reportId": report.report_id, "revision": 1, "trackingId": "t"}
    steps = seeded.generation
    plan = steps.plan({"job": job})
    parts = [steps.aggregate_shard({"job": job, "dayVersions": plan["dayVersions"], "shard": shard})
             for shard in plan["shards"]]
    file = steps.assemble({"job": job, "parts": parts})
    assert seeded.blobs.exists(file["s3Key"])
    seeded.reports.delete(CALLER, report.report_id)  # deleted between Assemble and Finalize
    result = steps.finalize({"job": job, "file": file, "dayVersions": plan["dayVersions"]})
    assert result == {"completed": False, "outcome": "gone"}
    assert seeded.report_store.get(DEMO_PARTNER, report.report_id) is None
    assert not seeded.blobs.exists(file["s3Key"])
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
    from datetime import datetime, timezone

    from chalicelib.domain.errors import ReportErrorCode
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
