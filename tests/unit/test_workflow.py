"""The state machine: one definition, emitted as ASL and walked by the local runner; the edges
that translate the JSON it carries (each step's message, a caught error, execution names)."""

from __future__ import annotations

import json
import string
from datetime import date
from types import SimpleNamespace

import pytest

from chalicelib.adapters.step_functions import StepFunctionsWorkflow, execution_name
from chalicelib.domain.commands import GenerationJob, StepFailure, job_of, regeneration_job_of
from chalicelib.domain.errors import Throttled
from chalicelib.domain.regeneration import run_name, run_prefix
from chalicelib.domain.sharding import Shard
from chalicelib.domain.workflow_messages import (
    AggregateInput,
    AssembledFile,
    FinalizeResult,
    MarkFailedInput,
    MarkFailedResult,
    PartWritten,
    PlanInput,
    PlanReady,
    PlanWaiting,
    ShardItem,
)
from chalicelib.local.step_functions import LocalExecution
from chalicelib.runtime.workflow import (
    RETRY_MAX_ATTEMPTS,
    START_AT,
    STEP_FUNCTIONS,
    Map,
    Task,
    definition,
    function_arn_placeholder,
    to_asl,
)
from chalicelib.runtime.workflow_edge import caught_error, run_step, task_input, task_output

# A job as executions carry it ($.job); JOB_JSON's `trigger` was not written before triggers existed.
JOB = GenerationJob("org-1", "r", 1, "WBR_t")
JOB_JSON = {"partnerOrgId": "org-1", "reportId": "r", "revision": 1, "trackingId": "WBR_t"}
DAY = date(2026, 10, 1)


def _shard(index):
    return ShardItem(Shard(index, None, None, 1))


def _steps(log, fail_at=None, ready=True, throttle_times=0):
    throttles = {"left": throttle_times}

    def step(name):
        def run(message):
            log.append(name)
            if name == fail_at:
                raise RuntimeError("boom")
            # one shard is throttled: the two shards run at once, and a shared count would be
            # spent by either of them (then each retries once: delays 2, 2 instead of 2, 4)
            if name == "aggregate_shard" and message.shard.shard.index == 0 and throttles["left"]:
                throttles["left"] -= 1
                raise Throttled("slow down")
            if name == "plan":
                if not ready:
                    return PlanWaiting(message.job, date(2026, 10, 31))
                return PlanReady(message.job, {DAY: 1}, {DAY: 3}, (_shard(0), _shard(1)))
            if name == "aggregate_shard":
                return PartWritten(f"p{message.shard.shard.index}", 1, "h")
            if name == "assemble":
                assert [part.part_key for part in message.parts] == ["p0", "p1"]
                return AssembledFile("k", 2, "x")
            if name == "finalize":
                return FinalizeResult("completed")
            return MarkFailedResult(True, 1002)

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
    status, state = execution.run({"job": JOB_JSON})
    assert status == "SUCCEEDED"
    assert execution.visited == ["Plan", "DataReady?", "Aggregate", "Assemble", "Finalize"]
    assert set(execution.visited) <= set(to_asl()["States"])
    assert log.count("aggregate_shard") == 2 and state["file"]["rowCount"] == 2


@pytest.mark.parametrize("fail_at", ["plan", "aggregate_shard", "assemble", "finalize"])
def test_any_step_failure_goes_to_mark_failed(fail_at):
    log = []
    execution = LocalExecution(_steps(log, fail_at=fail_at), sleep=lambda s: True)
    status, state = execution.run({"job": JOB_JSON})
    assert status == "FAILED"
    assert execution.visited[-2:] == ["MarkFailed", "GenerationFailed"]
    assert log[-1] == "mark_failed" and state["error"]["Error"] == "RuntimeError"


def test_throttling_is_retried_with_backoff():
    log, delays = [], []
    execution = LocalExecution(_steps(log, throttle_times=2), sleep=lambda s: delays.append(s) or True)
    status, _ = execution.run({"job": JOB_JSON})
    assert status == "SUCCEEDED" and delays == [2, 4]


def test_throttling_beyond_max_attempts_fails_the_report():
    log = []
    execution = LocalExecution(_steps(log, throttle_times=50), sleep=lambda s: True, max_concurrency=1)
    status, state = execution.run({"job": JOB_JSON})
    assert status == "FAILED" and state["error"]["Error"] == "Throttled"
    assert log.count("aggregate_shard") >= RETRY_MAX_ATTEMPTS


