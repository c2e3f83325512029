"""Faults injected at every worker step (ARCHITECTURE.md §5): Plan, each Aggregate shard, Assemble,
Finalize and MarkFailed itself.

Whatever fails, when the run is over the report is COMPLETED (the workflow retried a throttled or
timed-out step) with exactly the file a fault-free run makes, or FAILED with
`errors[{code: int, description}]`; the reports bucket holds only the files of COMPLETED reports
(no parts, no file of a FAILED report); the in-progress counter equals the reports IN_PROGRESS
(0) and the duplicate lock is held only by COMPLETED reports, so an identical create makes a new
report after FAILED and is a 409 after COMPLETED.

Faults come in three shapes:
- a plain exception thrown into the step (before its body runs, or after it did its work — a
  Lambda that timed out after writing);
- an AWS error on the step's first S3 / DynamoDB call(s) — ThrottlingException,
  ProvisionedThroughputExceededException, SlowDown, RequestTimeout, ReadTimeoutError,
  ConnectTimeoutError — the first N calls only (transient) or every call (an outage);
- a lost response: the write was applied, then the client saw ReadTimeoutError (what botocore
  surfaces when its own retries time out), so the workflow retries a step whose effect happened.
"""

from __future__ import annotations

import math

import pytest

from chalicelib.runtime.workflow import RETRY_MAX_ATTEMPTS
from tests.faults.conftest import check_identical_create, check_outcome

pytestmark = pytest.mark.deep  # a fault matrix: make test-deep (CI), not make test (tests/tiers.py)

# (step, shard) — shard "last" is resolved at run time from Plan's output.
STEPS = [
    pytest.param("plan", None, id="Plan"),
    pytest.param("aggregate_shard", 0, id="Aggregate[0]"),
    pytest.param("aggregate_shard", "last", id="Aggregate[last]"),
    pytest.param("assemble", None, id="Assemble"),
    pytest.param("finalize", None, id="Finalize"),
]

# Pairs of (DynamoDB fault, S3 fault) injected together into one step; across the pairs every
# kind of fault the brief names is used on both services.
PAIRS = {
    "Throttling+SlowDown": ("ThrottlingException", "SlowDown"),
    "Provisioned+RequestTimeout": ("ProvisionedThroughputExceededException", "RequestTimeout"),
    "ReadTimeout+ConnectTimeout": ("ReadTimeoutError", "ConnectTimeoutError"),
    "ConnectTimeout+ReadTimeout": ("ConnectTimeoutError", "ReadTimeoutError"),
}
TRANSIENT = [pytest.param(*pair, id=name) for name, pair in PAIRS.items()]
# Each step gets two of the pairs (every pair lands on at least two steps), to keep the suite fast.
STEP_PAIRS = [
    pytest.param(step, shard, *PAIRS[name], id=f"{step_id}-{name}")
    for step, shard, step_id, names in [
        ("plan", None, "Plan", ("Throttling+SlowDown", "ReadTimeout+ConnectTimeout")),
        ("aggregate_shard", 0, "Aggregate[0]", ("Provisioned+RequestTimeout", "ConnectTimeout+ReadTimeout")),
        ("aggregate_shard", "last", "Aggregate[last]", ("Throttling+SlowDown", "ConnectTimeout+ReadTimeout")),
        ("assemble", None, "Assemble", ("Provisioned+RequestTimeout", "ReadTimeout+ConnectTimeout")),
        ("finalize", None, "Finalize", ("Throttling+SlowDown", "Provisioned+RequestTimeout")),
    ]
    for name in names
]


def _type_for(step, shard):
    # Shard-targeted faults need several shards (CUSTOMER); a PARTNER report is one shard and faster.
    return "CUSTOMER" if step in ("aggregate_shard", "assemble") else "PARTNER"


def _runs_ended_cleanly(env):
    crashed = [run.crashed for run in env.workflow.runs if run.crashed is not None]
    assert not crashed, f"the workflow run crashed: {crashed!r}"


# ---- plain exceptions ----------------------------------------------------------------------


@pytest.mark.parametrize("step, shard", STEPS)
def test_plain_exception_before_a_step_fails_the_report_cleanly(faults, step, shard):
    rule = faults.plan.fail_step(step, shard=shard, when="before")
    report = faults.generate(type=_type_for(step, shard))
    assert rule.fired == 1, f"{step} was never reached"
    _runs_ended_cleanly(faults)
    failed = check_outcome(faults, report.report_id, "FAILED")
    assert [int(error.code) for error in failed.errors] == [1002]
    check_identical_create(faults, failed)


@pytest.mark.parametrize("step, shard", STEPS)
def test_plain_exception_after_a_step_did_its_work(faults, step, shard):
    """The step wrote what it writes, then failed (e.g. its Lambda timed out before returning)."""
    rule = faults.plan.fail_step(step, shard=shard, when="after")
    report = faults.generate(type=_type_for(step, shard))
    assert rule.fired == 1
    _runs_ended_cleanly(faults)
    # Finalize had already made the report COMPLETED; every earlier step leaves it FAILED.
    expected = "COMPLETED" if step == "finalize" else "FAILED"
    settled = check_outcome(faults, report.report_id, expected)
    check_identical_create(faults, settled)


def test_plain_exception_in_every_shard_fails_once_and_cleans_all_parts(faults):
    faults.plan.fail_step("aggregate_shard", shard=1, when="after")  # one shard wrote its part, then failed
    faults.plan.fail_step("aggregate_shard", shard=2, when="before")
    report = faults.generate(type="CUSTOMER")
    assert faults.plan.shard_count and faults.plan.shard_count >= 3
    _runs_ended_cleanly(faults)
    check_outcome(faults, report.report_id, "FAILED")
    assert [step for step, _ in faults.plan.step_calls].count("mark_failed") == 1


