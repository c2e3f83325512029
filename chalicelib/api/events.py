"""Event entry points: provisioning events from SQS and S3 drops, the daily rating schedule, and
the webhooks (settled reports from the reports stream, deliveries from their queue)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from chalice import Blueprint, Cron, Rate

from chalicelib.bootstrap import get_container
from chalicelib.domain.messages import DayPublished, Message
from chalicelib.runtime.observability import flushing_metrics, logger, metrics
from chalicelib.services.regeneration import RunsStarted

events_api = Blueprint(__name__)

EVENTS_QUEUE = os.environ.get("WBR_EVENTS_QUEUE", "wbr-provisioning-events")
LAKE_BUCKET = os.environ.get("WBR_LAKE_BUCKET", "wbr-lake")
# Chalice needs a literal stream ARN when packaging; infra/ points the mapping at the table's stream.
USAGE_DAYS_STREAM_ARN = os.environ.get(
    "WBR_USAGE_DAYS_STREAM_ARN",
    "arn:aws:dynamodb:us-east-1:000000000000:table/wbr-usage-days/stream/1970-01-01T00:00:00.000",
)
REPORTS_STREAM_ARN = os.environ.get(
    "WBR_REPORTS_STREAM_ARN",
    "arn:aws:dynamodb:us-east-1:000000000000:table/wbr-reports/stream/1970-01-01T00:00:00.000",
)
WEBHOOK_DELIVERIES_QUEUE = os.environ.get("WBR_WEBHOOK_DELIVERIES_QUEUE", "wbr-webhook-deliveries")
INCOMING_PREFIX = "incoming/"

_sqs_processor = BatchProcessor(event_type=EventType.SQS)
_deliveries_processor = BatchProcessor(event_type=EventType.SQS)  # its own: the pollers run at once


def ingest_sqs_record(record: SQSRecord) -> None:
    """One SQS message: an NDJSON body of one or more events. Raising marks only this message
    failed (partial batch response), so SQS redelivers it; re-landing events is harmless."""
    lines = record.body.split("\n")
    if lines[-1] == "":  # the body's final newline ends its last line; it starts no blank one
        lines.pop()
    report = get_container().ingestion.ingest_lines(lines, source=f"sqs:{record.message_id}")
    metrics.add_metric(name="EventsAccepted", unit="Count", value=report.accepted)
    metrics.add_metric(name="EventsRejected", unit="Count", value=report.rejected)
    logger.info(
        "sqs message ingested",
        extra={
            "message_id": record.message_id,
            "accepted": report.accepted,
            "rejected": report.rejected,
            "restatement": report.restatement.as_json() if report.restatement else None,
            "blank_lines": report.blank_lines,
        },
    )


@events_api.on_sqs_message(queue=EVENTS_QUEUE, batch_size=10)
@flushing_metrics
def on_provisioning_events(event: Any) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event.to_dict(), record_handler=ingest_sqs_record, processor=_sqs_processor, context=event.context
    )


def ingest_dropped_object(key: str) -> dict[str, Any]:
    container = get_container()
    report = container.ingestion.ingest_lines(container.event_log.incoming_lines(key), source=f"s3:{key}")
    archived = container.event_log.archive_incoming(key)
    logger.info(
        "dropped file ingested",
        extra={
            "key": key,
            "archived": archived,
            "accepted": report.accepted,
            "rejected": report.rejected,
            "restatement": report.restatement.as_json() if report.restatement else None,
            "blank_lines": report.blank_lines,
        },
    )
    return {
        "accepted": report.accepted,
        "rejected": report.rejected,
        "blankLines": report.blank_lines,
        "archived": archived,
    }


@events_api.on_s3_event(bucket=LAKE_BUCKET, prefix=INCOMING_PREFIX, events=["s3:ObjectCreated:*"])
@flushing_metrics
def on_dropped_events(event: Any) -> dict[str, Any]:
    return ingest_dropped_object(unquote_plus(event.key))


@events_api.schedule(Rate(10, unit=Rate.MINUTES), name="sweep_overdue_reports")
@flushing_metrics
def sweep_overdue_reports(event: Any) -> dict[str, Any]:
    """Every 10 minutes: fail reports stuck past their deadline; start or regenerate reports a
    lost publication event left waiting or stale; ask for the restatement of events whose ingest
    died between landing them and asking."""
    asked = get_container().rating.ask_for_stale_landings()
    if asked:
        logger.warning(
            "restatement asked for landings whose ingest died", extra={"days": [d.isoformat() for d in asked]}
        )
    result = get_container().sweeper.sweep()
    if result.failed:
        logger.warning("overdue reports failed", extra={"report_ids": result.failed})
    metrics.add_metric(name="ReportsFailed", unit="Count", value=len(result.failed))
    return {"failed": result.failed, "started": result.started, "regenerated": result.regenerated}


@events_api.on_dynamodb_record(stream_arn=USAGE_DAYS_STREAM_ARN, batch_size=10, starting_position="TRIM_HORIZON")
@flushing_metrics
def on_usage_day_published(event: Any) -> dict[str, Any]:
    """The usage_days stream: a day published or restated, or a restatement requested, each
    typed here and handed to the message bus (services/messagebus.py says what follows). Raising
    makes the event source retry the batch; every handler is idempotent (conditional claims,
    execution names per trigger, a marker only its own run clears)."""
    container = get_container()
    handled = []
    for record in event.to_dict().get("Records", []):
        message = container.usage_day_message(record)
        if message is None:
            continue
        outcomes = container.bus.handle(message)
        for outcome in outcomes:
            if isinstance(outcome, RunsStarted):
                metrics.add_metric(name="ReportsRegenerated", unit="Count", value=len(outcome.regenerated))
        handled.append({"message": type(message).__name__, **_described(message, outcomes)})
    logger.info("usage_days events handled", extra={"events": handled})
    return {"events": handled}


def _described(message: Message, outcomes: list[object]) -> dict[str, Any]:
    if isinstance(message, DayPublished):
        started = next((outcome for outcome in outcomes if isinstance(outcome, RunsStarted)), RunsStarted())
        return {
            "day": message.day.isoformat(),
            "version": message.version,
            "started": started.started,
            "regenerated": started.regenerated,
        }
    rated = [day.day.isoformat() for outcome in outcomes if isinstance(outcome, list) for day in outcome]
    return {"fromDay": message.from_day.isoformat(), "rated": rated}


@events_api.schedule(Cron(0, 1, "*", "*", "?", "*"), name="rate_yesterday")
@flushing_metrics
def rate_yesterday(event: Any) -> dict[str, Any]:
    """01:00 UTC: re-rate a pending restatement (bounded), then rate every day not yet rated
    through yesterday. Each publication reaches its handler through the usage_days stream."""
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    rating = get_container().rating
    restated = rating.restate_pending()
    rated = rating.rate_through(yesterday)
    logger.info("days rated", extra={"days": [day.day.isoformat() for day in rated]})
    return {"rated": [day.day.isoformat() for day in rated], "restated": [day.day.isoformat() for day in restated]}


@events_api.on_dynamodb_record(stream_arn=REPORTS_STREAM_ARN, batch_size=10, starting_position="TRIM_HORIZON")
@flushing_metrics
def on_report_settled(event: Any) -> dict[str, Any]:
    """The reports stream: a report that completed, failed or was regenerated (typed here;
    other records are none) is delivered by each schedule that made it (copy, `report.scheduled`),
    queued for each subscribed webhook of its partner and published on the event bus. Raising makes the event source retry the batch; a delivery queued again
    has the same id, so receivers deduplicate. The report itself is settled already: nothing
    here can hold it up."""
    container = get_container()
    handled = []
    for record in event.to_dict().get("Records", []):
        message = container.settled_report(record)
        if message is None:
            continue
        scheduled = container.schedules.on_report_settled(message)  # copies, then `report.scheduled`
        queued = container.webhooks.on_report_settled(message)
        metrics.add_metric(name="WebhookDeliveriesQueued", unit="Count", value=len(queued))
        handled.append(
            {"event": message.event, "report_id": message.report_id, "deliveries": queued, "schedules": scheduled}
        )
    logger.info("settled reports handled", extra={"events": handled})
    return {"events": handled}


def deliver_webhook_record(record: SQSRecord) -> None:
    """One queued delivery attempt. Raising leaves only this message on the queue (at least
    once: the delivery id lets the receiver deduplicate); a failed POST is not raised, it is
    retried by a delayed message of its own."""
    container = get_container()
    delivery = container.webhook_delivery(record.body)
    outcome = container.webhooks.deliver(delivery)
    metrics.add_metric(name="WebhookDeliveries", unit="Count", value=1)
    logger.info(
        "webhook delivery",
        extra={
            "delivery_id": delivery.delivery_id,
            "webhook_id": delivery.webhook_id,
            "report_id": delivery.report_id,
            "event": delivery.event.value,
            "attempt": delivery.attempt,
            "outcome": outcome.value,
        },
    )


@events_api.on_sqs_message(queue=WEBHOOK_DELIVERIES_QUEUE, batch_size=10)
@flushing_metrics
def on_webhook_delivery(event: Any) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event.to_dict(),
        record_handler=deliver_webhook_record,
        processor=_deliveries_processor,
        context=event.context,
    )
