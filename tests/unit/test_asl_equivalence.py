"""The emitted ASL and the local runner walk the same states (ARCHITECTURE.md §5: one definition).

`AslInterpreter` below executes the *emitted JSON* with the semantics Step Functions documents
for the features it uses (Task + Retry/Catch/ResultPath, Choice on booleans and IsPresent, Map
with ItemsPath/ItemSelector/ResultPath, a Distributed Map with an S3 JSON ItemReader, Succeed,
Fail), knowing nothing of workflow.py's Python definition. Each scenario runs the same step
functions through both and compares the states visited, the retries slept, the final status and
the final state. Its Tasks call each step as the Lambda handlers of api/worker.py do, through
`run_step` (the step's message read out of the JSON on the way in, its result JSON again on the
way out), and carry only what JSON carries, as Step Functions does.

A Distributed Map (``ProcessorConfig.Mode: DISTRIBUTED``) reads its items with
``s3:getObject`` from the object its ``Parameters`` name (``InputType: JSON``: the object is a
JSON array), runs each item's ItemSelector output as a child execution of the ItemProcessor,
returns the children's outputs as an array (no ResultWriter), and with
``ToleratedFailurePercentage`` 0 fails as ``States.ExceedToleratedFailureThreshold`` once a
child fails. The scenarios' S3 is a dict both runners read: the interpreter directly, the local
runner through `blob_item_reader`, as the deployed stack's does over the reports bucket.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest

from chalicelib.domain.commands import StepFailure
from chalicelib.domain.errors import Throttled
from chalicelib.domain.sharding import Shard
from chalicelib.domain.workflow_messages import (
    AggregateInput,
    AssembledFile,
    FinalizeResult,
    MarkFailedResult,
    PartWritten,
    PlanGone,
    PlanReady,
    PlanWaiting,
    ShardItem,
    ShardList,
)
from chalicelib.local.step_functions import LocalExecution, blob_item_reader
from chalicelib.runtime.workflow import STEP_FUNCTIONS, function_arn_placeholder, to_asl
from chalicelib.runtime.workflow_edge import error_name, run_step

BUCKET = "reports-bucket"
Objects = dict[tuple[str, str], str]  # (bucket, key) → the object's text


class AslFailed(Exception):
    pass


class ServiceError(Exception):
    """An error Step Functions raises itself: its name and its (plain text) cause."""

    def __init__(self, name: str, cause: str) -> None:
        super().__init__(cause)
        self.name, self.cause = name, cause


class AslInterpreter:
    def __init__(self, asl: dict[str, Any], functions: dict[str, Any], sleep: Any, objects: Objects) -> None:
        self.asl = json.loads(json.dumps(asl))  # only what survives serialisation
        # a Task's Resource → the step (its name: the Lambda function) and its function
        self.functions = {function_arn_placeholder(name): (name, function) for name, function in functions.items()}
        self.sleep = sleep
        self.objects = objects
        self.visited: list[str] = []

    def run(self, state: Any) -> tuple[str, Any]:
        return self._machine(self.asl["StartAt"], self.asl["States"], state, top=True)

    def _machine(self, current: str, states: dict[str, Any], data: Any, top: bool) -> tuple[str, Any]:
        while True:
            if top:
                self.visited.append(current)
            spec = states[current]
            kind = spec["Type"]
            if kind == "Succeed":
                return "SUCCEEDED", data
            if kind == "Fail":
                return "FAILED", data
            if kind == "Choice":
                current = self._choose(spec, data)
                continue
            try:
                if kind == "Task":
                    result = self._task(spec, data)
                elif kind == "Map":
                    result = self._map(spec, data)
                else:  # pragma: no cover - the emitted ASL uses nothing else
                    raise AssertionError(f"unsupported state type {kind}")
            except Exception as error:  # noqa: BLE001
                catcher = next(
                    (
                        catch
                        for catch in spec.get("Catch", [])
                        if "States.ALL" in catch["ErrorEquals"] or error_name(error) in catch["ErrorEquals"]
                    ),
                    None,
                )
                if catcher is None:
                    raise
                if isinstance(error, ServiceError):
                    cause = {"Error": error.name, "Cause": error.cause}
                else:  # a Lambda error: its Cause is JSON with the errorMessage
                    cause = {"Error": error_name(error), "Cause": json.dumps({"errorMessage": str(error)})}
                data = _put(data, catcher["ResultPath"], cause)
                current = catcher["Next"]
                continue
            data = _put(data, spec.get("ResultPath", "$"), result)
            if spec.get("End"):
                return "SUCCEEDED", data
            current = spec["Next"]

    def _task(self, spec: dict[str, Any], data: Any) -> Any:
        attempt = 0
        while True:
            try:
                name, function = self.functions[spec["Resource"]]
                return json.loads(json.dumps(run_step(name, function, copy.deepcopy(data))))
            except Exception as error:  # noqa: BLE001
                retrier = next((r for r in spec.get("Retry", []) if error_name(error) in r["ErrorEquals"]), None)
                if retrier is None or attempt + 1 >= retrier["MaxAttempts"]:
                    raise
                self.sleep(retrier["IntervalSeconds"] * retrier["BackoffRate"] ** attempt)
                attempt += 1

    def _map(self, spec: dict[str, Any], data: Any) -> list[Any]:
        results = []
        processor = spec["ItemProcessor"]
        distributed = processor["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
        if distributed:
            assert processor["ProcessorConfig"]["ExecutionType"] == "STANDARD"
            assert "ItemsPath" not in spec and "ResultWriter" not in spec
            items = self._read_items(spec["ItemReader"], data)
        else:
            assert processor["ProcessorConfig"]["Mode"] == "INLINE" and "ItemReader" not in spec
            items = _get(data, spec["ItemsPath"])
        for item in items:
            selected = {
                key.removesuffix(".$"): (item if path == "$$.Map.Item.Value" else _get(data, path))
                for key, path in spec["ItemSelector"].items()
            }
            try:
                status, output = self._machine(processor["StartAt"], processor["States"], selected, top=False)
            except Exception:
                if not distributed:
                    raise  # an inline iteration's error is the Map's
                status, output = "FAILED", None
            if status != "SUCCEEDED":
                if distributed and spec.get("ToleratedFailurePercentage", 0) == 0:
                    raise ServiceError(
                        "States.ExceedToleratedFailureThreshold",
                        "The specified tolerated failure threshold was exceeded",
                    )
                raise AslFailed("iteration failed")
            results.append(output)
        return results

    def _read_items(self, reader: dict[str, Any], data: Any) -> list[Any]:
        assert reader["Resource"] == "arn:aws:states:::s3:getObject"
        assert reader["ReaderConfig"] == {"InputType": "JSON"}
        parameters = {
            key.removesuffix(".$"): _get(data, value) if key.endswith(".$") else value
            for key, value in reader["Parameters"].items()
        }
        try:
            text = self.objects[(parameters["Bucket"], parameters["Key"])]
        except KeyError:
            raise ServiceError("States.ItemReaderFailed", "the object does not exist") from None
        items = json.loads(text)
        assert isinstance(items, list)
        return items

    @staticmethod
    def _choose(spec: dict[str, Any], data: Any) -> str:
        for rule in spec["Choices"]:
            try:
                value = _get(data, rule["Variable"])
            except KeyError:
                if rule.get("IsPresent") is False:
                    return rule["Next"]
                continue
            if "IsPresent" in rule:
                if rule["IsPresent"] is True:
                    return rule["Next"]
            elif value is rule["BooleanEquals"]:
                return rule["Next"]
        return spec["Default"]


def _get(data: Any, path: str) -> Any:
    for part in path.removeprefix("$").strip(".").split("."):
        if part:
            data = data[part]
    return data


def _put(data: Any, path: str, value: Any) -> Any:
    if path == "$":
        return value
    result = dict(data)
    result[path.removeprefix("$.")] = value
    return result


class Blobs:
    """The reports bucket of a scenario, as the local runner's ItemReader reads it."""

    bucket = BUCKET

    def __init__(self, objects: Objects) -> None:
        self.objects = objects

    def read_text(self, key: str) -> str:
        return self.objects[(self.bucket, key)]


