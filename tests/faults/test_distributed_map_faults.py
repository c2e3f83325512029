"""The Distributed Map branch of the worker (ARCHITECTURE.md §5) under faults: Plan writes the
shard list to S3 (here past 1 shard instead of 40, `WBR_INLINE_MAX_SHARDS`, so the three-shard
CUSTOMER report of the fault world takes that branch), the map reads it and runs each shard.

A shard that fails ends the run FAILED with every part and the shard list removed; a shard that
is throttled is retried to the very file an inline run makes; a report deleted while its shards
run leaves nothing behind."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from chalicelib.domain.sharding import SHARD_LIST_NAME
from tests.faults.conftest import FaultEnv, FaultWorld, check_identical_create, check_outcome


@pytest.fixture
def distributed(fault_world: FaultWorld) -> Iterator[FaultEnv]:
    settings = dataclasses.replace(fault_world.settings, inline_max_shards=1)
    env = FaultEnv.build(settings, fault_world.world, baselines=fault_world.baselines)
    try:
        yield env
    finally:
        env.close()


def _took_the_distributed_branch(env: FaultEnv) -> None:
    assert env.plan.shard_count is not None and env.plan.shard_count >= 3
    runs = [run for run in env.workflow.runs if run.visited]
    assert runs and all("AggregateDistributed" in run.visited for run in runs), [run.visited for run in runs]
    assert not [run.crashed for run in env.workflow.runs if run.crashed is not None]


def _shard_lists_written(env: FaultEnv) -> list[str]:
    return [key for key in env.inspect.objects() if key.endswith(SHARD_LIST_NAME)]


def test_distributed_run_makes_the_inline_runs_file(distributed):
    report = distributed.generate(type="CUSTOMER")
    _took_the_distributed_branch(distributed)
    check_outcome(distributed, report.report_id, "COMPLETED")  # the baseline's sha256, nothing left over
    assert not _shard_lists_written(distributed)


@pytest.mark.parametrize("shard", [0, 1, "last"])
@pytest.mark.parametrize("when", ["before", "after"])
def test_a_failed_shard_fails_the_report_with_its_parts_and_shard_list_removed(distributed, shard, when):
    rule = distributed.plan.fail_step("aggregate_shard", shard=shard, when=when)
    report = distributed.generate(type="CUSTOMER")
    assert rule.fired == 1
    _took_the_distributed_branch(distributed)
    failed = check_outcome(distributed, report.report_id, "FAILED")  # no part, no shard list left
    assert [int(error.code) for error in failed.errors] == [1002]
    run = distributed.workflow.runs[0]
    assert run.visited[-3:] == ["AggregateDistributed", "MarkFailed", "GenerationFailed"]
    assert run.state is not None and run.state["error"]["Error"] == "States.ExceedToleratedFailureThreshold"
    assert [step for step, _ in distributed.plan.step_calls].count("mark_failed") == 1
    check_identical_create(distributed, failed)


def test_a_throttled_shard_is_retried_to_the_same_file(distributed):
    rule = distributed.plan.fail("s3", "SlowDown", step="aggregate_shard", shard="last", times=2)
    report = distributed.generate(type="CUSTOMER")
    assert rule.fired == 2
    _took_the_distributed_branch(distributed)
    check_outcome(distributed, report.report_id, "COMPLETED")


def test_the_shard_list_unreadable_fails_the_report_cleanly(distributed):
    """The map's ItemReader cannot read the list (S3 fails every read of it): FAILED, cleaned."""
    rule = distributed.plan.fail(
        "s3",
        "SlowDown",
        operations=("GetObject",),
        where=lambda params: str(params.get("Key", "")).endswith(SHARD_LIST_NAME),
        times=float("inf"),
    )
    report = distributed.generate(type="CUSTOMER")
    assert rule.fired >= 1
    failed = check_outcome(distributed, report.report_id, "FAILED")
    assert distributed.workflow.runs[0].state["error"]["Error"] == "States.ItemReaderFailed"
    check_identical_create(distributed, failed)
