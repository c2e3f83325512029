"""The report state machine (ARCHITECTURE.md §5), defined once.

``DEFINITION`` is the single description of the workflow. ``to_asl()`` emits it as Amazon States
Language for the deployed Step Functions state machine (each Task names a Chalice
``lambda_function`` through a ``${<Step>FunctionArn}`` substitution); ``LocalExecution`` walks
the very same states in-process, calling the same step functions, for local mode and tests.

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
caught failure is ``$.error`` (``Error``, ``Cause``). This module and the Lambda handlers
(api/worker.py) are the edges that translate it: `run_step` gives a step the job as a
`GenerationJob` and the failure as a `StepFailure` (`task_input`) and carries the job a step
hands on as JSON again (`task_output`), and `LocalWorkflow` starts a run from a `GenerationJob`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.domain.commands import GenerationJob
from chalicelib.domain.regeneration import run_prefix
from chalicelib.workflow_edge import StatesError, StepFunction, caught_error, error_name, run_step

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

# A Distributed Map fails as a whole once more child executions failed than it tolerates (none):
# Step Functions names that failure so, not after the child's own error.
MAP_RUN_FAILED = "States.ExceedToleratedFailureThreshold"
MAP_RUN_FAILED_CAUSE = "The specified tolerated failure threshold was exceeded"
ITEM_READER_FAILED = "States.ItemReaderFailed"
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
        "Comment": "wholesale-billing-reports: generate one report (chalicelib/workflow.py)",
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


# ---- local runner -------------------------------------------------------------------------

# (bucket, key) → the JSON array stored there: what a Distributed Map's ItemReader reads.
ItemReader = Callable[[str, str], list[Any]]


class TextObjects(Protocol):
    @property
    def bucket(self) -> str: ...

    def read_text(self, key: str) -> str: ...


def blob_item_reader(blobs: TextObjects) -> ItemReader:
    """The ItemReader (``s3:getObject``, ``InputType: JSON``) over the blob store the steps
    write the shard list with; a failure to read is Step Functions' ``States.ItemReaderFailed``."""

    def read(bucket: str, key: str) -> list[Any]:
        try:
            if bucket != blobs.bucket:
                raise ValueError(f"bucket {bucket!r} is not the reports bucket {blobs.bucket!r}")
            items = json.loads(blobs.read_text(key))
        except Exception as error:  # noqa: BLE001 - any failure to read is the reader's
            raise StatesError(ITEM_READER_FAILED, f"s3://{bucket}/{key}: {error}") from error
        if not isinstance(items, list):
            raise StatesError(ITEM_READER_FAILED, f"s3://{bucket}/{key} does not hold a JSON array")
        return items

    return read


def _no_item_reader(bucket: str, key: str) -> list[Any]:
    raise StatesError(ITEM_READER_FAILED, f"no item reader to read s3://{bucket}/{key}")


class _NotStarted(Exception):
    """An iteration a Map never starts: another one failed first."""


