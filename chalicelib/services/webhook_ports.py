"""What the webhook service needs from the outside (ARCHITECTURE.md §7; the adapters implement these):
the webhooks table, the deliveries queue, the event bus, and an HTTP sender that keeps to the
target rules of domain/webhooks.py."""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from chalicelib.domain.messages import ReportSettled
from chalicelib.domain.webhooks import DeliveryRecord, Webhook, WebhookDelivery


class WebhookLimitReached(Exception):
    """The partner has as many webhooks as it may have."""


class WebhookStore(Protocol):
    def create(self, webhook: Webhook, max_per_partner: int) -> None:
        """Put the webhook if the partner has fewer than `max_per_partner`, else raise
        WebhookLimitReached (atomically: concurrent creates never pass the cap)."""
        ...

    def get(self, partner_org_id: str, webhook_id: str) -> Webhook | None: ...

    def list(self, partner_org_id: str) -> builtins.list[Webhook]: ...

    def delete(self, partner_org_id: str, webhook_id: str) -> bool:
        """Remove it; False if it was not there."""
        ...

    def record_delivery(self, partner_org_id: str, webhook_id: str, record: DeliveryRecord) -> bool:
        """Store `record` as the webhook's last delivery unless a later attempt is recorded or
        the webhook is gone (False then)."""
        ...


class DeliveryQueue(Protocol):
    def enqueue(self, deliveries: Sequence[WebhookDelivery]) -> None:
        """Queue each delivery, visible at its `not_before` (or as close to it as the queue can
        delay: a delivery received early is queued again)."""
        ...


class EventPublisher(Protocol):
    def publish(self, message: ReportSettled) -> None: ...


@dataclass(frozen=True)
class SendResult:
    """The answer to one POST: its HTTP status, or why there was none."""

    http_status: int | None
    error: str | None = None


class WebhookSender(Protocol):
    def target_problems(self, url: str) -> builtins.list[str]:
        """Why `url` may not be a target given what its host resolves to now ([]: it may)."""
        ...

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        """POST `body` to `url` (checked again, never following a redirect)."""
        ...
