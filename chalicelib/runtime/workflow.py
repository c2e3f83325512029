"""The report state machine (ARCHITECTURE.md §5), defined once.

``DEFINITION`` is the single description of the workflow. ``to_asl()`` emits it as Amazon States
Language for the deployed Step Functions state machine (each Task names a Chalice
``lambda_function`` through a ``${<Step>FunctionArn}`` substitution); ``LocalExecution``
(chalicelib/local/step_functions.py, never shipped) walks the very same states in-process,
calling the same step functions, for local mode and tests.

    Plan → DataReady? ─ready→ Aggregate (inline Map over $.shards) ──────────→ Assemble → Finalize
             │  │  └─shard list in S3→ AggregateDistributed (Distributed Map) ─┘
             │  └─not yet→ WaitingForData (ends; the day's publication starts a new run)
             └─gone→ ReportGone
    any Task failure → MarkFailed → GenerationFailed

Plan hands a shard list over in the state (``$.shards``) while it is small; past
`INLINE_MAX_SHARDS` shards or what a state may carry (domain/sharding.py) it writes the list to
S3 and hands over ``$.shardList`` ({bucket, key}), which a Distributed Map reads with its
ItemReader, running each shard as a child execution. Both Maps give each shard the same input
(`SHARD_INPUT`) and put the shards' results at ``$.parts``.

The state is JSON, as Step Functions carries it: ``$.job`` is a `GenerationJob`'s JSON and a
caught failure is ``$.error`` (``Error``, ``Cause``); what each step reads from it and adds to it
is a typed message (domain/workflow_messages.py). `workflow_edge.run_step`, called by the Lambda
handlers (api/worker.py) and the local runner, is the one place that translates: it reads a
step's message out of the state and writes its result back as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Errors retried with backoff (Lambda throttling and our own Throttled from AWS clients).
RETRYABLE_ERRORS = [
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.SdkClientException",
    "Throttled",
]
RETRY_INTERVAL_SECONDS = 2
RETRY_BACKOFF_RATE = 2.0
RETRY_MAX_ATTEMPTS = 5

S3_GET_OBJECT = "arn:aws:states:::s3:getObject"


@dataclass(frozen=True)
class Task:
    function: str  # name of the step, a method of GenerationSteps and a Lambda function
    next: str | None = None
    result_path: str | None = None  # None: the result replaces the state
    catch: bool = True


@dataclass(frozen=True)
class When:
    """A Choice rule: `variable` is the boolean true (or, with `is_present`, exists) → `next`."""

    variable: str
    next: str
    is_present: bool = False


@dataclass(frozen=True)
class Choice:
    rules: tuple[When, ...]  # the first that holds decides
    default: str


@dataclass(frozen=True)
class Map:
    """A Map over the shards: inline over the array at `items_path`, or, with `item_reader` (the
    JSONPath of an S3 {bucket, key} holding a JSON array), a Distributed Map whose iterations
    are child executions."""

    item_selector: dict[str, str]  # field → JSONPath on the state; "$$.Map.Item.Value" for the item
    iterator: Task
    iterator_name: str  # the iterator's state name (names are unique in the whole machine)
    result_path: str
    next: str
    max_concurrency: int = 8
    items_path: str | None = None
    item_reader: str | None = None

    @property
    def distributed(self) -> bool:
        return self.item_reader is not None


@dataclass(frozen=True)
class Succeed:
    pass


@dataclass(frozen=True)
class Fail:
    error: str
    cause: str


State = Task | Choice | Map | Succeed | Fail

START_AT = "Plan"
STEP_FUNCTIONS = ["plan", "aggregate_shard", "assemble", "finalize", "mark_failed"]
ITEM_VALUE = "$$.Map.Item.Value"
# What each shard's Aggregate is given, by both Maps.
SHARD_INPUT = {"job": "$.job", "dayVersions": "$.dayVersions", "dayRows": "$.dayRows", "shard": ITEM_VALUE}


def definition(max_concurrency: int = 8) -> dict[str, State]:
    return {
        "Plan": Task("plan", next="DataReady?"),
        "DataReady?": Choice(
            rules=(
                When("$.gone", "ReportGone"),
                When("$.shardList", "AggregateDistributed", is_present=True),
                When("$.ready", "Aggregate"),
            ),
            default="WaitingForData",
        ),
        "Aggregate": _aggregate("AggregateShard", max_concurrency, items_path="$.shards"),
        "AggregateDistributed": _aggregate("AggregateShardChild", max_concurrency, item_reader="$.shardList"),
        "Assemble": Task("assemble", next="Finalize", result_path="$.file"),
        "Finalize": Task("finalize", result_path="$.result"),
        "MarkFailed": Task("mark_failed", next="GenerationFailed", result_path="$.result", catch=False),
        "WaitingForData": Succeed(),
        "ReportGone": Succeed(),
        "GenerationFailed": Fail(error="ReportGenerationFailed", cause="See the report's errors"),
    }


def _aggregate(iterator_name: str, max_concurrency: int, **items: str) -> Map:
    """A Map of Aggregate over the shards (`items`: where they are), its results at ``$.parts``."""
    return Map(
        item_selector=SHARD_INPUT,
        iterator=Task("aggregate_shard", catch=False),
        iterator_name=iterator_name,
        result_path="$.parts",
        next="Assemble",
        max_concurrency=max_concurrency,
        **items,
    )


def function_arn_placeholder(function: str) -> str:
    return "${" + "".join(part.capitalize() for part in function.split("_")) + "FunctionArn}"


# ---- ASL emission -------------------------------------------------------------------------


def _retry() -> list[dict[str, Any]]:
    return [
        {
            "ErrorEquals": RETRYABLE_ERRORS,
            "IntervalSeconds": RETRY_INTERVAL_SECONDS,
            "BackoffRate": RETRY_BACKOFF_RATE,
            "MaxAttempts": RETRY_MAX_ATTEMPTS,
        }
    ]


_CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "MarkFailed"}]


def to_asl(max_concurrency: int = 8) -> dict[str, Any]:
    """The state machine as Amazon States Language (a dict; json.dumps it for deployment)."""
    states: dict[str, Any] = {}
    for name, state in definition(max_concurrency).items():
        if isinstance(state, Task):
            states.update(_task_states(name, state))
        elif isinstance(state, Choice):
            choices = [
                {
                    "Variable": rule.variable,
                    "IsPresent" if rule.is_present else "BooleanEquals": True,
                    "Next": rule.next,
                }
                for rule in state.rules
            ]
            states[name] = {"Type": "Choice", "Choices": choices, "Default": state.default}
        elif isinstance(state, Map):
            states[name] = _map_state(state)
        elif isinstance(state, Succeed):
            states[name] = {"Type": "Succeed"}
        elif isinstance(state, Fail):
            states[name] = {"Type": "Fail", "Error": state.error, "Cause": state.cause}
    return {
        "Comment": "wholesale-billing-reports: generate one report (chalicelib/runtime/workflow.py)",
        "StartAt": START_AT,
        "States": states,
    }


def _map_state(state: Map) -> dict[str, Any]:
    """An inline Map over ``ItemsPath``, or a Distributed Map reading a JSON array from S3: no
    ResultWriter, so its output is the array of the child executions' outputs, as an inline
    Map's (Plan caps the shards so that it fits in a state: `StateBudget.max_shards`)."""
    emitted: dict[str, Any] = {"Type": "Map"}
    if state.item_reader is not None:
        emitted["ItemReader"] = {
            "Resource": S3_GET_OBJECT,
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket.$": f"{state.item_reader}.bucket", "Key.$": f"{state.item_reader}.key"},
        }
    else:
        emitted["ItemsPath"] = state.items_path
    processor: dict[str, Any] = {"ProcessorConfig": {"Mode": "INLINE"}}
    if state.distributed:
        processor["ProcessorConfig"] = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    emitted.update(
        {
            "ItemSelector": {f"{key}.$": path for key, path in state.item_selector.items()},
            "MaxConcurrency": state.max_concurrency,
            "ItemProcessor": {
                **processor,
                "StartAt": state.iterator_name,
                "States": _task_states(state.iterator_name, state.iterator),
            },
        }
    )
    if state.distributed:
        emitted["ToleratedFailurePercentage"] = 0
    emitted.update({"ResultPath": state.result_path, "Next": state.next, "Catch": _CATCH_ALL})
    return emitted


def _task_states(name: str, task: Task) -> dict[str, Any]:
    """A Lambda task; the function's return value lands at `result_path` (or replaces the state)."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": function_arn_placeholder(task.function),
        "ResultPath": task.result_path or "$",
        "Retry": _retry(),
    }
    if task.catch:
        state["Catch"] = _CATCH_ALL
    if task.next is None:
        state["End"] = True
    else:
        state["Next"] = task.next
    return {name: state}
