"""The state machine: one definition, emitted as ASL and walked by the local runner."""

from __future__ import annotations

import json

import pytest

from chalicelib.domain.errors import Throttled
from chalicelib.workflow import (
    RETRY_MAX_ATTEMPTS,
    START_AT,
    STEP_FUNCTIONS,
    LocalExecution,
    Map,
    Task,
    definition,
    function_arn_placeholder,
    to_asl,
)


def _steps(log, fail_at=None, ready=True, throttle_times=0):
    throttles = {"left": throttle_times}

    def step(name):
        def run(state):
            log.append(name)
            if name == fail_at:
                raise RuntimeError("boom")
            if name == "aggregate_shard" and throttles["left"]:
                throttles["left"] -= 1
                raise Throttled("slow down")
            if name == "plan":
                return {"job": state["job"], "gone": False, "ready": ready,
                        "dayVersions": {"2026-10-01": 1}, "dayRows": {"2026-10-01": 3}, "shards": [{"index": 0}, {"index": 1}]}
            if name == "aggregate_shard":
                return {"partKey": f"p{state['shard']['index']}", "rows": 1}
            if name == "assemble":
                assert [part["partKey"] for part in state["parts"]] == ["p0", "p1"]
                return {"s3Key": "k", "rowCount": 2, "sha256": "x"}
            return {"ok": True}

        return run

    return {name: step(name) for name in STEP_FUNCTIONS}


def test_asl_has_every_state_of_the_definition_and_only_known_functions():
    asl = to_asl()
    assert asl["StartAt"] == START_AT
    assert set(asl["States"]) == set(definition())
    resources = json.dumps(asl)
    for function in STEP_FUNCTIONS:
        assert function_arn_placeholder(function) in resources
    aggregate = asl["States"]["Aggregate"]
    assert aggregate["Type"] == "Map" and aggregate["MaxConcurrency"] == 8
    for name, state in asl["States"].items():
        if state["Type"] in ("Task", "Map") and name != "MarkFailed":
            assert state["Catch"][0]["Next"] == "MarkFailed"


def test_local_run_walks_the_asl_happy_path():
    log = []
    execution = LocalExecution(_steps(log), sleep=lambda s: True)
    status, state = execution.run({"job": {"reportId": "r"}})
    assert status == "SUCCEEDED"
    assert execution.visited == ["Plan", "DataReady?", "Aggregate", "Assemble", "Finalize"]
    assert set(execution.visited) <= set(to_asl()["States"])
    assert log.count("aggregate_shard") == 2 and state["file"]["rowCount"] == 2


@pytest.mark.parametrize("fail_at", ["plan", "aggregate_shard", "assemble", "finalize"])
def test_any_step_failure_goes_to_mark_failed(fail_at):
    log = []
    execution = LocalExecution(_steps(log, fail_at=fail_at), sleep=lambda s: True)
    status, state = execution.run({"job": {"reportId": "r"}})
    assert status == "FAILED"
    assert execution.visited[-2:] == ["MarkFailed", "GenerationFailed"]
    assert log[-1] == "mark_failed" and state["error"]["Error"] == "RuntimeError"


def test_throttling_is_retried_with_backoff():
    log, delays = [], []
    execution = LocalExecution(_steps(log, throttle_times=2), sleep=lambda s: delays.append(s) or True)
    status, _ = execution.run({"job": {"reportId": "r"}})
    assert status == "SUCCEEDED" and delays == [2, 4]


def test_throttling_beyond_max_attempts_fails_the_report():
    log = []
    execution = LocalExecution(_steps(log, throttle_times=50), sleep=lambda s: True, max_concurrency=1)
    status, state = execution.run({"job": {"reportId": "r"}})
    assert status == "FAILED" and state["error"]["Error"] == "Throttled"
    assert log.count("aggregate_shard") >= RETRY_MAX_ATTEMPTS


def test_waiting_for_data_ends_the_run_parked():
    log = []
    execution = LocalExecution(_steps(log, ready=False), sleep=lambda s: True)
    status, _ = execution.run({"job": {"reportId": "r"}})
    assert status == "SUCCEEDED" and log == ["plan"]
    assert execution.visited == ["Plan", "DataReady?", "WaitingForData"]


def test_a_cancelled_run_stops_before_the_next_state():
    log = []
    execution = LocalExecution(_steps(log), sleep=lambda s: True, cancelled=lambda: bool(log))
    status, _ = execution.run({"job": {"reportId": "r"}})
    assert status == "ABORTED" and log == ["plan"] and execution.visited == ["Plan"]


def test_map_iterator_is_a_task_without_its_own_catch():
    aggregate = definition()["Aggregate"]
    assert isinstance(aggregate, Map) and isinstance(aggregate.iterator, Task) and not aggregate.iterator.catch
