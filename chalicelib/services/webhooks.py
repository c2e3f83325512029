"""The webhook use cases (ARCHITECTURE.md §6 "Webhooks"): create, list, get, delete; fan a settled
report out to the partner's subscribed webhooks; deliver one attempt and schedule the next."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from chalicelib.domain.access import Caller
from chalicelib.domain.errors import Conflict, InvalidRequest
from chalicelib.domain.messages import ReportSettled
from chalicelib.domain.webhooks import (
    MAX_WEBHOOKS_PER_PARTNER,
    WEBHOOK_NOT_FOUND,
    DeliveryRecord,
    DeliveryStatus,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
    WebhookRequest,
    delivery_body,
    delivery_id,
    is_delivered,
    is_webhook_id,
    new_webhook_id,
    next_attempt_at,
    signature,
)
from chalicelib.services.owned import PartnerKept
from chalicelib.services.webhook_ports import (
    DeliveryQueue,
    EventPublisher,
    WebhookLimitReached,
    WebhookSender,
    WebhookStore,
)

SIGNATURE_HEADER = "X-Spark-Signature"
DELIVERY_ID_HEADER = "X-WBR-Delivery-Id"
USER_AGENT = "wholesale-billing-reports-webhooks/1.0"


@dataclass(frozen=True)
class WebhookPolicy:
    local: bool  # the local stage: http and loopback targets are allowed
    retry_base_seconds: float
    retry_max_seconds: float
    max_per_partner: int = MAX_WEBHOOKS_PER_PARTNER


class Outcome(str, Enum):
    """What handling one delivery message did."""

    DELIVERED = "delivered"
    RETRYING = "retrying"
    GAVE_UP = "gave up"
    DEFERRED = "deferred"  # received before its time (the queue delays at most 15 minutes)
    DROPPED = "dropped"  # the webhook was deleted meanwhile


class WebhookService:
    def __init__(
        self,
        store: WebhookStore,
        queue: DeliveryQueue,
        events: EventPublisher,
        sender: WebhookSender,
        policy: WebhookPolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._store = store
        self._kept = PartnerKept(store, is_webhook_id, WEBHOOK_NOT_FOUND)
        self._queue = queue
        self._events = events
        self._sender = sender
        self._policy = policy
        self._clock = clock

    # ---- the API ------------------------------------------------------------------------

    def create(self, caller: Caller, body: Mapping[str, Any]) -> Webhook:
        """A new webhook of the caller's org. Raises InvalidRequest (every problem named; a
        target that resolves to a refused address too) or Conflict (the cap); nothing is
        written then."""
        caller.require_write()
        request = WebhookRequest.from_body(body, local=self._policy.local)
        problems = self._sender.target_problems(request.target_url)
        if problems:
            raise InvalidRequest(problems[0], problems)
        webhook = Webhook(
            partner_org_id=caller.org_id,
            webhook_id=new_webhook_id(),
            name=request.name,
            target_url=request.target_url,
            secret=request.secret,
            events=request.events,
            created=self._clock(),
            created_by=caller.person_id,
        )
        try:
            self._store.create(webhook, self._policy.max_per_partner)
        except WebhookLimitReached:
            raise Conflict(
                f"At most {self._policy.max_per_partner} webhooks may be registered; delete one first"
            ) from None
        return webhook

    def list(self, caller: Caller) -> builtins.list[dict[str, Any]]:
        caller.require_read()
        return [webhook.to_json() for webhook in self._store.list(caller.org_id)]

    def get(self, caller: Caller, webhook_id: str) -> dict[str, Any]:
        return self._kept.get(caller, webhook_id)

    def delete(self, caller: Caller, webhook_id: str) -> None:
        """Remove it: deliveries still queued for it are dropped when they come up."""
        self._kept.delete(caller, webhook_id)

    # ---- a report settled --------------------------------------------------------------

    def on_report_settled(self, message: ReportSettled) -> builtins.list[str]:
        """Queue one delivery per webhook of the report's partner that subscribes to the
        event, then publish the event on the event bus; the delivery ids queued. Raising makes
        the stream retry the batch: a delivery queued twice has the same id."""
        event = WebhookEvent(message.event)
        deliveries = [
            WebhookDelivery(
                delivery_id=delivery_id(
                    webhook.webhook_id, message.report_id, message.revision, event, message.schedule_id
                ),
                partner_org_id=message.partner_org_id,
                webhook_id=webhook.webhook_id,
                report_id=message.report_id,
                revision=message.revision,
                event=event,
                occurred=message.at,
                data=dict(message.summary),
            )
            for webhook in self._store.list(message.partner_org_id)
            if event in webhook.events
        ]
        if deliveries:
            self._queue.enqueue(deliveries)
        self._events.publish(message)
        return [delivery.delivery_id for delivery in deliveries]

    # ---- one delivery ------------------------------------------------------------------

    def deliver(self, delivery: WebhookDelivery) -> Outcome:
        """One attempt: POST the signed body; 2xx is delivered, anything else is retried with
        backoff until 24 h after the event, then given up. The outcome is recorded on the
        webhook (never over a later attempt's record)."""
        now = self._clock()
        if delivery.not_before is not None and delivery.not_before > now:
            self._queue.enqueue([delivery])  # a wait longer than the queue can delay
            return Outcome.DEFERRED
        webhook = self._store.get(delivery.partner_org_id, delivery.webhook_id)
        if webhook is None:
            return Outcome.DROPPED
        body = delivery_body(webhook, delivery)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(webhook.secret, body),
            DELIVERY_ID_HEADER: delivery.delivery_id,
            "User-Agent": USER_AGENT,
        }
        result = self._sender.post(webhook.target_url, body, headers)
        at = self._clock()
        record = DeliveryRecord(
            event=delivery.event,
            report_id=delivery.report_id,
            status=DeliveryStatus.DELIVERED,
            attempt=delivery.attempt,
            at=at,
            http_status=result.http_status,
            error=result.error,
        )
        outcome = Outcome.DELIVERED
        if not is_delivered(result.http_status):
            retry_at = next_attempt_at(delivery, at, self._policy.retry_base_seconds, self._policy.retry_max_seconds)
            if retry_at is None:
                record, outcome = replace(record, status=DeliveryStatus.GAVE_UP), Outcome.GAVE_UP
            else:
                record = replace(record, status=DeliveryStatus.RETRYING, next_attempt_at=retry_at)
                outcome = Outcome.RETRYING
                self._queue.enqueue([replace(delivery, attempt=delivery.attempt + 1, not_before=retry_at)])
        self._store.record_delivery(delivery.partner_org_id, delivery.webhook_id, record)
        return outcome
