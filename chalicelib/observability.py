"""Powertools Logger/Metrics/Tracer, created once; the correlation id is the trackingId."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "wholesale-billing-reports"

os.environ.setdefault("POWERTOOLS_SERVICE_NAME", SERVICE)
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "WholesaleBillingReports")

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="WholesaleBillingReports", service=SERVICE)
tracer = Tracer(service=SERVICE, disabled=os.environ.get("WBR_STAGE", "local") == "local")


def bind_tracking_id(tracking_id: str) -> None:
    """Every log line of this thread (a request, or a worker run) carries the trackingId."""
    logger.thread_safe_clear_keys()
    logger.thread_safe_append_keys(correlation_id=tracking_id, tracking_id=tracking_id)
