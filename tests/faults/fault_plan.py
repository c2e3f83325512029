"""`FaultPlan`: faults and pauses injected into the container's real S3 / DynamoDB clients and
around its worker steps (nothing in chalicelib is patched).

A rule makes the first N matching AWS calls fail *before* the request is sent (a ClientError such
as ``ThrottlingException`` / ``SlowDown``, or a ``ReadTimeoutError`` / ``ConnectTimeoutError``) or
*after* it was applied (the response is lost: the write happened, the caller sees a timeout).
Rules can be scoped to one worker step (and one Map shard), so "S3 throttled during Assemble"
means exactly that. Paginators and thread pools inside adapters are covered, because the hooks
sit on the client itself (`install`). Step-level rules raise a plain exception before/after a
step runs; gates pause a step (or an AWS call) until the test releases it. A step takes part
once it is wrapped by `FaultPlan.instrument`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

from chalicelib.domain.workflow_messages import AggregateInput, PlanReady, StepInput, StepOutput
from chalicelib.runtime.workflow_edge import StepFunction

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

    def instrument(self, name: str, function: StepFunction) -> StepFunction:
        """A worker step as the workflow calls it, with the plan's step rules and gates around it
        and the step (and shard) known to the AWS hooks while it runs."""

        def step(message: StepInput) -> StepOutput:
            shard = message.shard.shard.index if isinstance(message, AggregateInput) else None
            previous = current_step()
            _local.step, _local.shard = name, shard
            try:
                self.around_step(name, shard, "before")
                result = function(message)
                if isinstance(result, PlanReady) and isinstance(result.shards, tuple):
                    self.shard_count = len(result.shards)
                elif isinstance(result, PlanReady):
                    self.shard_count = result.shards.count  # the list is in S3 (a Distributed Map)
                with self._lock:
                    self.step_done.append((name, shard))
                self.around_step(name, shard, "after")
                return result
            finally:
                _local.step, _local.shard = previous

        return step


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