def test_waiting_for_data_ends_the_run_parked():
    log = []
    execution = LocalExecution(_steps(log, ready=False), sleep=lambda s: True)
    status, _ = execution.run({"job": JOB_JSON})
    assert status == "SUCCEEDED" and log == ["plan"]
    assert execution.visited == ["Plan", "DataReady?", "WaitingForData"]


def test_a_cancelled_run_stops_before_the_next_state():
    log = []
    execution = LocalExecution(_steps(log), sleep=lambda s: True, cancelled=lambda: bool(log))
    status, _ = execution.run({"job": JOB_JSON})
    assert status == "ABORTED" and log == ["plan"] and execution.visited == ["Plan"]


def test_map_iterator_is_a_task_without_its_own_catch():
    aggregate = definition()["Aggregate"]
    assert isinstance(aggregate, Map) and isinstance(aggregate.iterator, Task) and not aggregate.iterator.catch


def test_mark_failed_is_told_the_failure_as_a_step_failure():
    told = []
    steps = _steps([], fail_at="assemble")
    steps["mark_failed"] = lambda message: told.append(message.failure) or MarkFailedResult(True, 1002)
    status, state = LocalExecution(steps, sleep=lambda s: True).run({"job": JOB_JSON})
    assert status == "FAILED" and told == [StepFailure("RuntimeError", "boom")]
    assert state["error"] == {
        "Error": "RuntimeError",
        "Cause": json.dumps({"errorMessage": "boom"}),
    }  # as Step Functions


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (
            {
                "Error": "DataNotAvailable",
                "Cause": '{"errorMessage": "day 2026-10-01", "errorType": "DataNotAvailable"}',
            },
            StepFailure("DataNotAvailable", "day 2026-10-01"),
        ),
        (
            {"Error": "States.Timeout", "Cause": "the task timed out"},
            StepFailure("States.Timeout", "the task timed out"),
        ),
        ({"Error": "X", "Cause": '{"trace": []}'}, StepFailure("X", '{"trace": []}')),
        ({"Error": "X", "Cause": ""}, StepFailure("X", None)),
        ({"Error": "X"}, StepFailure("X", None)),
        ({}, StepFailure("", None)),
    ],
)
def test_a_caught_error_is_read_at_the_edge(error, failure):
    assert task_input("mark_failed", {"job": JOB_JSON, "error": error}) == MarkFailedInput(JOB, failure)


def test_mark_failed_without_a_caught_error_is_told_an_unnamed_one():
    assert task_input("mark_failed", {"job": JOB_JSON}) == MarkFailedInput(JOB, StepFailure("", None))


def test_a_step_gets_its_message_read_out_of_the_state():
    shard = {"index": 0, "customersFrom": None, "customersBefore": "c", "rows": 5}
    state = {"job": JOB_JSON, "shard": shard, "dayVersions": {"2026-10-01": 2}, "dayRows": {"2026-10-01": 7}}
    expected = AggregateInput(JOB, {DAY: 2}, {DAY: 7}, ShardItem(Shard(0, None, "c", 5)))
    assert task_input("aggregate_shard", state) == expected
    assert task_input("plan", {"job": JOB_JSON}) == PlanInput(JOB)
    assert state["job"] is JOB_JSON and state["shard"] is shard  # the carried state is not changed


def test_the_job_a_step_hands_on_is_carried_as_the_json_it_came_as():
    state = {"job": JOB_JSON}
    handed_on = task_output(state, PlanWaiting(JOB, DAY))
    waiting = {"job": JOB_JSON, "gone": False, "ready": False, "waitingFor": "2026-10-01"}
    assert json.dumps(handed_on) == json.dumps(waiting)  # no `trigger` added
    assert task_output(state, PartWritten("p", 1, "h", 3)) == {"partKey": "p", "rows": 1, "sha256": "h", "bytes": 3}
    other = GenerationJob("org-1", "r", 2, "WBR_t", "resume1")
    assert task_output(state, PlanWaiting(other, DAY))["job"] == other.to_json()


def test_a_local_run_gives_its_steps_the_job_typed_and_carries_json_only():
    log, jobs = [], []
    steps = _steps(log)

    def seeing(function):
        def run(message):
            jobs.append(message.job)
            return function(message)

        return run

    execution = LocalExecution({name: seeing(function) for name, function in steps.items()}, sleep=lambda s: True)
    status, state = execution.run({"job": JOB_JSON})
    assert status == "SUCCEEDED" and len(jobs) == len(log) == 5 and set(jobs) == {JOB}
    assert json.loads(json.dumps(state)) == state and json.dumps(state["job"]) == json.dumps(JOB_JSON)


