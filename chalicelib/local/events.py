"""`wbr dev`'s event source mappings: the local AWS's sources, delivered to the deployed handlers.

On AWS, Lambda polls the `usage_days` and reports streams, the provisioning-events and webhook
deliveries queues and receives the lake bucket's `incoming/` notifications, and calls the
handlers of `chalicelib/api/events.py`. Here
one thread per source does the same against the local AWS and calls the very same handler
objects with the same event shapes and the same batch semantics:
- stream: batches of up to 10 records in order; a batch whose handler raises is retried (with
  backoff) before any later record, as Lambda does for a stream shard; each stream is read from
  its kept position, never deaf to a stream the local AWS replaced (local/streams.py);
- SQS: up to 10 messages; those the handler names in `batchItemFailures` (or all, if it raises)
  stay on the queue and come back after the visibility timeout, the rest are deleted;
- S3: the bucket notifies a local queue (moto sends S3 notifications to SQS); each record is one
  handler call, and a failed one is redelivered.
Whichever process writes to these sources (the CLI, another API instance), the stack reacts.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.local.streams import OK, RETRYING, Health, StreamPositions, StreamReader
from chalicelib.runtime.observability import logger

if TYPE_CHECKING:
    from chalicelib.bootstrap import Container

BATCH_SIZE = 10
IDLE_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 30.0
LOCAL_VISIBILITY_TIMEOUT = 10  # seconds before a failed message is delivered again


@dataclass
class LambdaContext:
    """What a handler may read of a Lambda context."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:000000000000:function:local"

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


Handler = Callable[[dict[str, Any], Any], Any]


class LocalEventSources:
    def __init__(
        self,
        dynamodb_streams: Any,
        sqs: Any,
        usage_days_stream_arn: str,
        events_queue_url: str | None,
        notifications_queue_url: str | None,
        handlers: dict[str, Handler],
        reports_stream_arn: str | None = None,
        deliveries_queue_url: str | None = None,
        positions: StreamPositions | None = None,
        health: Health | None = None,
    ) -> None:
        self._streams = dynamodb_streams
        self._sqs = sqs
        self._stream_arn = usage_days_stream_arn
        self._reports_stream_arn = reports_stream_arn
        self._events_queue = events_queue_url
        self._notifications_queue = notifications_queue_url
        self._deliveries_queue = deliveries_queue_url
        self._handlers = handlers
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._positions = positions or StreamPositions()
        self.health = health or Health()
        self._readers: dict[str, StreamReader] = {}

    def start(self) -> None:
        sources: list[tuple[str, Callable[[], None]]] = [
            ("local-stream-usage-days", self._poll_stream),
            ("local-sqs-events", lambda: self._poll_queue(self._events_queue, "on_provisioning_events")),
            ("local-s3-incoming", self._poll_notifications),
        ]
        if self._reports_stream_arn:
            sources.append(("local-stream-reports", self._poll_reports_stream))
        if self._deliveries_queue:
            sources.append(
                ("local-sqs-webhooks", lambda: self._poll_queue(self._deliveries_queue, "on_webhook_delivery"))
            )
        for name, target in sources:
            thread = threading.Thread(target=self._forever, args=(name, target), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stopping.set()

    # ---- the usage_days stream ------------------------------------------------------------

    def _poll_stream(self) -> None:
        while not self._stopping.is_set():
            if not self.deliver_stream_batch():
                self._stopping.wait(IDLE_SECONDS)

    def deliver_stream_batch(self) -> int:
        """Hand the next batch of the stream's records to the stream handler; how many."""
        return self._stream_batch(self._stream_arn, "on_usage_day_published", "local-stream-usage-days")

    def _stream_batch(self, stream_arn: str, handler: str, source: str) -> int:
        reader = self._readers.get(stream_arn)
        if reader is None:
            reader = StreamReader(self._streams, stream_arn, self._positions, self.health, source)
            self._readers[stream_arn] = reader
        records = reader.read(BATCH_SIZE)
        if records and not self._deliver(handler, {"Records": records}, source):
            return 0  # stopping: the batch is delivered again by the next start
        reader.commit(records)
        return len(records)

    # ---- the reports stream (webhooks) -----------------------------------------------------

    def _poll_reports_stream(self) -> None:
        while not self._stopping.is_set():
            if not self.deliver_reports_stream_batch():
                self._stopping.wait(IDLE_SECONDS)

    def deliver_reports_stream_batch(self) -> int:
        """Hand the next batch of each shard of the reports stream to its handler; how many."""
        assert self._reports_stream_arn is not None
        return self._stream_batch(self._reports_stream_arn, "on_report_settled", "local-stream-reports")

    def drain_reports_stream(self) -> int:
        """Deliver reports-stream records until none are left; how many. For tests and tools."""
        total = 0
        while delivered := self.deliver_reports_stream_batch():
            total += delivered
        return total

    def deliver_webhook_batch(self) -> int:
        """Receive the visible webhook deliveries once (waiting up to a second) and hand them to
        their handler, with the queue's batch semantics; how many. For tests and tools."""
        assert self._deliveries_queue is not None
        return self.deliver_queue_batch(self._deliveries_queue, "on_webhook_delivery")

    def drain_stream(self) -> int:
        """Deliver stream records until none are left (records that handlers write, such as a
        restatement's publications, included); how many. For tests and tools."""
        total = 0
        while delivered := self.deliver_stream_batch():
            total += delivered
        return total

    # ---- SQS: provisioning events, webhook deliveries --------------------------------------

    def _poll_queue(self, queue_url: str | None, handler: str) -> None:
        assert queue_url is not None
        while not self._stopping.is_set():
            self.deliver_queue_batch(queue_url, handler)

    def deliver_queue_batch(self, queue_url: str, handler: str) -> int:
        """One receive of up to 10 messages handed to `handler` as Lambda's SQS event source
        does: those it names in `batchItemFailures` (or all, if it raises) stay on the queue and
        come back after the visibility timeout, the rest are deleted; how many were received."""
        messages = self._receive(queue_url)
        if not messages:
            return 0
        event = {"Records": [_sqs_record(message, queue_url) for message in messages]}
        try:
            response = self._handlers[handler](event, LambdaContext(handler))
            failed = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
        except Exception:  # noqa: BLE001 - as Lambda: the whole batch comes back
            logger.exception("queue batch failed; it will be delivered again", extra={"handler": handler})
            return len(messages)
        self._delete(queue_url, [message for message in messages if message["MessageId"] not in failed])
        return len(messages)

    # ---- S3: files dropped under incoming/ ------------------------------------------------

    def _poll_notifications(self) -> None:
        assert self._notifications_queue is not None
        while not self._stopping.is_set():
            for message in self._receive(self._notifications_queue):
                records = json.loads(message["Body"]).get("Records", [])
                try:
                    for record in records:  # S3 invokes the function once per record
                        self._handlers["on_dropped_events"]({"Records": [record]}, LambdaContext("on_dropped_events"))
                except Exception:  # noqa: BLE001 - redelivered after the visibility timeout
                    logger.exception("dropped file ingestion failed; it will be delivered again")
                    continue
                self._delete(self._notifications_queue, [message])

    # ---- plumbing ---------------------------------------------------------------------------

    def _deliver(self, handler: str, event: dict[str, Any], source: str) -> bool:
        """Call until it succeeds (a stream batch blocks its shard until then), backing off;
        False if stopped first. Without running pollers (`drain_stream` in a test), the first
        failure propagates."""
        delay = 0.5
        failures = 0
        while not self._stopping.is_set():
            try:
                self._handlers[handler](event, LambdaContext(handler))
                return True
            except Exception as error:
                if not self._threads:
                    raise
                failures += 1
                logger.exception("stream batch failed; retrying it", extra={"handler": handler})
                self.health.report(
                    source, RETRYING, f"its handler {handler} failed {failures} time(s) on one batch: {error!r}"
                )
                self._stopping.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        return False

    def _receive(self, queue_url: str) -> list[dict[str, Any]]:
        return self._sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=BATCH_SIZE,
            WaitTimeSeconds=1,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])

    def _delete(self, queue_url: str, messages: list[dict[str, Any]]) -> None:
        if messages:
            self._sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(messages)
                ],
            )

    def _forever(self, name: str, poll: Callable[[], None]) -> None:
        """A poller that hits an error (the local AWS restarting, say) starts again."""
        delay = 0.5
        self.health.report(name, OK)
        while not self._stopping.is_set():
            try:
                poll()
            except Exception as error:  # noqa: BLE001
                if self._stopping.is_set():
                    return  # the local AWS stops with us
                logger.exception("local event source failed; restarting it", extra={"source": name})
                self.health.report(name, RETRYING, f"it failed and is restarted: {error!r}")
                self._stopping.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF_SECONDS)


