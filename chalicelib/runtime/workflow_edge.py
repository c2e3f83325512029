"""The edge of the report state machine: the JSON state Step Functions carries ⇄ what the
steps take. ``$.job`` is a `GenerationJob`'s JSON and a caught failure is ``$.error`` (``Error``,
``Cause``); `run_step` gives a step the job as a `GenerationJob` and the failure as a
`StepFailure` (`task_input`) and carries the job a step hands on as JSON again (`task_output`).
Used by the Lambda handlers (api/worker.py) and the local runner (workflow.LocalExecution)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.domain.commands import GenerationJob, StepFailure

StepFunction = Callable[[dict[str, Any]], dict[str, Any]]


class StatesError(Exception):
    """An error Step Functions raises itself (``States.*``, e.g. a Distributed Map whose child
    execution failed), named as Step Functions names it; its Cause is plain text."""

    def __init__(self, name: str, cause: str) -> None:
        super().__init__(cause)
        self.name = name


def error_name(error: BaseException) -> str:
    """The name Step Functions gives an error: a `StatesError`'s own, else (a Lambda error) the
    exception's class name."""
    return error.name if isinstance(error, StatesError) else type(error).__name__


def caught_error(error: BaseException) -> dict[str, Any]:
    """What a Catch puts at ``$.error`` for `error`: for a Lambda that raised it, a Cause that
    is JSON with the ``errorMessage``; for a `StatesError`, its text."""
    if isinstance(error, StatesError):
        return {"Error": error.name, "Cause": str(error)}
    return {"Error": error_name(error), "Cause": json.dumps({"errorMessage": str(error)})}


def failure_of(error: dict[str, Any]) -> StepFailure:
    """A caught ``$.error`` as MarkFailed is told it: the error's name and, from the ``Cause``
    (for a Lambda error, JSON text with an ``errorMessage``), its message."""
    cause = error.get("Cause")
    return StepFailure(str(error.get("Error", "")), _cause_message(cause) if cause else None)


def _cause_message(cause: Any) -> str:
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
            if isinstance(parsed, dict) and "errorMessage" in parsed:
                return str(parsed["errorMessage"])
        except ValueError:
            return cause
    return str(cause)


def task_input(state: dict[str, Any]) -> dict[str, Any]:
    """The state as a step function takes it: ``$.job`` as a `GenerationJob` and a caught
    ``$.error`` as a `StepFailure`; everything else as it is."""
    typed = {**state, "job": GenerationJob.from_json(state["job"])}
    if isinstance(state.get("error"), dict):
        typed["error"] = failure_of(state["error"])
    return typed


def task_output(state: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """A step's result as the state carries it: a job it hands on (Plan's) as JSON again — the
    very JSON of `state`'s job when it is that job (an execution carries its input's job byte
    for byte, one written before a field existed too), else the job's `to_json()`."""
    if not isinstance(result.get("job"), GenerationJob):
        return result
    carried = state.get("job")
    same = isinstance(carried, dict) and GenerationJob.from_json(carried) == result["job"]
    return {**result, "job": carried if same else result["job"].to_json()}


def run_step(function: StepFunction, state: dict[str, Any]) -> dict[str, Any]:
    """Call a step function on a state as Step Functions carries it (a Task's input), and give
    its result back as the state carries it: the one translation of the Lambda handlers and
    `LocalExecution`."""
    return task_output(state, function(task_input(state)))