def test_run_step_is_task_input_then_task_output():
    state = {"job": JOB_JSON, "error": caught_error(ValueError("no"))}
    told = []
    result = run_step("mark_failed", lambda message: told.append(message) or MarkFailedResult(True, 1002), state)
    assert result == {"failed": True, "code": 1002}
    assert told == [task_input("mark_failed", state)] == [MarkFailedInput(JOB, StepFailure("ValueError", "no"))]


def _report(revision=1):
    return SimpleNamespace(
        partner_org_id="org-1",
        report_id="Y2lzY29zcGFyazovL3VzL0JJTExJTkdfUkVQT1JUL2Ex",
        revision=revision,
        tracking_id="WBR_t",
    )


def test_the_job_json_is_what_executions_have_always_carried():
    first = job_of(_report(), "wake-20261001v2")
    assert json.dumps(first.to_json()) == json.dumps(
        {
            "partnerOrgId": "org-1",
            "reportId": _report().report_id,
            "revision": 1,
            "trackingId": "WBR_t",
            "trigger": "wake-20261001v2",
        }
    )
    again = regeneration_job_of(_report(3), "regen-20261001v4")
    assert json.dumps(again.to_json()) == json.dumps(
        {
            "partnerOrgId": "org-1",
            "reportId": _report().report_id,
            "revision": 4,
            "trackingId": "WBR_t",
            "trigger": "regen-20261001v4",
            "baseRevision": 3,
        }
    )
    assert again.is_regeneration and not first.is_regeneration
    for job in (first, again):
        assert GenerationJob.from_json(json.loads(json.dumps(job.to_json()))) == job


def test_a_job_written_before_triggers_still_parses():
    job = GenerationJob.from_json({"partnerOrgId": "p", "reportId": "r", "revision": 2, "trackingId": "t"})
    assert job == GenerationJob("p", "r", 2, "t", "create", None)
    assert job.run_name == "r-r2-create"


def test_execution_names_keep_within_what_step_functions_allows():
    job = job_of(_report(), "resume1")
    assert execution_name(job.run_name) == job.run_name == f"{_report().report_id[-36:]}-r1-resume1"
    long = run_name(_report().report_id, 7, "a trigger/with:odd chars" * 4)
    name = execution_name(long)
    assert len(name) == 80 and set(name) <= set(string.ascii_letters + string.digits + "-_")
    assert name.startswith(run_prefix(_report().report_id))


def test_step_functions_start_names_the_execution_and_carries_the_job_json():
    calls = []
    client = SimpleNamespace(
        start_execution=lambda **kwargs: calls.append(kwargs),
        describe_execution=lambda executionArn: calls.append(executionArn) or {"status": "RUNNING"},
    )
    workflow = StepFunctionsWorkflow(client, "arn:aws:states:us-east-1:1:stateMachine:wbr")
    job = regeneration_job_of(_report(1), "regen x")
    workflow.start(job, job.run_name)
    assert calls == [
        {
            "stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:wbr",
            "name": execution_name(job.run_name),
            "input": json.dumps({"job": job.to_json()}),
        }
    ]
    assert calls[0]["name"].endswith("-r2-regen-x")
    assert workflow.is_running(job.run_name)
    assert calls[-1] == f"arn:aws:states:us-east-1:1:execution:wbr:{execution_name(job.run_name)}"


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_the_lambda_handlers_hand_their_step_the_state_as_the_local_runner_does():
    from chalicelib import bootstrap
    from chalicelib.api import worker

    given = []

    def step(name):
        def run(message):
            given.append((name, message))
            return PlanWaiting(message.job, DAY) if name == "plan" else MarkFailedResult(True, 1002)

        return run

    container = SimpleNamespace(step=step)
    event = {"job": JOB_JSON, "error": caught_error(RuntimeError("boom"))}
    previous = bootstrap._container
    bootstrap.set_container(container)
    try:
        assert worker.mark_failed(event, None) == {"failed": True, "code": 1002}
        planned = worker.plan({"job": JOB_JSON}, None)
    finally:
        bootstrap.set_container(previous)
    assert given == [("mark_failed", task_input("mark_failed", event)), ("plan", PlanInput(JOB))]
    assert given[0][1].failure == StepFailure("RuntimeError", "boom")
    waiting = {"job": JOB_JSON, "gone": False, "ready": False, "waitingFor": "2026-10-01"}
    assert json.dumps(planned) == json.dumps(waiting)  # what Step Functions carries on
