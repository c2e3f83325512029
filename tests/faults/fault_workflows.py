"""The `Workflow` ports the fault tests run reports with, each over the container's real step
functions (`Container.step`: logging, throttling → Throttled) wrapped by the test's `FaultPlan`.
A container takes one as its ``workflow`` override, as a factory:
``Container(settings, workflow=lambda container: FaultWorkflow(container, plan))``.

- `FaultWorkflow`: the project's own `LocalExecution` (the state machine of chalicelib/runtime/workflow.py)
  in a background thread per run, with a millisecond retry interval so "retried with backoff"
  takes no wall time; it keeps every run (its final state, the states visited, what crashed it).
- `HeldWorkflow`: records starts and runs nothing (a worker that never picked the job up).
- `local_workflow`: the project's `LocalWorkflow` (what `wbr dev` runs) with the plan's faults.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.commands import GenerationJob
from chalicelib.local.step_functions import LocalExecution, LocalWorkflow, blob_item_reader
from chalicelib.runtime.workflow import STEP_FUNCTIONS
from chalicelib.runtime.workflow_edge import StepFunction
from tests.faults.fault_plan import FaultPlan

RETRY_INTERVAL_SECONDS = 0.001


def instrumented_steps(container: Any, plan: FaultPlan) -> dict[str, StepFunction]:
    """The container's step functions, each with the plan's rules and gates around it."""
    return {name: plan.instrument(name, container.step(name)) for name in STEP_FUNCTIONS}


def local_workflow(container: Any, plan: FaultPlan, max_concurrency: int = 4) -> LocalWorkflow:
    """The project's own LocalWorkflow (threads, execution names, stop on delete) over the
    instrumented steps: what `wbr dev` runs, with gates and faults in it."""
    return LocalWorkflow(
        instrumented_steps(container, plan),
        max_concurrency=max_concurrency,
        item_reader=blob_item_reader(container.blobs),
    )


@dataclass
class Run:
    job: GenerationJob
    name: str
    status: str | None = None
    state: dict[str, Any] | None = None
    visited: list[str] = field(default_factory=list)
    crashed: BaseException | None = None
    thread: threading.Thread | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


class FaultWorkflow:
    """The Workflow port for tests: LocalExecution (the real state machine) over the real steps.
    `fail_start` makes `start` raise (StartExecution failed); `hold` records starts without
    running them."""

    def __init__(self, container: Any, plan: FaultPlan, max_concurrency: int = 4, hold: bool = False) -> None:
        self.functions = instrumented_steps(container, plan)
        self.item_reader = blob_item_reader(container.blobs)  # a Distributed Map's shard list
        self.runs: list[Run] = []
        self.fail_start: BaseException | None = None
        self.hold = hold
        self._max_concurrency = max_concurrency
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def start(self, job: GenerationJob, name: str) -> None:
        if self.fail_start is not None:
            raise self.fail_start
        run = Run(job, name)
        with self._lock:  # the port's contract: a name already started is not started again
            if any(known.name == name for known in self.runs):
                return
            self.runs.append(run)
            if not self.hold:
                run.thread = threading.Thread(target=self._execute, args=(run,), daemon=True, name="fault-run")
                run.thread.start()

    def is_running(self, name: str) -> bool:
        with self._lock:
            return any(run.name == name and run.thread is not None and run.thread.is_alive() for run in self.runs)

    def stop(self, report_id: str) -> None:
        """As LocalWorkflow: runs of the report stop at their next state boundary."""
        with self._lock:
            for run in self.runs:
                if run.job.report_id == report_id:
                    run.cancel.set()

    def stop_all(self) -> None:
        self._stopping.set()

    def join(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                alive = [run.thread for run in self.runs if run.thread is not None and run.thread.is_alive()]
            if not alive:
                return
            for thread in alive:
                thread.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                raise AssertionError("a workflow run did not finish in time")

    def _execute(self, run: Run) -> None:
        execution = LocalExecution(
            self.functions,
            max_concurrency=self._max_concurrency,
            sleep=lambda seconds: not self._stopping.wait(seconds),
            retry_interval_seconds=RETRY_INTERVAL_SECONDS,
            cancelled=lambda: self._stopping.is_set() or run.cancel.is_set(),
            item_reader=self.item_reader,
        )
        try:
            run.status, run.state = execution.run({"job": run.job.to_json()})
        except BaseException as error:  # noqa: BLE001 - MarkFailed itself failed, or a "crash"
            run.crashed = error
        finally:
            run.visited = list(execution.visited)


class HeldWorkflow(FaultWorkflow):
    """Records starts, runs nothing (a worker that never picked the job up)."""

    def __init__(self, container: Any, plan: FaultPlan) -> None:
        super().__init__(container, plan, hold=True)