def _sqs_record(message: dict[str, Any], queue_url: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it to a function."""
    queue_name = queue_url.rsplit("/", 1)[-1]
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:000000000000:{queue_name}",
        "awsRegion": "us-east-1",
    }


def deployed_handlers() -> dict[str, Handler]:
    """The event handlers as the deployed event sources call them (chalicelib/api/events.py)."""
    from chalicelib.api import events

    return {
        "on_usage_day_published": events.on_usage_day_published,
        "on_provisioning_events": events.on_provisioning_events,
        "on_dropped_events": events.on_dropped_events,
        "on_report_settled": events.on_report_settled,
        "on_webhook_delivery": events.on_webhook_delivery,
    }


def usage_days_stream(dynamodb: Any, dynamodb_streams: Any, table: str) -> LocalEventSources:
    """Only the `usage_days` stream (no queues), to drain by hand: tests and tools."""
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    return LocalEventSources(dynamodb_streams, None, arn, None, None, deployed_handlers())


def reports_stream(
    dynamodb: Any, dynamodb_streams: Any, sqs: Any, table: str, deliveries_queue_url: str
) -> LocalEventSources:
    """Only the reports stream and the webhook deliveries queue, to deliver by hand: tests and
    tools (`drain_reports_stream`, `deliver_webhook_batch`)."""
    arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    return LocalEventSources(
        dynamodb_streams,
        sqs,
        "",
        None,
        None,
        deployed_handlers(),
        reports_stream_arn=arn,
        deliveries_queue_url=deliveries_queue_url,
    )


def usage_days_stream_of(container: Container) -> LocalEventSources:
    """The container's `usage_days_stream` (tests, tools): its table's stream, drained by hand."""
    return usage_days_stream(container.dynamodb, container.dynamodb_streams, container.settings.usage_days_table)


def reports_stream_of(container: Container) -> LocalEventSources:
    """The container's `reports_stream` (tests, tools): the reports table's stream and the
    webhook deliveries queue, delivered by hand."""
    return reports_stream(
        container.dynamodb,
        container.dynamodb_streams,
        container.sqs,
        container.settings.reports_table,
        container.deliveries.url,
    )
