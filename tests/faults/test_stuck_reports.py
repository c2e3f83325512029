"""Reports a fault leaves IN_PROGRESS with no worker to finish them (MarkFailed itself failed,
the worker process died, the workflow never started, a create's answer was lost, a report
waiting for data whose worker is gone): the Sweeper, run with a fake clock, must leave none of
them IN_PROGRESS past its deadline — FAILED with an integer error code, parts removed, lock and
place under the cap released — and must not touch them before the deadline.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from chalicelib.domain.reports import ReportStatus
from chalicelib.local.demo import DEMO_PARTNER
from tests.conftest import TODAY
from tests.faults.conftest import CALLER, check_identical_create, check_outcome
from tests.faults.fault_plan import ProcessCrash


def _sweep_past_the_deadline(env, report_id):
    """Before the deadline the sweeper leaves the report alone; after it, the report is FAILED."""
    stuck = env.stored(report_id)
    assert stuck is not None and stuck.status is ReportStatus.IN_PROGRESS, "expected a stuck report"
    env.sweeper(stuck.created + timedelta(minutes=5)).sweep()
    assert env.stored(report_id).status is ReportStatus.IN_PROGRESS, "swept before its deadline"
    env.sweeper(stuck.deadline + timedelta(seconds=1)).sweep()
    failed = check_outcome(env, report_id, "FAILED")
    assert {int(error.code) for error in failed.errors} <= {1001, 1003}
    check_identical_create(env, failed)
    return failed


def test_mark_failed_raising_leaves_the_report_to_the_sweeper(faults):
    faults.plan.fail_step("aggregate_shard", shard=0, when="after")  # a part exists
    faults.plan.fail_step("mark_failed", when="before")  # ... and MarkFailed itself fails
    report = faults.generate()
    assert [run.crashed for run in faults.workflow.runs if run.crashed], "MarkFailed did not fail"
    assert faults.container.blobs.list_keys("parts/"), "the scenario should leave parts behind"
    failed = _sweep_past_the_deadline(faults, report.report_id)
    assert [int(error.code) for error in failed.errors] == [1003]


def test_dynamodb_outage_during_mark_failed_leaves_the_report_to_the_sweeper(faults):
    faults.plan.fail_step("assemble", when="before")
    outage = faults.plan.fail("dynamodb", "ThrottlingException", step="mark_failed", times=math.inf)
    report = faults.generate()
    assert outage.fired >= 5
    _sweep_past_the_deadline(faults, report.report_id)


def test_worker_process_dies_mid_map(faults):
    """A shard's process dies (not an exception the workflow can catch): nothing else runs."""
    faults.plan.fail_step("aggregate_shard", shard="last", when="before", make=lambda: ProcessCrash("killed"))
    report = faults.generate()
    assert isinstance(faults.workflow.runs[0].crashed, ProcessCrash)
    _sweep_past_the_deadline(faults, report.report_id)


def test_workflow_that_cannot_start_fails_the_report_at_once(faults):
    faults.workflow.fail_start = RuntimeError("StartExecution failed")
    with pytest.raises(RuntimeError):
        faults.container.reports.create(CALLER, faults.body(), "WBR_start")
    reports = faults.inspect.reports()
    assert len(reports) == 1
    failed = check_outcome(faults, reports[0].report_id, "FAILED")
    faults.workflow.fail_start = None
    check_identical_create(faults, failed)


def test_workflow_that_cannot_start_while_dynamodb_throttles_is_swept(faults):
    faults.workflow.fail_start = RuntimeError("StartExecution failed")
    faults.plan.fail("dynamodb", "ThrottlingException", operations=("TransactWriteItems",), skip=1, times=math.inf)
    with pytest.raises(ClientError):
        faults.container.reports.create(CALLER, faults.body(), "WBR_start")
    faults.plan.clear()
    faults.workflow.fail_start = None
    (report,) = faults.inspect.reports()
    _sweep_past_the_deadline(faults, report.report_id)


def test_create_whose_answer_was_lost_is_not_left_in_progress(faults):
    """The create transaction was applied but its response lost: the caller saw an error and the
    workflow was never started. The caller's retry gets the same report (200, documented); the
    sweeper fails it at its deadline."""
    faults.plan.fail("dynamodb", "ReadTimeoutError", phase="after", operations=("TransactWriteItems",))
    with pytest.raises(ReadTimeoutError):
        faults.container.reports.create(CALLER, faults.body(), "WBR_lost")
    faults.plan.clear()
    (report,) = faults.inspect.reports()
    assert faults.workflow.runs == []
    again, created = faults.container.reports.create(CALLER, faults.body(), "WBR_retry")
    assert again.report_id == report.report_id and not created
    _sweep_past_the_deadline(faults, report.report_id)


def test_report_waiting_for_data_whose_worker_is_gone(faults):
    """A day inside the data (days before the data epoch count as published empty) whose
    publication never came: the report is parked waiting for it, its run over (no lease)."""
    unpublished = TODAY - timedelta(days=2)
    assert faults.world.first_day < unpublished <= faults.world.last_day
    dynamodb, table = faults.container.dynamodb, faults.container.settings.usage_days_table
    key = {"usageDate": {"S": unpublished.isoformat()}}
    published = dynamodb.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    dynamodb.delete_item(TableName=table, Key=key)  # the shared world's calendar: put back below
    try:
        report = faults.generate(billingStartDate=unpublished.isoformat(), billingEndDate=unpublished.isoformat())
        assert report.status is ReportStatus.IN_PROGRESS
        assert report.waiting_for == unpublished, "the report should be parked waiting for the unpublished day"
        assert report.run is None, "a parked report holds no run lease"
        assert faults.container.report_store.get(DEMO_PARTNER, report.report_id) is not None
        _sweep_past_the_deadline(faults, report.report_id)
    finally:
        dynamodb.put_item(TableName=table, Item=published)
