"""Powertools Logger and Metrics, created once; the correlation id is the trackingId. (Lambda
traces come from X-Ray's active tracing, `xray` in .chalice/config.json; no code annotates them.)"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.domain.workflow_messages import FinalizeResult, MarkFailedResult, StepOutput

T = TypeVar("T")

SERVICE = "wholesale-billing-reports"

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", SERVICE)
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "WholesaleBillingReports")
if os.environ.get("WBR_STAGE", "local") == "local":
    # No CloudWatch locally: metrics are recorded but not printed as EMF on every flush.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="WholesaleBillingReports", service=SERVICE)


def log_to_stderr(level: str) -> None:
    """For a command line: log lines go to stderr (stdout carries the command's data), at
    `level` unless POWERTOOLS_LOG_LEVEL names one."""
    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
    logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL") or level)


def bind_tracking_id(tracking_id: str) -> None:
    """Every log line of this thread (a request, or a worker run) carries the trackingId."""
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(correlation_id=tracking_id, tracking_id=tracking_id)


def flushing_metrics(handler: Callable[..., T]) -> Callable[..., T]:
    """Publish the metrics a handler added when it returns or raises (EMF on stdout, which
    CloudWatch turns into metrics). Works for any handler signature, unlike
    `Metrics.log_metrics`, which needs (event, context) and Chalice's event handlers get only
    the event."""

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> T:
        try:
            return handler(*args, **kwargs)
        finally:
            metrics.flush_metrics()

    return run


def record_step(step: str, result: StepOutput) -> None:
    """Business metrics of the report worker, from what its steps return."""
    if isinstance(result, FinalizeResult):
        if result.outcome == "completed":
            metrics.add_metric(name="ReportsCompleted", unit=MetricUnit.Count, value=1)
            metrics.add_metric(name="GenerationSeconds", unit=MetricUnit.Seconds, value=result.seconds or 0)
            metrics.add_metric(name="RowsWritten", unit=MetricUnit.Count, value=result.rows or 0)
        elif result.outcome == "regenerated":
            metrics.add_metric(name="ReportsRegenerated", unit=MetricUnit.Count, value=1)
    elif isinstance(result, MarkFailedResult) and result.failed:
        metrics.add_metric(name="ReportsFailed", unit=MetricUnit.Count, value=1)
