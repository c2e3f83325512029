"""The emitted ASL and the local runner walk the same states (ARCHITECTURE.md §5: one definition).

`AslInterpreter` below executes the *emitted JSON* with the semantics Step Functions documents
for the features it uses (Task + Retry/Catch/ResultPath, Choice on booleans, Map with
ItemsPath/ItemSelector/ResultPath, Succeed, Fail), knowing nothing of workflow.py's Python
definition. Each scenario runs the same step functions through both and compares the states
visited, the retries slept, the final status and the final state. Its Tasks call each step as
the Lambda handlers of api/worker.py do, through `run_step` (the job typed on the way in, JSON
again on the way out), and carry only what JSON carries, as Step Functions does.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chalicelib.domain.commands import StepFailure
from chalicelib.domain.errors import Throttled
from chalicelib.workflow import STEP_FUNCTIONS, LocalExecution, function_arn_placeholder, to_asl
from chalicelib.workflow_edge import error_name, run_step


class AslFailed(Exception):
    pass


class AslInterpreter:
    def __init__(self, asl: dict[str, Any], functions: dict[str, Any], sleep: Any) -> None:
        self.asl = json.loads(json.dumps(asl))  # only what survives serialisation
        self.functions = {function_arn_placeholder(name): function for name, function in functions.items()}
        self.sleep = sleep
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
                return json.loads(json.dumps(run_step(self.functions[spec["Resource"]], copy.deepcopy(data))))
            except Exception as error:  # noqa: BLE001
                retrier = next((r for r in spec.get("Retry", []) if error_name(error) in r["ErrorEquals"]), None)
                if retrier is None or attempt + 1 >= retrier["MaxAttempts"]:
                    raise
                self.sleep(retrier["IntervalSeconds"] * retrier["BackoffRate"] ** attempt)
                attempt += 1

    def _map(self, spec: dict[str, Any], data: Any) -> list[Any]:
        results = []
        processor = spec["ItemProcessor"]
        for item in _get(data, spec["ItemsPath"]):
            selected = {
                key.removesuffix(".$"): (item if path == "$$.Map.Item.Value" else _get(data, path))
                for key, path in spec["ItemSelector"].items()
            }
            status, output = self._machine(processor["StartAt"], processor["States"], selected, top=False)
            if status != "SUCCEEDED":
                raise AslFailed("iteration failed")
            results.append(output)
        return results

    @staticmethod
    def _choose(spec: dict[str, Any], data: Any) -> str:
        for rule in spec["Choices"]:
            try:
                value = _get(data, rule["Variable"])
            except KeyError:
                continue
            if value is rule["BooleanEquals"]:
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


def _steps(log: list[str], scenario: dict[str, Any]) -> dict[str, Any]:
    """Step functions scripted by a scenario; both runners call the same ones."""
    budget = {"throttles": scenario.get("throttles", 0)}

    def step(name: str):
        def run(state: dict[str, Any]) -> dict[str, Any]:
            log.append(name)
            if scenario.get("fail_at") == name:
                raise RuntimeError(f"{name} broke")
            if scenario.get("throttle_at") == name and budget["throttles"]:
                budget["throttles"] -= 1
                raise Throttled("slow down")
            if name == "plan":
                if scenario.get("gone"):
                    return {"job": state["job"], "gone": True, "ready": False}
                if scenario.get("waiting"):
                    return {"job": state["job"], "gone": False, "ready": False, "waitingFor": "2026-10-31"}
                shards = [{"index": index} for index in range(scenario.get("shards", 3))]
                return {
                    "job": state["job"],
                    "gone": False,
                    "ready": True,
                    "dayVersions": {"2026-10-01": 1},
                    "dayRows": {"2026-10-01": 3},
                    "shards": shards,
                }
            if name == "aggregate_shard":
                return {"partKey": f"part-{state['shard']['index']}", "rows": state["shard"]["index"] + 1}
            if name == "assemble":
                return {"s3Key": "k", "rowCount": sum(part["rows"] for part in state["parts"]), "sha256": "h"}
            if name == "finalize":
                return {"completed": True, "outcome": "completed"}
            failure = state["error"]
            assert isinstance(failure, StepFailure), failure
            return {"failed": True, "code": 1002, "told": [failure.error, failure.message]}

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
}


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_emitted_asl_and_local_runner_walk_the_same_states(scenario):
    job = {"job": {"partnerOrgId": "p", "reportId": "r", "revision": 1, "trackingId": "t"}}
    asl_log, asl_sleeps = [], []
    interpreter = AslInterpreter(to_asl(max_concurrency=1), _steps(asl_log, scenario), asl_sleeps.append)
    asl_status, asl_state = interpreter.run(copy.deepcopy(job))

    local_log, local_sleeps = [], []
    local = LocalExecution(
        _steps(local_log, scenario),
        max_concurrency=1,
        sleep=lambda seconds: local_sleeps.append(seconds) or True,
    )
    local_status, local_state = local.run(copy.deepcopy(job))

    assert local.visited == interpreter.visited
    assert (local_status, local_log, local_sleeps) == (asl_status, asl_log, asl_sleeps)
    assert local_state == asl_state
    # and the scenario did what it says, so the comparison is not vacuous
    if "fail_at" in scenario or scenario.get("throttles", 0) > 10:
        assert local.visited[-2:] == ["MarkFailed", "GenerationFailed"] and local_status == "FAILED"
        told = ["RuntimeError", f"{scenario['fail_at']} broke"] if "fail_at" in scenario else ["Throttled", "slow down"]
        assert local_state["result"]["told"] == told
    elif scenario.get("waiting"):
        assert local.visited[-1] == "WaitingForData"
    elif scenario.get("gone"):
        assert local.visited[-1] == "ReportGone"
    else:
        assert local.visited[-1] == "Finalize" and local_state["result"]["completed"] is True
