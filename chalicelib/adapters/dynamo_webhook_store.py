"""Webhooks in DynamoDB (table `webhooks`): one partition per partner (`partnerOrgId`), one item
per webhook (`webhookId`), and the partner's webhook count under `#count`, changed in the same
transaction as each create and delete so the cap holds under concurrency."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain.timestamps import iso_millis, parse_iso
from chalicelib.domain.webhooks import DeliveryRecord, DeliveryStatus, Webhook, WebhookEvent
from chalicelib.services.webhook_ports import WebhookLimitReached

from .dynamo_codec import from_item, to_item
from .dynamo_conditions import ACTION_CONDITION_FAILED, cancellation_codes, conditionally, transacted
from .dynamo_tables import counter_update, string_keyed_table

COUNT_KEY = "#count"  # the partner's number of webhooks (`webhooks`)


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments: the one definition used by the local stack, tests and infra."""
    return string_keyed_table(table_name, "partnerOrgId", "webhookId")


def webhook_item(webhook: Webhook) -> dict[str, Any]:
    return {
        "partnerOrgId": webhook.partner_org_id,
        "webhookId": webhook.webhook_id,
        "name": webhook.name,
        "targetUrl": webhook.target_url,
        "secret": webhook.secret,
        "events": [event.value for event in webhook.events],
        "created": iso_millis(webhook.created),
        "createdBy": webhook.created_by,
    }


def record_attribute(record: DeliveryRecord) -> dict[str, Any]:
    return {
        key: value
        for key, value in {
            "event": record.event.value,
            "reportId": record.report_id,
            "status": record.status.value,
            "attempt": record.attempt,
            "at": iso_millis(record.at),
            "httpStatus": record.http_status,
            "error": record.error,
            "nextAttemptAt": iso_millis(record.next_attempt_at) if record.next_attempt_at else None,
        }.items()
        if value is not None
    }


def record_from(value: Mapping[str, Any]) -> DeliveryRecord:
    return DeliveryRecord(
        event=WebhookEvent(value["event"]),
        report_id=value["reportId"],
        status=DeliveryStatus(value["status"]),
        attempt=int(value["attempt"]),
        at=parse_iso(value["at"]),
        http_status=int(value["httpStatus"]) if value.get("httpStatus") is not None else None,
        error=value.get("error"),
        next_attempt_at=parse_iso(value["nextAttemptAt"]) if value.get("nextAttemptAt") else None,
    )


def webhook_from(item: Mapping[str, Any]) -> Webhook:
    return Webhook(
        partner_org_id=item["partnerOrgId"],
        webhook_id=item["webhookId"],
        name=item.get("name", ""),
        target_url=item["targetUrl"],
        secret=item["secret"],
        events=tuple(WebhookEvent(event) for event in item.get("events", [])),
        created=parse_iso(item["created"]),
        created_by=item.get("createdBy", ""),
        last_delivery=record_from(item["lastDelivery"]) if item.get("lastDelivery") else None,
    )


class DynamoWebhookStore:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    def _key(self, partner_org_id: str, webhook_id: str) -> dict[str, Any]:
        return to_item({"partnerOrgId": partner_org_id, "webhookId": webhook_id})

    def _count(self, partner_org_id: str, delta: int, cap: int | None) -> dict[str, Any]:
        return counter_update(self._table, self._key(partner_org_id, COUNT_KEY), "webhooks", delta, cap)

    def create(self, webhook: Webhook, max_per_partner: int) -> None:
        put = {
            "Put": {
                "TableName": self._table,
                "Item": to_item(webhook_item(webhook)),
                "ConditionExpression": "attribute_not_exists(webhookId)",
            }
        }
        try:
            self._db.transact_write_items(TransactItems=[self._count(webhook.partner_org_id, 1, max_per_partner), put])
        except ClientError as error:
            codes = cancellation_codes(error)
            if codes and codes[0] == ACTION_CONDITION_FAILED:
                raise WebhookLimitReached() from None
            raise

    def get(self, partner_org_id: str, webhook_id: str) -> Webhook | None:
        if webhook_id.startswith("#"):
            return None
        response = self._db.get_item(
            TableName=self._table, Key=self._key(partner_org_id, webhook_id), ConsistentRead=True
        )
        return webhook_from(from_item(response["Item"])) if "Item" in response else None

    def list(self, partner_org_id: str) -> builtins.list[Webhook]:
        """The partner's webhooks, in id order (at most the cap: one page or two)."""
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "partnerOrgId = :partner",
            "ExpressionAttributeValues": to_item({":partner": partner_org_id}),
            "ConsistentRead": True,
        }
        webhooks: list[Webhook] = []
        while True:
            page = self._db.query(**arguments)
            for item in page.get("Items", []):
                values = from_item(item)
                if not str(values["webhookId"]).startswith("#"):
                    webhooks.append(webhook_from(values))
            if "LastEvaluatedKey" not in page:
                return webhooks
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete(self, partner_org_id: str, webhook_id: str) -> bool:
        remove = {
            "Delete": {
                "TableName": self._table,
                "Key": self._key(partner_org_id, webhook_id),
                "ConditionExpression": "attribute_exists(webhookId)",
            }
        }
        return transacted(self._db.transact_write_items, TransactItems=[remove, self._count(partner_org_id, -1, None)])

    def record_delivery(self, partner_org_id: str, webhook_id: str, record: DeliveryRecord) -> bool:
        """Conditional: the webhook exists (an update would otherwise create it again) and no
        later attempt is recorded (`lastDeliveryAt`, ISO text, orders as time does)."""
        at = iso_millis(record.at)
        return conditionally(
            self._db.update_item,
            TableName=self._table,
            Key=self._key(partner_org_id, webhook_id),
            UpdateExpression="SET lastDelivery = :record, lastDeliveryAt = :at",
            ConditionExpression="attribute_exists(webhookId) AND "
            "(attribute_not_exists(lastDeliveryAt) OR lastDeliveryAt <= :at)",
            ExpressionAttributeValues=to_item({":record": record_attribute(record), ":at": at}),
        )
