"""Settled reports on an EventBridge bus (ARCHITECTURE.md §6): one event per `ReportSettled`,
Source `wholesale-billing-reports`, for whatever the operator routes from there."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.messages import ReportSettled
from chalicelib.domain.timestamps import iso_millis
from chalicelib.domain.webhooks import RESOURCE, WebhookEvent

SOURCE = "wholesale-billing-reports"
DETAIL_TYPES = {
    WebhookEvent.COMPLETED: "Billing Report Completed",
    WebhookEvent.FAILED: "Billing Report Failed",
    WebhookEvent.REGENERATED: "Billing Report Regenerated",
    WebhookEvent.SCHEDULED: "Scheduled Billing Report Ready",
}


def event_entry(message: ReportSettled, bus_name: str) -> dict[str, Any]:
    """The PutEvents entry of a settled report."""
    detail = {
        "event": message.event,
        "resource": RESOURCE,
        "orgId": message.partner_org_id,
        "reportId": message.report_id,
        "revision": message.revision,
        "created": iso_millis(message.at),
        "data": {**message.summary, "revision": message.revision},
    }
    return {
        "Source": SOURCE,
        "DetailType": DETAIL_TYPES[WebhookEvent(message.event)],
        "Detail": json.dumps(detail, separators=(",", ":")),
        "EventBusName": bus_name,
        "Time": message.at,
    }


class EventBridgePublisher:
    def __init__(self, events: Any, bus_name: str) -> None:
        self._events = events
        self._bus = bus_name

    def publish(self, message: ReportSettled) -> None:
        response = self._events.put_events(Entries=[event_entry(message, self._bus)])
        if response.get("FailedEntryCount"):
            failure = response["Entries"][0]
            raise RuntimeError(
                f"EventBridge refused the event: {failure.get('ErrorCode')} {failure.get('ErrorMessage')}"
            )
