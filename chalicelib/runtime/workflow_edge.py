"""The edge of the report state machine: the JSON state Step Functions carries ⇄ the typed
messages the steps take and return (domain/workflow_messages.py). `run_step` reads a step's input
out of the state (`task_input`: ``$.job`` a `GenerationJob`, a caught ``$.error`` a
`StepFailure`, and so on) and writes its result back as JSON (`task_output`). Used by the Lambda
handlers (api/worker.py) and the local runner (local/step_functions.py); nothing else translates
the workflow's JSON."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.domain.commands import GenerationJob
from chalicelib.domain.workflow_messages import (
    AggregateInput,
    AssembleInput,
    FinalizeInput,
    MarkFailedInput,
    PlanGone,
    PlanInput,
    PlanReady,
    PlanWaiting,
    StepInput,
    StepOutput,
)

StepFunction = Callable[[StepInput], StepOutput]

# Each step function (a Task's Lambda, `workflow.STEP_FUNCTIONS`) → the message it takes.
STEP_INPUTS: dict[str, type[PlanInput | AggregateInput | AssembleInput | FinalizeInput | MarkFailedInput]] = {
    "plan": PlanInput,
    "aggregate_shard": AggregateInput,
    "assemble": AssembleInput,
    "finalize": FinalizeInput,
    "mark_failed": MarkFailedInput,
}


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
    is JSON with the ``errorMessage``; for a `StatesError`, its text (`StepFailure.from_json`
    reads either)."""
    if isinstance(error, StatesError):
        return {"Error": error.name, "Cause": str(error)}
    return {"Error": error_name(error), "Cause": json.dumps({"errorMessage": str(error)})}


def task_input(step: str, state: Mapping[str, Any]) -> StepInput:
    """The state (a Task's input) as step `step` takes it."""
    return STEP_INPUTS[step].from_json(state)


def task_output(state: Mapping[str, Any], result: StepOutput) -> dict[str, Any]:
    """A step's result as the state carries it. A job it hands on (Plan's) is the very JSON of
    `state`'s job when it is that job (an execution carries its input's job byte for byte, one
    written before a field existed too), else the job's `to_json()`."""
    output = result.to_json()
    if isinstance(result, PlanReady | PlanWaiting | PlanGone):
        carried = state.get("job")
        if isinstance(carried, dict) and GenerationJob.from_json(carried) == result.job:
            output["job"] = carried
    return output


def run_step(step: str, function: StepFunction, state: Mapping[str, Any]) -> dict[str, Any]:
    """Call step function `function` (the Task `step`) on a state as Step Functions carries it,
    and give its result back as the state carries it: the one translation of the Lambda
    handlers and `LocalExecution`."""
    return task_output(state, function(task_input(step, state)))
