"""DELETE while the report is being generated (ARCHITECTURE.md §2: "a running worker is stopped or finds
the report gone and cleans up after itself — it never resurrects a deleted report").

The project's own LocalWorkflow runs the steps (so `delete` really stops the run, as it would
stop a Step Functions execution); the run is paused at a step boundary — or inside a step, at
the S3 write of a part or of the report file — the report is deleted, and the run continues.
Afterwards nothing of the report may exist: no metadata, no S3 object (file or part), no
duplicate lock, and the in-progress counter back to exactly 0.
"""

from __future__ import annotations

import time

import pytest

from chalicelib.domain.errors import NotFound
from chalicelib.local.demo import DEMO_PARTNER
from tests.conftest import ApiClient
from tests.faults.conftest import CALLER, check_identical_create


def _key_starts(prefix):
    return lambda params: str(params.get("Key", "")).startswith(prefix)


# id → (gate options, wait for the other shards to finish first, inject a shard failure)
PAUSES = {
    "before-Plan": (dict(step="plan"), False, False),
    "before-Aggregate[0]-others-done": (dict(step="aggregate_shard", shard=0), True, False),
    "before-Assemble": (dict(step="assemble"), False, False),
    "before-Finalize": (dict(step="finalize"), False, False),
    "after-Finalize": (dict(step="finalize", when="after"), False, False),
    "before-MarkFailed": (dict(step="mark_failed"), False, True),
    "inside-Aggregate[0]-before-its-part-is-written": (
        dict(service="s3", operations=("PutObject",), step="aggregate_shard", shard=0, where=_key_starts("parts/")),
        True,
        False,
    ),
    "inside-Assemble-before-the-file-is-written": (
        dict(
            service="s3",
            operations=("PutObject", "CreateMultipartUpload"),
            step="assemble",
            where=_key_starts("reports/"),
        ),
        False,
        False,
    ),
    "inside-Assemble-after-the-file-is-written": (
        dict(service="s3", operations=("PutObject",), step="assemble", when="after", where=_key_starts("reports/")),
        False,
        False,
    ),
}


def _wait_for_other_shards(env, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        count = env.plan.shard_count
        done = {shard for step, shard in env.plan.step_done if step == "aggregate_shard"}
        if count and done >= set(range(1, count)):
            return
        time.sleep(0.02)
    raise AssertionError("the other shards did not finish")


def _assert_nothing_left(env, report_id):
    with pytest.raises(NotFound):
        env.container.reports.get(CALLER, report_id)
    leftovers = {
        "reports": [report.report_id[-8:] for report in env.inspect.reports()],
        "objects": sorted(env.inspect.objects()),
        "locks": env.inspect.locks(),
        "counter": env.inspect.in_progress(DEMO_PARTNER),
    }
    assert leftovers == {"reports": [], "objects": [], "locks": {}, "counter": 0}, leftovers


@pytest.mark.parametrize("pause", list(PAUSES))
def test_delete_while_paused_leaves_nothing(local_faults, pause):
    env = local_faults
    gate_options, others_first, failing_shard = PAUSES[pause]
    if failing_shard:
        env.plan.fail_step("aggregate_shard", shard=0, when="after")
    gate = env.plan.gate(**gate_options)
    report = env.create(type="CUSTOMER")
    assert gate.reached.wait(20), f"the run never reached {pause}"
    if others_first:
        _wait_for_other_shards(env)
    env.container.reports.delete(CALLER, report.report_id)
    gate.open()
    env.workflow.join(30)
    _assert_nothing_left(env, report.report_id)


def test_delete_over_http_while_assembling_then_create_again(local_faults, tokens):
    env = local_faults
    gate = env.plan.gate(step="assemble")
    report = env.create(type="CUSTOMER")
    assert gate.reached.wait(20)
    client = ApiClient(tokens.mint())
    response = client.delete(f"/v1/wholesale/billing/reports/{report.report_id}")
    assert response.status == 204
    gate.open()
    env.workflow.join(30)
    _assert_nothing_left(env, report.report_id)
    # lock and counter released: the identical request makes a new report, which completes
    check_identical_create(env, report)
