"""Fault-injection machinery for tests/faults.

Three pieces, all outside chalicelib (nothing in the service is patched):

- ``FaultPlan`` — botocore event hooks on the container's real S3 / DynamoDB clients. A rule
  makes the first N matching AWS calls fail *before* the request is sent (a ClientError such as
  ``ThrottlingException`` / ``SlowDown``, or a ``ReadTimeoutError`` / ``ConnectTimeoutError``) or
  *after* it was applied (the response is lost: the write happened, the caller sees a timeout).
  Rules can be scoped to one worker step (and one Map shard), so "S3 throttled during Assemble"
  means exactly that. Paginators and thread pools inside adapters are covered, because the hooks
  sit on the client itself. Step-level rules raise a plain exception before/after a step runs;
  gates pause a step (or an AWS call) until the test releases it.
- ``FaultWorkflow`` — the ``Workflow`` port, running the project's own ``LocalExecution`` (the
  state machine of chalicelib/workflow.py) over the container's real step functions
  (``Container.step``), in a background thread per run, with a millisecond retry interval so
  "retried with backoff" takes no wall time.
- ``Inspector`` — reads what is really stored: every report, every object of the reports
  bucket, the duplicate locks and the in-progress counter items.
"""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from chalicelib.workflow import STEP_FUNCTIONS, LocalExecution

# ---- what a fault raises ---------------------------------------------------------------------

# botocore error code → HTTP status AWS answers it with.
CLIENT_ERROR_STATUS = {
    "ThrottlingException": 400,
    "ProvisionedThroughputExceededException": 400,
    "SlowDown": 503,
    "RequestTimeout": 400,
    "InternalError": 500,
    "ServiceUnavailable": 503,
    "AccessDenied": 403,
}
TIMEOUTS = {"ReadTimeoutError": ReadTimeoutError, "ConnectTimeoutError": ConnectTimeoutError}


class InjectedFailure(RuntimeError):
    """A plain (non-AWS, non-retryable) exception thrown into a worker step."""


class ProcessCrash(BaseException):
    """The process dies here: nothing after this point runs (no `except Exception` catches it)."""


_local = threading.local()


def current_step() -> tuple[str | None, int | None]:
    return getattr(_local, "step", None), getattr(_local, "shard", None)


@dataclass
class Rule:
    """The first `times` AWS calls matching this rule fail."""

    service: str  # "s3" | "dynamodb"
    error: str  # a key of CLIENT_ERROR_STATUS or TIMEOUTS, or "crash"
    times: float = 1
    operations: tuple[str, ...] = ()  # botocore operation names; () = any
    step: str | None = None  # only inside this worker step (None: anywhere)
    shard: int | str | None = None  # only in this Map shard index ("last" = the last shard)
    phase: str = "before"  # "before": never sent; "after": applied, then the response is lost
    where: Callable[[dict[str, Any]], bool] | None = None  # on the API parameters
    skip: int = 0  # let this many matching calls through first
    fired: int = 0
    seen: int = 0
    operations_failed: list[str] = field(default_factory=list)

    def exhausted(self) -> bool:
        return self.fired >= self.times


@dataclass
class StepRule:
    """A plain exception raised before or after a worker step's body runs."""

    step: str
    shard: int | str | None = None
    when: str = "before"  # "before" | "after"
    times: float = math.inf
    make: Callable[[], BaseException] = lambda: InjectedFailure("injected step failure")
    fired: int = 0


@dataclass
class Gate:
    """Pauses a worker step (or an AWS call) until released."""

    step: str | None = None
    shard: int | str | None = None
    when: str = "before"
    service: str | None = None  # with `operations`: pause at an AWS call instead of a step
    operations: tuple[str, ...] = ()
    where: Callable[[dict[str, Any]], bool] | None = None
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    used: bool = False

    def open(self) -> None:
        self.release.set()


