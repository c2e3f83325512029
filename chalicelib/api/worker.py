"""The worker's Lambda functions: one per Task state of chalicelib/runtime/workflow.py.

Each takes the state Step Functions passes and hands it to its step as the local runner does
(`workflow_edge.run_step`: the step's message read out of the JSON, its result written back).
"""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.bootstrap import get_container
from chalicelib.runtime.observability import flushing_metrics
from chalicelib.runtime.workflow_edge import run_step

worker_api = Blueprint(__name__)


def _run(step: str, event: dict[str, Any]) -> dict[str, Any]:
    return run_step(step, get_container().step(step), event)


@worker_api.lambda_function(name="plan")
@flushing_metrics
def plan(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _run("plan", event)


@worker_api.lambda_function(name="aggregate_shard")
@flushing_metrics
def aggregate_shard(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _run("aggregate_shard", event)


@worker_api.lambda_function(name="assemble")
@flushing_metrics
def assemble(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _run("assemble", event)


@worker_api.lambda_function(name="finalize")
@flushing_metrics
def finalize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _run("finalize", event)


@worker_api.lambda_function(name="mark_failed")
@flushing_metrics
def mark_failed(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return _run("mark_failed", event)
