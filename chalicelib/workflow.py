"""The report state machine (ARCHITECTURE.md §5), defined once.

``DEFINITION`` is the single description of the workflow. ``to_asl()`` emits it as Amazon States
Language for the deployed Step Functions state machine (each Task names a Chalice
``lambda_function`` through a ``${<Step>FunctionArn}`` substitution); ``LocalExecution`` walks
the very same states in-process, calling the same step functions, for local mode and tests.

    Plan → DataReady? ─ready→ Aggregate (Map over shards) → Assemble → Finalize
             │  └─not yet→ WaitingForData (ends; the day's publication starts a new run)
             └─gone→ ReportGone
    any Task failure → MarkFailed → GenerationFailed

The state is JSON, as Step Functions carries it: ``$.job`` is a `GenerationJob`'s JSON and a
caught failure is ``$.error`` (``Error``, ``Cause``). This module and the Lambda handlers
(api/worker.py) are the edges that translate it: `run_step` gives a step the job as a
`GenerationJob` and the failure as a `StepFailure` (`task_input`) and carries the job a step
hands on as JSON again (`task_output`), and `LocalWorkflow` starts a run from a `GenerationJob`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.commands import GenerationJob
from chalicelib.domain.regeneration import run_prefix
from chalicelib.workflow_edge import StepFunction, caught_error, error_name, run_step

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


@dataclass(frozen=True)
class Task:
    function: str  # name of the step, a method of GenerationSteps and a Lambda function
    next: str | None = None
    result_path: str | None = None  # None: the result replaces the state
    catch: bool = True


@dataclass(frozen=True)
class Choice:
    variable: str
    when_true: str
    default: str
    gone_variable: str | None = None
    when_gone: str | None = None


@dataclass(frozen=True)
class Map:
    items_path: str
    item_selector: dict[str, str]  # field → JSONPath on the state; "$$.Map.Item.Value" for the item
    iterator: Task
    result_path: str
    next: str
    max_concurrency: int = 8


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


def definition(max_concurrency: int = 8) -> dict[str, State]:
    return {
        "Plan": Task("plan", next="DataReady?"),
        "DataReady?": Choice(
            variable="$.ready",
            when_true="Aggregate",
            default="WaitingForData",
            gone_variable="$.gone",
            when_gone="ReportGone",
        ),
        "Aggregate": Map(
            items_path="$.shards",
            item_selector={
                "job": "$.job",
                "dayVersions": "$.dayVersions",
                "dayRows": "$.dayRows",
                "shard": "$$.Map.Item.Value",
            },
            iterator=Task("aggregate_shard", catch=False),
            result_path="$.parts",
            next="Assemble",
            max_concurrency=max_concurrency,
        ),
        "Assemble": Task("assemble", next="Finalize", result_path="$.file"),
        "Finalize": Task("finalize", result_path="$.result"),
        "MarkFailed": Task("mark_failed", next="GenerationFailed", result_path="$.result", catch=False),
        "WaitingForData": Succeed(),
        "ReportGone": Succeed(),
        "GenerationFailed": Fail(error="ReportGenerationFailed", cause="See the report's errors"),
    }


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


def to_asl(max_concurrency: int = 8) -> dict[str, Any]:
    """The state machine as Amazon States Language (a dict; json.dumps it for deployment)."""
    states: dict[str, Any] = {}
    for name, state in definition(max_concurrency).items():
        if isinstance(state, Task):
            states.update(_task_states(name, state))
        elif isinstance(state, Choice):
            choices = []
            if state.gone_variable:
                choices.append({"Variable": state.gone_variable, "BooleanEquals": True, "Next": state.when_gone})
            choices.append({"Variable": state.variable, "BooleanEquals": True, "Next": state.when_true})
            states[name] = {"Type": "Choice", "Choices": choices, "Default": state.default}
        elif isinstance(state, Map):
            iterator_states = _task_states("AggregateShard", state.iterator)
            states[name] = {
                "Type": "Map",
                "ItemsPath": state.items_path,
                "ItemSelector": {f"{key}.$": path for key, path in state.item_selector.items()},
                "MaxConcurrency": state.max_concurrency,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "AggregateShard",
                    "States": iterator_states,
                },
                "ResultPath": state.result_path,
                "Next": state.next,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "MarkFailed"}],
            }
        elif isinstance(state, Succeed):
            states[name] = {"Type": "Succeed"}
        elif isinstance(state, Fail):
            states[name] = {"Type": "Fail", "Error": state.error, "Cause": state.cause}
    return {
        "Comment": "wholesale-billing-reports: generate one report (chalicelib/workflow.py)",
        "StartAt": START_AT,
        "States": states,
    }


def _task_states(name: str, task: Task) -> dict[str, Any]:
    """A Lambda task; the function's return value lands at `result_path` (or replaces the state)."""
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": function_arn_placeholder(task.function),
        "ResultPath": task.result_path or "$",
        "Retry": _retry(),
    }
    if task.catch:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "MarkFailed"}]
    if task.next is None:
        state["End"] = True
    else:
        state["Next"] = task.next
    return {name: state}


# ---- local runner -------------------------------------------------------------------------


def _get(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.removeprefix("$").strip(".").split("."):
        if part:
            value = value[part]
    return value


def _put(document: dict[str, Any], path: str | None, value: Any) -> dict[str, Any]:
    if path in (None, "$"):
        return value
    result = dict(document)
    result[path.removeprefix("$.")] = value  # only top-level paths are used in the definition
    return result


@dataclass
class LocalExecution:
    """Walks `definition()` in-process with the same step functions the Lambdas call."""

    functions: dict[str, StepFunction]
    max_concurrency: int = 8
    sleep: Callable[[float], bool] = field(default=lambda seconds: time.sleep(seconds) or True)  # type: ignore[func-returns-value]
    retry_interval_seconds: float = RETRY_INTERVAL_SECONDS
    logger: logging.Logger | Any = field(default_factory=lambda: logging.getLogger("wbr.workflow"))
    cancelled: Callable[[], bool] = field(default=lambda: False)  # checked before every state
    visited: list[str] = field(default_factory=list)

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
                if step.gone_variable and _get(state, step.gone_variable) is True:
                    current = step.when_gone or step.default
                elif _get(state, step.variable) is True:
                    current = step.when_true
                else:
                    current = step.default
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
        items = _get(state, step.items_path)

        def payload(item: Any) -> dict[str, Any]:
            return {
                key: (item if path == "$$.Map.Item.Value" else _get(state, path))
                for key, path in step.item_selector.items()
            }

        # As in Step Functions, the first failed iteration fails the Map: items not started yet
        # never run.
        with ThreadPoolExecutor(max_workers=max(1, min(step.max_concurrency, len(items) or 1))) as pool:
            futures = [pool.submit(self._invoke, step.iterator.function, payload(item)) for item in items]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((future for future in futures if future in done and future.exception()), None)
            if failed is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                raise failed.exception()  # type: ignore[misc]
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
        self, functions: dict[str, StepFunction], max_concurrency: int = 8, logger: logging.Logger | Any = None
    ) -> None:
        self._functions = functions
        self._max_concurrency = max_concurrency
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