DAY = date(2026, 10, 1)


def _steps(log: list[str], scenario: dict[str, Any], objects: Objects, told: list[Any]) -> dict[str, Any]:
    """Step functions scripted by a scenario; both runners call the same ones. A "distributed"
    scenario's Plan writes the shard list to `objects` (the reports bucket) as Plan does past
    40 shards, and hands over where it is. MarkFailed puts what it was told in `told`."""
    budget = {"throttles": scenario.get("throttles", 0)}

    def step(name: str):
        def run(message: Any) -> Any:
            log.append(name)
            if scenario.get("fail_at") == name:
                raise RuntimeError(f"{name} broke")
            if scenario.get("throttle_at") == name and budget["throttles"]:
                budget["throttles"] -= 1
                raise Throttled("slow down")
            if name == "plan":
                if scenario.get("gone"):
                    return PlanGone(message.job)
                if scenario.get("waiting"):
                    return PlanWaiting(message.job, date(2026, 10, 31))
                shards = tuple(ShardItem(Shard(index, None, None, 1)) for index in range(scenario.get("shards", 3)))
                pinned = {"job": message.job, "day_versions": {DAY: 1}, "day_rows": {DAY: 3}}
                if not scenario.get("distributed"):
                    return PlanReady(**pinned, shards=shards)
                key = "parts/p/r/r1/shards.json"
                if not scenario.get("list_lost"):
                    objects[(BUCKET, key)] = json.dumps([item.to_json() for item in shards])
                return PlanReady(**pinned, shards=ShardList(BUCKET, key, len(shards)))
            if name == "aggregate_shard":
                index = message.shard.shard.index
                if scenario.get("fail_shard") == index:
                    raise RuntimeError("aggregate_shard broke")
                # the ItemSelector's: the job, the pinned days and the item
                assert message == AggregateInput(message.job, {DAY: 1}, {DAY: 3}, message.shard), message
                return PartWritten(f"part-{index}", index + 1, "h")
            if name == "assemble":
                return AssembledFile("k", sum(part.rows for part in message.parts), "h")
            if name == "finalize":
                return FinalizeResult("completed")
            failure = message.failure
            assert isinstance(failure, StepFailure), failure
            told[:] = [failure.error, failure.message]
            return MarkFailedResult(True, 1002)

        return run

    return {name: step(name) for name in STEP_FUNCTIONS}


