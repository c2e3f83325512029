"""Event entry points: provisioning events from SQS and S3 drops, and the daily rating schedule."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice import Blueprint, Cron, Rate

from chalicelib.bootstrap import get_container
from chalicelib.observability import logger, metrics

events_api = Blueprint(__name__)

EVENTS_QUEUE = os.environ.get("WBR_EVENTS_QUEUE", "wbr-provisioning-events")
LAKE_BUCKET = os.environ.get("WBR_LAKE_BUCKET", "wbr-lake")
INCOMING_PREFIX = "incoming/"

_sqs_processor = BatchProcessor(event_type=EventType.SQS)


def ingest_sqs_record(record: SQSRecord) -> None:
    """One SQS message: an NDJSON body of one or more events. Raising marks only this message
    failed (partial batch response), so SQS redelivers it; re-landing events is harmless."""
    report = get_container().ingestion.ingest_lines(record.body.split("\n"), source=f"sqs:{record.message_id}")
    metrics.add_metric(name="EventsAccepted", unit="Count", value=report.accepted)
    metrics.add_metric(name="EventsRejected", unit="Count", value=report.rejected)
    logger.info(
        "sqs message ingested",
        extra={"message_id": record.message_id, "accepted": report.accepted, "rejected": report.rejected},
    )


@events_api.on_sqs_message(queue=EVENTS_QUEUE, batch_size=10)
def on_provisioning_events(event: Any) -> dict[str, Any]:
    return process_partial_response(
        event=event.to_dict(), record_handler=ingest_sqs_record, processor=_sqs_processor, context=event.context
    )


def ingest_dropped_object(key: str) -> dict[str, Any]:
    container = get_container()
    report = container.ingestion.ingest_lines(container.event_log.incoming_lines(key), source=f"s3:{key}")
    archived = container.event_log.archive_incoming(key)
    logger.info(
        "dropped file ingested",
        extra={"key": key, "archived": archived, "accepted": report.accepted, "rejected": report.rejected},
    )
    return {"accepted": report.accepted, "rejected": report.rejected, "archived": archived}


@events_api.on_s3_event(bucket=LAKE_BUCKET, prefix=INCOMING_PREFIX, events=["s3:ObjectCreated:*"])
def on_dropped_events(event: Any) -> dict[str, Any]:
    return ingest_dropped_object(unquote_plus(event.key))


@events_api.schedule(Rate(10, unit=Rate.MINUTES), name="sweep_overdue_reports")
def sweep_overdue_reports(event: Any) -> dict[str, Any]:
    """Every 10 minutes: fail reports still IN_PROGRESS after their deadline."""
    failed = get_container().sweeper.sweep()
    if failed:
        logger.warning("overdue reports failed", extra={"report_ids": failed})
    return {"failed": failed}


@events_api.schedule(Cron(0, 1, "*", "*", "?", "*"), name="rate_yesterday")
def rate_yesterday(event: Any) -> dict[str, Any]:
    """01:00 UTC: rate every day not yet rated through yesterday."""
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    rated = get_container().rating.rate_through(yesterday)
    logger.info("days rated", extra={"days": [day.day.isoformat() for day in rated]})
    return {"rated": [day.day.isoformat() for day in rated]}
