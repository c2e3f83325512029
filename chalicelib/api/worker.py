"""The worker's Lambda functions: one per Task state of chalicelib/workflow.py."""

from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib.bootstrap import get_container
from chalicelib.observability import flushing_metrics

worker_api = Blueprint(__name__)


@worker_api.lambda_function(name="plan")
@flushing_metrics
def plan(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return get_container().step("plan")(event)


@worker_api.lambda_function(name="aggregate_shard")
@flushing_metrics
def aggregate_shard(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return get_container().step("aggregate_shard")(event)


@worker_api.lambda_function(name="assemble")
@flushing_metrics
def assemble(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return get_container().step("assemble")(event)


@worker_api.lambda_function(name="finalize")
@flushing_metrics
def finalize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return get_container().step("finalize")(event)


@worker_api.lambda_function(name="mark_failed")
@flushing_metrics
def mark_failed(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return get_container().step("mark_failed")(event)