SCENARIOS = {
    "completes": {},
    "one shard": {"shards": 1},
    "no shards": {"shards": 0},
    "waits for data": {"waiting": True},
    "report gone": {"gone": True},
    "plan fails": {"fail_at": "plan"},
    "a shard fails": {"fail_at": "aggregate_shard"},
    "assemble fails": {"fail_at": "assemble"},
    "finalize fails": {"fail_at": "finalize"},
    "plan throttled then ok": {"throttle_at": "plan", "throttles": 2},
    "assemble throttled then ok": {"throttle_at": "assemble", "throttles": 4},
    "finalize throttled for good": {"throttle_at": "finalize", "throttles": 99},
    # The shard list in S3, read by a Distributed Map.
    "distributed completes": {"distributed": True, "shards": 45},
    "distributed no shards": {"distributed": True, "shards": 0},
    "distributed shard fails": {"distributed": True, "shards": 45, "fail_shard": 44},
    "distributed first shard fails": {"distributed": True, "shards": 41, "fail_shard": 0},
    "distributed every shard fails": {"distributed": True, "fail_at": "aggregate_shard"},
    "distributed shard throttled then ok": {"distributed": True, "throttle_at": "aggregate_shard", "throttles": 3},
    "distributed shard throttled for good": {"distributed": True, "throttle_at": "aggregate_shard", "throttles": 99},
    "distributed shard list missing": {"distributed": True, "list_lost": True},
    "distributed assemble fails": {"distributed": True, "fail_at": "assemble"},
}


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_emitted_asl_and_local_runner_walk_the_same_states(scenario):
    job = {"job": {"partnerOrgId": "p", "reportId": "r", "revision": 1, "trackingId": "t"}}
    asl_log, asl_sleeps, asl_objects, asl_told = [], [], {}, []
    asl_steps = _steps(asl_log, scenario, asl_objects, asl_told)
    interpreter = AslInterpreter(to_asl(max_concurrency=1), asl_steps, asl_sleeps.append, asl_objects)
    asl_status, asl_state = interpreter.run(copy.deepcopy(job))

    local_log, local_sleeps, local_objects, local_told = [], [], {}, []
    local = LocalExecution(
        _steps(local_log, scenario, local_objects, local_told),
        max_concurrency=1,
        sleep=lambda seconds: local_sleeps.append(seconds) or True,
        item_reader=blob_item_reader(Blobs(local_objects)),
    )
    local_status, local_state = local.run(copy.deepcopy(job))
    if scenario.get("list_lost"):  # S3's words for a missing object are its own: compare the rest
        for state, told in ((asl_state, asl_told), (local_state, local_told)):
            state["error"]["Cause"] = told[1] = "(the reader's)"

    assert local.visited == interpreter.visited
    assert (local_status, local_log, local_sleeps, local_told) == (asl_status, asl_log, asl_sleeps, asl_told)
    assert local_state == asl_state
    # and the scenario did what it says, so the comparison is not vacuous
    aggregate, other = (
        ("AggregateDistributed", "Aggregate") if scenario.get("distributed") else ("Aggregate", "AggregateDistributed")
    )
    plan_fails = scenario.get("fail_at") == "plan" or (
        scenario.get("throttle_at") == "plan" and scenario["throttles"] > 10
    )
    reaches_map = not (scenario.get("waiting") or scenario.get("gone") or plan_fails)
    assert (aggregate in local.visited) is bool(reaches_map) and other not in local.visited
    shard_failed = "fail_shard" in scenario or scenario.get("fail_at") == "aggregate_shard"
    if scenario.get("distributed") and (shard_failed or scenario.get("throttles", 0) > 10):
        # a failed child execution fails the Distributed Map as a map run, whatever its error
        assert local.visited[-3:] == [aggregate, "MarkFailed", "GenerationFailed"] and local_status == "FAILED"
        told = ["States.ExceedToleratedFailureThreshold", "The specified tolerated failure threshold was exceeded"]
        assert local_told == told
    elif scenario.get("list_lost"):
        assert local.visited[-3:] == [aggregate, "MarkFailed", "GenerationFailed"]
        assert local_told[0] == "States.ItemReaderFailed"
    elif "fail_shard" in scenario:
        assert local.visited[-2:] == ["MarkFailed", "GenerationFailed"] and local_status == "FAILED"
    elif "fail_at" in scenario or scenario.get("throttles", 0) > 10:
        assert local.visited[-2:] == ["MarkFailed", "GenerationFailed"] and local_status == "FAILED"
        told = ["RuntimeError", f"{scenario['fail_at']} broke"] if "fail_at" in scenario else ["Throttled", "slow down"]
        assert local_told == told
    elif scenario.get("waiting"):
        assert local.visited[-1] == "WaitingForData"
    elif scenario.get("gone"):
        assert local.visited[-1] == "ReportGone"
    else:
        assert local.visited[-1] == "Finalize" and local_state["result"]["completed"] is True
