"""The webhook deliveries queue (SQS): each `WebhookDelivery` as one JSON message, delayed until
its `not_before` as far as SQS can (at most 15 minutes; the service queues an early one again)."""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from chalicelib.domain.timestamps import iso_millis, parse_iso
from chalicelib.domain.webhooks import WebhookDelivery, WebhookEvent

MAX_DELAY_SECONDS = 900  # SQS DelaySeconds
BATCH = 10  # SendMessageBatch entries


def delivery_json(delivery: WebhookDelivery) -> str:
    return json.dumps(
        {
            "deliveryId": delivery.delivery_id,
            "partnerOrgId": delivery.partner_org_id,
            "webhookId": delivery.webhook_id,
            "reportId": delivery.report_id,
            "revision": delivery.revision,
            "event": delivery.event.value,
            "occurred": iso_millis(delivery.occurred),
            "data": dict(delivery.data),
            "attempt": delivery.attempt,
            "notBefore": iso_millis(delivery.not_before) if delivery.not_before else None,
        },
        separators=(",", ":"),
    )


def delivery_from_json(text: str) -> WebhookDelivery:
    """A queued delivery, typed at the edge (a malformed message raises: it stays on the queue
    and reaches the dead-letter queue)."""
    value = json.loads(text)
    return WebhookDelivery(
        delivery_id=str(value["deliveryId"]),
        partner_org_id=str(value["partnerOrgId"]),
        webhook_id=str(value["webhookId"]),
        report_id=str(value["reportId"]),
        revision=int(value["revision"]),
        event=WebhookEvent(value["event"]),
        occurred=parse_iso(value["occurred"]),
        data=dict(value.get("data") or {}),
        attempt=int(value.get("attempt", 1)),
        not_before=parse_iso(value["notBefore"]) if value.get("notBefore") else None,
    )


class SqsDeliveryQueue:
    def __init__(
        self, sqs: Any, queue_name: str, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    ) -> None:
        self._sqs = sqs
        self._name = queue_name
        self._url: str | None = None
        self._lock = threading.Lock()
        self._clock = clock

    @property
    def url(self) -> str:
        with self._lock:
            if self._url is None:
                self._url = self._sqs.get_queue_url(QueueName=self._name)["QueueUrl"]
            return self._url

    def delay_seconds(self, delivery: WebhookDelivery) -> int:
        if delivery.not_before is None:
            return 0
        wait = (delivery.not_before - self._clock()).total_seconds()
        return max(0, min(MAX_DELAY_SECONDS, math.ceil(wait)))

    def enqueue(self, deliveries: Sequence[WebhookDelivery]) -> None:
        for start in range(0, len(deliveries), BATCH):
            entries = [
                {"Id": str(index), "MessageBody": delivery_json(delivery), "DelaySeconds": self.delay_seconds(delivery)}
                for index, delivery in enumerate(deliveries[start : start + BATCH])
            ]
            response = self._sqs.send_message_batch(QueueUrl=self.url, Entries=entries)
            if response.get("Failed"):
                raise RuntimeError(f"{len(response['Failed'])} webhook deliveries could not be queued")
