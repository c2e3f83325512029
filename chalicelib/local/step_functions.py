"""The local Step Functions: the report state machine of chalicelib/runtime/workflow.py run in-process.

`LocalExecution` walks `definition()` state by state with the same step functions the Lambdas
call (through the same edge, `run_step`), with Step Functions' retries, catches and Map
semantics; `LocalWorkflow` is the `Workflow` port over it for `wbr dev` and the tests, each run
in a background thread. The container never builds it: `local_workflow` is the part they give
it (chalicelib/local/parts.py). Nothing of the deployed code path imports this module.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.domain.commands import GenerationJob
from chalicelib.domain.regeneration import run_prefix
from chalicelib.domain.workflow_messages import PlanInput
from chalicelib.runtime.observability import logger as service_logger
from chalicelib.runtime.workflow import (
    ITEM_VALUE,
    RETRY_BACKOFF_RATE,
    RETRY_INTERVAL_SECONDS,
    RETRY_MAX_ATTEMPTS,
    RETRYABLE_ERRORS,
    START_AT,
    STEP_FUNCTIONS,
    Choice,
    Map,
    Succeed,
    Task,
    When,
    definition,
)
from chalicelib.runtime.workflow_edge import StatesError, StepFunction, caught_error, error_name, run_step

if TYPE_CHECKING:
    from chalicelib.bootstrap import Container

# A Distributed Map fails as a whole once more child executions failed than it tolerates (none):
# Step Functions names that failure so, not after the child's own error.
MAP_RUN_FAILED = "States.ExceedToleratedFailureThreshold"
MAP_RUN_FAILED_CAUSE = "The specified tolerated failure threshold was exceeded"
ITEM_READER_FAILED = "States.ItemReaderFailed"

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
                return run_step(function, self.functions[function], state)
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
            status, _ = execution.run(PlanInput(job).to_json())
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


def local_workflow(container: Container) -> LocalWorkflow:
    """The container's `workflow` in local mode (`wbr dev`, the tests): the container's own
    steps, run in-process, a Distributed Map reading its shard list from the reports bucket."""
    # In-process, the shards share this machine's cores (each shard's DuckDB already uses
    # two threads): more at once than cores only adds contention and memory.
    return LocalWorkflow(
        {name: container.step(name) for name in STEP_FUNCTIONS},
        max_concurrency=min(container.settings.map_max_concurrency, os.cpu_count() or 1),
        logger=service_logger,
        item_reader=blob_item_reader(container.blobs),
    )