class FaultPlan:
    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.step_rules: list[StepRule] = []
        self.gates: list[Gate] = []
        self.shard_count: int | None = None
        self.step_calls: list[tuple[str, int | None]] = []
        self.step_done: list[tuple[str, int | None]] = []
        self._lock = threading.Lock()
        self._clients: list[Any] = []

    # ---- building ---------------------------------------------------------------------------

    def fail(self, service: str, error: str, **options: Any) -> Rule:
        rule = Rule(service, error, **options)
        self.rules.append(rule)
        return rule

    def fail_step(self, step: str, **options: Any) -> StepRule:
        rule = StepRule(step, **options)
        self.step_rules.append(rule)
        return rule

    def gate(self, **options: Any) -> Gate:
        gate = Gate(**options)
        self.gates.append(gate)
        return gate

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.step_rules.clear()
            for gate in self.gates:
                gate.open()
            self.gates.clear()

    # ---- hooks on the AWS clients ------------------------------------------------------------

    def install(self, client: Any, service: str) -> None:
        events = client.meta.events
        events.register(f"before-parameter-build.{service}", self._choose(service))
        events.register_first(f"before-call.{service}", self._before_call)
        events.register_first(f"after-call.{service}", self._after_call)
        self._clients.append(client)

    def _matches_scope(self, step: str | None, shard: int | str | None) -> bool:
        if step is None:
            return True
        current, current_shard = current_step()
        if current != step:
            return False
        return self.shard_matches(shard, current_shard)

    def shard_matches(self, wanted: int | str | None, actual: int | None) -> bool:
        if wanted is None:
            return True
        if wanted == "last":
            return self.shard_count is not None and actual == self.shard_count - 1
        return actual == wanted

    def _choose(self, service: str) -> Callable[..., None]:
        def choose(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
            operation = model.name
            with self._lock:
                for rule in self.rules:
                    if rule.service != service or rule.exhausted():
                        continue
                    if rule.operations and operation not in rule.operations:
                        continue
                    if not self._matches_scope(rule.step, rule.shard):
                        continue
                    if rule.where is not None and not rule.where(params):
                        continue
                    rule.seen += 1
                    if rule.seen <= rule.skip:
                        continue
                    rule.fired += 1
                    rule.operations_failed.append(operation)
                    context["wbr_fault"] = rule
                    break
                gates = [
                    gate
                    for gate in self.gates
                    if gate.service == service
                    and not gate.used
                    and operation in gate.operations
                    and self._matches_scope(gate.step, gate.shard)
                    and (gate.where is None or gate.where(params))
                ]
                for gate in gates:
                    gate.used = True
                if gates:
                    context["wbr_gates"] = gates

        return choose

    def _before_call(self, model: Any, context: dict[str, Any], **_: Any) -> Any:
        for gate in context.get("wbr_gates", []):
            if gate.when == "before":
                _wait(gate)
        rule = context.get("wbr_fault")
        if rule is None or rule.phase != "before":
            return None
        if rule.error in CLIENT_ERROR_STATUS:
            status = CLIENT_ERROR_STATUS[rule.error]
            response = AWSResponse("https://injected.invalid/", status, {}, None)
            parsed = {
                "Error": {"Code": rule.error, "Message": f"injected {rule.error}"},
                "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0},
            }
            return response, parsed
        raise _exception(rule.error, model.name)

    def _after_call(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        for gate in context.get("wbr_gates", []):
            if gate.when == "after":
                _wait(gate)
        rule = context.get("wbr_fault")
        if rule is None or rule.phase != "after" or http_response.status_code >= 300:
            return
        raise _exception(rule.error, model.name)

    # ---- around worker steps ------------------------------------------------------------------

    def around_step(self, name: str, shard: int | None, when: str) -> None:
        with self._lock:
            if when == "before":
                self.step_calls.append((name, shard))
            gates = [
                gate
                for gate in self.gates
                if gate.service is None
                and not gate.used
                and gate.step == name
                and gate.when == when
                and self.shard_matches(gate.shard, shard)
            ]
            for gate in gates:
                gate.used = True
            raising = None
            for rule in self.step_rules:
                if rule.step == name and rule.when == when and rule.fired < rule.times:
                    if self.shard_matches(rule.shard, shard):
                        rule.fired += 1
                        raising = rule
                        break
        for gate in gates:
            _wait(gate)
        if raising is not None:
            raise raising.make()


def _wait(gate: Gate) -> None:
    gate.reached.set()
    if not gate.release.wait(30):
        raise AssertionError("a gate was never released")


def _exception(error: str, operation: str) -> BaseException:
    if error == "crash":
        return ProcessCrash(f"process crashed around {operation}")
    if error in TIMEOUTS:
        return TIMEOUTS[error](endpoint_url=f"https://injected.invalid/{operation}")
    raise ValueError(f"unknown injected error {error}")


# ---- the workflow runners --------------------------------------------------------------------


def instrument(plan: FaultPlan, name: str, function: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
    """A worker step as the workflow calls it, with the plan's step rules and gates around it and
    the step (and shard) known to the AWS hooks while it runs."""

    def step(state: dict[str, Any]) -> Any:
        shard_state = state.get("shard")
        shard = shard_state.get("index") if isinstance(shard_state, dict) else None
        previous = current_step()
        _local.step, _local.shard = name, shard
        try:
            plan.around_step(name, shard, "before")
            result = function(state)
            if name == "plan" and isinstance(result, dict) and isinstance(result.get("shards"), list):
                plan.shard_count = len(result["shards"])
            with plan._lock:
                plan.step_done.append((name, shard))
            plan.around_step(name, shard, "after")
            return result
        finally:
            _local.step, _local.shard = previous

    return step


def instrumented_steps(container: Any, plan: FaultPlan) -> dict[str, Callable[[dict[str, Any]], Any]]:
    """The container's real step functions (`Container.step`: logging, throttling → Throttled)."""
    return {name: instrument(plan, name, container.step(name)) for name in STEP_FUNCTIONS}


def local_workflow(container: Any, plan: FaultPlan, max_concurrency: int = 4) -> Any:
    """The project's own LocalWorkflow (threads, execution names, stop on delete) over the
    instrumented steps: what `wbr dev` runs, with gates and faults in it."""
    from chalicelib.workflow import LocalWorkflow

    return LocalWorkflow(instrumented_steps(container, plan), max_concurrency=max_concurrency)


@dataclass
class Run:
    job: dict[str, Any]
    name: str | None
    status: str | None = None
    state: dict[str, Any] | None = None
    visited: list[str] = field(default_factory=list)
    crashed: BaseException | None = None
    thread: threading.Thread | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


class FaultWorkflow:
    """The Workflow port for tests: LocalExecution (the real state machine) over the real steps."""

    def __init__(self, container: Any, plan: FaultPlan, max_concurrency: int = 4) -> None:
        self._plan = plan
        self._max_concurrency = max_concurrency
        self.functions = instrumented_steps(container, plan)
        self.runs: list[Run] = []
        self.stopped: list[str | None] = []
        self.fail_start: BaseException | None = None
        self.abort_waits = True  # a Wait state (waiting for data) ends the run: the process "died"
        self.hold = False  # record starts without running them (a worker that never ran)
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    # the Workflow port (both the old `start(report)` and the new `start(job, name)` shapes)
    def start(self, job_or_report: Any, name: str | None = None) -> None:
        if self.fail_start is not None:
            raise self.fail_start
        from chalicelib.domain.commands import GenerationJob, job_of

        if isinstance(job_or_report, dict):
            job = job_or_report
        else:
            command = job_or_report if isinstance(job_or_report, GenerationJob) else job_of(job_or_report)
            job = command.to_json()  # what the workflow carries
        self.start_job(job, name)

    def start_job(self, job: dict[str, Any], name: str | None = None) -> None:
        with self._lock:  # the port's contract: a name already started is not started again
            if name is not None and any(run.name == name for run in self.runs):
                return
        run = Run(dict(job), name)
        if self.hold:
            with self._lock:
                self.runs.append(run)
            return
        run.thread = threading.Thread(target=self._execute, args=(run,), daemon=True, name="fault-run")
        with self._lock:
            self.runs.append(run)
        run.thread.start()

    def _sleep(self, seconds: float) -> bool:
        if self.abort_waits and seconds >= 1:
            return False
        return not self._stopping.wait(seconds)

    def _execute(self, run: Run) -> None:
        options: dict[str, Any] = {}
        if "cancelled" in getattr(LocalExecution, "__dataclass_fields__", {}):
            options["cancelled"] = lambda: self._stopping.is_set() or run.cancel.is_set()
        execution = LocalExecution(
            self.functions,
            max_concurrency=self._max_concurrency,
            sleep=self._sleep,
            retry_interval_seconds=0.001,
            **options,
        )
        try:
            run.status, run.state = execution.run({"job": run.job})
        except BaseException as error:  # noqa: BLE001 - MarkFailed itself failed, or a "crash"
            run.crashed = error
        finally:
            run.visited = list(execution.visited)

    def stop(self, report_id: str | None = None) -> None:
        """As LocalWorkflow: runs of the report stop at their next state boundary."""
        self.stopped.append(report_id)
        with self._lock:
            for run in self.runs:
                if report_id is None or run.job.get("reportId") == report_id:
                    run.cancel.set()

    def stop_all(self) -> None:
        self._stopping.set()

    def join(self, timeout: float = 30.0) -> None:
        import time

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


class HeldWorkflow(FaultWorkflow):
    """Records starts, runs nothing (a worker that never picked the job up)."""

    def __init__(self, container: Any, plan: FaultPlan, max_concurrency: int = 4) -> None:
        super().__init__(container, plan, max_concurrency)
        self.hold = True


# ---- serialised DynamoDB (moto's in-process backend is not thread-safe) ----------------------


_UNLOCKED = {"get_paginator", "get_waiter", "can_paginate", "generate_presigned_url", "close"}


class AtomicRequests:
    """Each DynamoDB request is atomic in AWS; moto's in-process backend needs a lock for that.
    Only whole requests are serialised, so interleavings between requests stay free."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = threading.RLock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name in _UNLOCKED:
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call


_names = itertools.count(1)


def unique_suffix() -> str:
    return f"{next(_names):04d}"


# ---- what is really stored -------------------------------------------------------------------


class Inspector:
    """Reads the reports table and the reports bucket as they are (no service logic)."""

    def __init__(self, container: Any) -> None:
        self._container = container

    def _items(self) -> list[dict[str, Any]]:
        from chalicelib.adapters.dynamo_codec import from_item

        container = self._container
        items: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {"TableName": container.settings.reports_table, "ConsistentRead": True}
        while True:
            page = container.dynamodb.scan(**arguments)
            items.extend(from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def reports(self) -> list[Any]:
        from chalicelib.adapters.dynamo_report_store import COUNTER_SK, LOCK_PREFIX

        store = self._container.report_store
        found = []
        for item in self._items():
            if item["reportId"].startswith((LOCK_PREFIX, COUNTER_SK)):
                continue
            report = store.get(item["partnerOrgId"], item["reportId"])
            if report is not None:
                found.append(report)
        return found

    def locks(self) -> dict[str, str]:
        """duplicate-lock sort key → the report id it names."""
        from chalicelib.adapters.dynamo_report_store import LOCK_PREFIX

        return {
            item["reportId"]: item.get("lockedReportId", "")
            for item in self._items()
            if item["reportId"].startswith(LOCK_PREFIX)
        }

    def in_progress(self, partner_org_id: str) -> int:
        from chalicelib.adapters.dynamo_report_store import COUNTER_SK

        for item in self._items():
            if item["partnerOrgId"] == partner_org_id and item["reportId"] == COUNTER_SK:
                return int(item.get("inProgress", 0))
        return 0

    def objects(self) -> set[str]:
        """Every object in the reports bucket (final files, parts, anything)."""
        return set(self._container.blobs.list_keys(""))

    def settled_problems(self, partner_org_id: str) -> list[str]:
        """Everything that breaks "COMPLETED with its file or FAILED with errors, nothing else"."""
        import hashlib

        from chalicelib.domain.reports import ReportStatus

        problems: list[str] = []
        reports = self.reports()
        objects = self.objects()
        for report in reports:
            tag = f"report …{report.report_id[-8:]} r{report.revision}"
            if report.status is ReportStatus.IN_PROGRESS:
                problems.append(f"{tag} is still IN_PROGRESS")
            elif report.status is ReportStatus.FAILED:
                errors = report.detail_json().get("errors") or []
                if not errors:
                    problems.append(f"{tag} is FAILED without errors")
                for error in errors:
                    if type(error.get("code")) is not int or not str(error.get("description") or "").strip():
                        problems.append(f"{tag} has a malformed error {error!r}")
            else:
                if not report.s3_key:
                    problems.append(f"{tag} is COMPLETED without a file key")
                elif report.s3_key not in objects:
                    problems.append(f"{tag} is COMPLETED but its file {report.s3_key} is missing from S3")
                else:
                    body = self._container.s3.get_object(
                        Bucket=self._container.settings.reports_bucket, Key=report.s3_key
                    )["Body"].read()
                    if hashlib.sha256(body).hexdigest() != report.sha256:
                        problems.append(f"{tag} sha256 does not match its file")
        wanted = {report.s3_key for report in reports if report.status is ReportStatus.COMPLETED and report.s3_key}
        for key in sorted(objects - wanted):
            problems.append(f"orphan object in the reports bucket: {key}")
        in_progress = sum(1 for report in reports if report.status is ReportStatus.IN_PROGRESS)
        counter = self.in_progress(partner_org_id)
        if counter != in_progress:
            problems.append(f"in-progress counter is {counter}, but {in_progress} report(s) are IN_PROGRESS")
        holders = {report.report_id for report in reports if report.status is not ReportStatus.FAILED}
        locks = self.locks()
        for key, locked in locks.items():
            if locked not in holders:
                problems.append(f"duplicate lock {key} still names …{locked[-8:]} (not an active/COMPLETED report)")
        for report_id in sorted(holders - set(locks.values())):
            problems.append(f"report …{report_id[-8:]} holds no duplicate lock")
        return problems