def _get(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.removeprefix("$").strip(".").split("."):
        if part:
            value = value[part]
    return value


def _holds(document: dict[str, Any], rule: When) -> bool:
    if rule.is_present:
        try:
            _get(document, rule.variable)
        except (KeyError, TypeError):
            return False
        return True
    return _get(document, rule.variable) is True


def _put(document: dict[str, Any], path: str | None, value: Any) -> dict[str, Any]:
    if path in (None, "$"):
        return value
    result = dict(document)
    result[path.removeprefix("$.")] = value  # only top-level paths are used in the definition
    return result


@dataclass
class LocalExecution:
    """Walks `definition()` in-process with the same step functions the Lambdas call; a
    Distributed Map reads its items through `item_reader` (`blob_item_reader` of the reports
    bucket) and runs its iterations as the inline Map does, at most `max_concurrency` at once."""

    functions: dict[str, StepFunction]
    max_concurrency: int = 8
    sleep: Callable[[float], bool] = field(default=lambda seconds: time.sleep(seconds) or True)  # type: ignore[func-returns-value]
    retry_interval_seconds: float = RETRY_INTERVAL_SECONDS
    logger: logging.Logger | Any = field(default_factory=lambda: logging.getLogger("wbr.workflow"))
    cancelled: Callable[[], bool] = field(default=lambda: False)  # checked before every state
    visited: list[str] = field(default_factory=list)
    item_reader: ItemReader = _no_item_reader

    def run(self, state: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Run to a terminal state; returns ("SUCCEEDED" | "FAILED" | "ABORTED", final state)."""
        states = definition(self.max_concurrency)
        current = START_AT
        while True:
            if self.cancelled():
                return "ABORTED", state
            self.visited.append(current)
            step = states[current]
            if isinstance(step, Task):
                try:
                    result = self._invoke(step.function, state)
                    state = _put(state, step.result_path, result)
                except Exception as error:  # noqa: BLE001 - every failure goes to MarkFailed
                    if not step.catch:
                        raise
                    state = self._caught(state, error, current)
                    current = "MarkFailed"
                    continue
                if step.next is None:
                    return "SUCCEEDED", state
                current = step.next
            elif isinstance(step, Choice):
                current = next((rule.next for rule in step.rules if _holds(state, rule)), step.default)
            elif isinstance(step, Map):
                try:
                    state = _put(state, step.result_path, self._map(step, state))
                except Exception as error:  # noqa: BLE001
                    state = self._caught(state, error, current)
                    current = "MarkFailed"
                    continue
                current = step.next
            elif isinstance(step, Succeed):
                return "SUCCEEDED", state
            else:
                return "FAILED", state

    def _map(self, step: Map, state: dict[str, Any]) -> list[Any]:
        if step.item_reader is not None:
            located = _get(state, step.item_reader)
            items = self.item_reader(located["bucket"], located["key"])
        else:
            items = _get(state, step.items_path or "$")

        def payload(item: Any) -> dict[str, Any]:
            return {
                key: (item if path == ITEM_VALUE else _get(state, path)) for key, path in step.item_selector.items()
            }

        # As in Step Functions, the first failed iteration fails the Map: items not started yet
        # never run (a worker that frees up once an iteration failed runs nothing more). A
        # Distributed Map then fails as a map run (`MAP_RUN_FAILED`), an inline one with the
        # iteration's error.
        stop = threading.Event()

        def iteration(item: Any) -> Any:
            if stop.is_set():
                raise _NotStarted()
            try:
                return self._invoke(step.iterator.function, payload(item))
            except BaseException:
                stop.set()
                raise

        with ThreadPoolExecutor(max_workers=max(1, min(step.max_concurrency, len(items) or 1))) as pool:
            futures = [pool.submit(iteration, item) for item in items]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            errors = [error for future in futures if future in done and (error := future.exception()) is not None]
            if errors:
                pool.shutdown(wait=True, cancel_futures=True)
                error = next(error for error in errors if not isinstance(error, _NotStarted))
                if step.distributed:
                    self.logger.warning("child execution failed", extra={"error": error_name(error)})
                    raise StatesError(MAP_RUN_FAILED, MAP_RUN_FAILED_CAUSE) from error
                raise error
            return [future.result() for future in futures]

    def _invoke(self, function: str, state: dict[str, Any]) -> Any:
        attempt = 1
        while True:
            try:
                return run_step(self.functions[function], state)
            except Exception as error:
                if error_name(error) not in RETRYABLE_ERRORS or attempt >= RETRY_MAX_ATTEMPTS:
                    raise
                delay = self.retry_interval_seconds * RETRY_BACKOFF_RATE ** (attempt - 1)
                self.logger.warning("retrying step", extra={"step": function, "attempt": attempt})
                if not self.sleep(delay):
                    raise
                attempt += 1

    def _caught(self, state: dict[str, Any], error: BaseException, at: str) -> dict[str, Any]:
        self.logger.exception("workflow step failed", extra={"state": at, "error": error_name(error)})
        caught = dict(state)
        caught["error"] = caught_error(error)
        return caught


class LocalWorkflow:
    """The `Workflow` port in local mode: each run in a background thread, named like a Step
    Functions execution (a name already started is not started again)."""

    def __init__(
        self,
        functions: dict[str, StepFunction],
        max_concurrency: int = 8,
        logger: logging.Logger | Any = None,
        item_reader: ItemReader = _no_item_reader,
    ) -> None:
        self._functions = functions
        self._max_concurrency = max_concurrency
        self._item_reader = item_reader
        self._logger = logger or logging.getLogger("wbr.workflow")
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started: set[str] = set()
        self._cancelled: dict[str, threading.Event] = {}  # running execution name → its stop flag
        self._lock = threading.Lock()

    def start(self, job: GenerationJob, name: str) -> None:
        cancel = threading.Event()
        thread = threading.Thread(target=self._run, args=(job, name, cancel), name=f"run-{name[-24:]}", daemon=True)
        with self._lock:
            if name in self._started:
                return
            self._started.add(name)
            self._cancelled[name] = cancel
            self._threads = [alive for alive in self._threads if alive.is_alive()] + [thread]
        thread.start()

    def is_running(self, name: str) -> bool:
        """Runs live in this process's threads: one started elsewhere, or before this process
        (a `wbr dev` killed and started again), is not alive here."""
        with self._lock:
            return name in self._cancelled

    def stop(self, report_id: str) -> None:
        prefix = run_prefix(report_id)
        with self._lock:
            for name, cancel in self._cancelled.items():
                if name.startswith(prefix):
                    cancel.set()

    def _run(self, job: GenerationJob, name: str, cancel: threading.Event) -> None:
        execution = LocalExecution(
            self._functions,
            max_concurrency=self._max_concurrency,
            sleep=lambda seconds: not (self._stopping.wait(seconds) or cancel.is_set()),
            logger=self._logger,
            cancelled=lambda: self._stopping.is_set() or cancel.is_set(),
            item_reader=self._item_reader,
        )
        try:
            status, _ = execution.run({"job": job.to_json()})
            self._logger.info("workflow finished", extra={"run": name, "status": status, "states": execution.visited})
        except Exception:  # noqa: BLE001 - MarkFailed itself failed; the sweeper will see it
            self._logger.exception("workflow crashed", extra={"run": name})
        finally:
            with self._lock:
                self._cancelled.pop(name, None)

    def join(self, timeout: float = 30.0) -> None:
        """Wait for every running report (tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                threads = [thread for thread in self._threads if thread.is_alive()]
            if not threads or time.monotonic() >= deadline:
                return
            for thread in threads:  # runs may start others (a publication wakes a report)
                thread.join(max(0.0, deadline - time.monotonic()))

    def stop_all(self) -> None:
        self._stopping.set()