# ---- transient AWS faults: retried, then COMPLETED ----------------------------------------


@pytest.mark.parametrize("step, shard, dynamodb_error, s3_error", STEP_PAIRS)
def test_transient_aws_faults_are_retried_to_completion(faults, step, shard, dynamodb_error, s3_error):
    dynamo = faults.plan.fail("dynamodb", dynamodb_error, step=step, shard=shard, times=1)
    s3 = faults.plan.fail("s3", s3_error, step=step, shard=shard, times=1)
    report = faults.generate(type=_type_for(step, shard))
    assert dynamo.fired == 1, f"no DynamoDB call in {step}"  # every step reads the report
    if step in ("aggregate_shard", "assemble"):
        assert s3.fired == 1, f"no S3 call in {step}"
    _runs_ended_cleanly(faults)
    completed = check_outcome(faults, report.report_id, "COMPLETED")
    attempts = [call for call in faults.plan.step_calls if call[0] == step and faults.plan.shard_matches(shard, call[1])]
    assert len(attempts) >= 2, "the faulted step was not retried"
    check_identical_create(faults, completed)


@pytest.mark.parametrize("dynamodb_error, s3_error", TRANSIENT)
def test_transient_aws_faults_in_mark_failed_still_fail_the_report(faults, dynamodb_error, s3_error):
    faults.plan.fail_step("aggregate_shard", shard=0, when="after")  # parts exist when MarkFailed runs
    dynamo = faults.plan.fail("dynamodb", dynamodb_error, step="mark_failed", times=1)
    s3 = faults.plan.fail("s3", s3_error, step="mark_failed", times=1)
    report = faults.generate(type="CUSTOMER")
    assert dynamo.fired == 1 and s3.fired == 1
    _runs_ended_cleanly(faults)
    failed = check_outcome(faults, report.report_id, "FAILED")
    assert [int(error.code) for error in failed.errors] == [1002]
    check_identical_create(faults, failed)


# ---- lost responses: the write happened, the step is retried --------------------------------


def _key_starts(prefix):
    return lambda params: str(params.get("Key", "")).startswith(prefix)


def _any_object_of(prefix):
    """DeleteObjects whose batch names a key under `prefix`."""
    return lambda params: any(
        str(entry.get("Key", "")).startswith(prefix) for entry in params.get("Delete", {}).get("Objects", [])
    )


LOST_RESPONSES = [
    pytest.param("s3", ("PutObject",), "aggregate_shard", _key_starts("parts/"), id="Aggregate-PutObject(part)"),
    pytest.param("s3", ("PutObject", "CompleteMultipartUpload"), "assemble", _key_starts("reports/"),
                 id="Assemble-PutObject(file)"),
    pytest.param("s3", ("DeleteObjects",), "finalize", _any_object_of("parts/"), id="Finalize-DeleteObjects(parts)"),
    pytest.param("dynamodb", ("TransactWriteItems", "UpdateItem"), "finalize", None,
                 id="Finalize-TransactWriteItems(COMPLETED)"),
]


@pytest.mark.parametrize("service, operations, step, where", LOST_RESPONSES)
def test_lost_response_of_a_write_is_retried_idempotently(faults, service, operations, step, where):
    rule = faults.plan.fail(service, "ReadTimeoutError", phase="after", operations=operations, step=step, where=where)
    report = faults.generate(type="CUSTOMER")
    assert rule.fired == 1, f"{operations} never ran in {step}"
    _runs_ended_cleanly(faults)
    check_outcome(faults, report.report_id, "COMPLETED")


@pytest.mark.parametrize("service, operations", [
    pytest.param("dynamodb", ("TransactWriteItems", "UpdateItem"), id="MarkFailed-TransactWriteItems(FAILED)"),
    pytest.param("s3", ("DeleteObjects",), id="MarkFailed-DeleteObjects(parts)"),
])
def test_lost_response_in_mark_failed(faults, service, operations):
    faults.plan.fail_step("aggregate_shard", shard=0, when="after")
    rule = faults.plan.fail(service, "ReadTimeoutError", phase="after", operations=operations, step="mark_failed")
    report = faults.generate(type="CUSTOMER")
    assert rule.fired == 1
    _runs_ended_cleanly(faults)
    check_outcome(faults, report.report_id, "FAILED")


# ---- outages: every call fails → retries run out → FAILED ----------------------------------


OUTAGES = [
    pytest.param("plan", "dynamodb", "ThrottlingException", id="Plan-DynamoDB-Throttling"),
    pytest.param("aggregate_shard", "s3", "SlowDown", id="Aggregate-S3-SlowDown"),
    pytest.param("assemble", "s3", "RequestTimeout", id="Assemble-S3-RequestTimeout"),
    pytest.param("finalize", "dynamodb", "ProvisionedThroughputExceededException", id="Finalize-DynamoDB-Provisioned"),
]


@pytest.mark.parametrize("step, service, error", OUTAGES)
def test_an_outage_during_a_step_fails_the_report_after_the_retries(faults, step, service, error):
    rule = faults.plan.fail(service, error, step=step, times=math.inf)
    report = faults.generate(type="CUSTOMER")
    assert rule.fired >= RETRY_MAX_ATTEMPTS  # the workflow retried the step, then gave up
    _runs_ended_cleanly(faults)
    failed = check_outcome(faults, report.report_id, "FAILED")
    assert [int(error.code) for error in failed.errors] == [1002]
    check_identical_create(faults, failed)
