"""Directory data (partners and their tree, customers, SKUs) in DynamoDB.

Items: PK ``entity`` = ``PARTNER`` | ``CUSTOMER#<partnerOrgId>`` | ``SKU``, SK ``id``.
Written by directory upserts; read by the API (partner checks) and the worker (row names).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.domain.report_rows import Customer, Partner, Sku

from .dynamo_codec import from_item, to_item
from .dynamo_conditions import conditionally
from .dynamo_tables import string_keyed_table


def table_definition(table_name: str) -> dict[str, Any]:
    return string_keyed_table(table_name, "entity", "id")


class DynamoDirectory:
    def __init__(
        self, dynamodb: Any, table_name: str, cache_seconds: int = 30, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._db = dynamodb
        self._table = table_name
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._partners: tuple[float, list[Partner]] | None = None
        self._lock = threading.Lock()

    # ---- writes (directory upserts) -----------------------------------------------------

    def upsert_partner(self, partner: Partner, as_of: int | None = None) -> None:
        self._put(
            {
                "entity": "PARTNER",
                "id": partner.org_id,
                "name": partner.name,
                "parentPartnerOrgId": partner.parent_org_id,
            },
            as_of,
        )
        with self._lock:
            self._partners = None

    def upsert_customer(self, customer: Customer, as_of: int | None = None) -> None:
        self._put(
            {
                "entity": f"CUSTOMER#{customer.partner_org_id}",
                "id": customer.org_id,
                "externalId": customer.external_id,
                "internal": customer.internal,
            },
            as_of,
        )

    def upsert_sku(self, sku: Sku, as_of: int | None = None) -> None:
        values = {"entity": "SKU", "id": sku.sku, "serviceName": sku.service_name, "description": sku.description}
        self._put(values, as_of)

    # ---- reads --------------------------------------------------------------------------

    def partners(self) -> list[Partner]:
        """All partners (a small set), cached for `cache_seconds`. An empty directory is never
        cached: a stack that starts empty (and shows its partners at start) sees the first
        partners as soon as they are upserted, not a cache period later."""
        with self._lock:
            if self._partners and self._partners[1] and self._clock() - self._partners[0] < self._cache_seconds:
                return self._partners[1]
        partners = [
            Partner(item["id"], item.get("name", ""), item.get("parentPartnerOrgId")) for item in self._query("PARTNER")
        ]
        with self._lock:
            self._partners = (self._clock(), partners)
        return partners

    def customers_of(
        self, partner_org_ids: Iterable[str], customers_from: str | None = None, customers_before: str | None = None
    ) -> list[Customer]:
        """Customers of the partners, optionally only ids in [customers_from, customers_before)
        (a shard reads just its range: a key-range query, not the whole list)."""
        customers: list[Customer] = []
        for partner_org_id in partner_org_ids:
            customers.extend(
                Customer(item["id"], partner_org_id, item.get("externalId", ""), bool(item.get("internal")))
                for item in self._query(f"CUSTOMER#{partner_org_id}", customers_from, customers_before)
            )
        return sorted(customers, key=lambda customer: customer.org_id)

    def skus(self) -> list[Sku]:
        return [
            Sku(item["id"], item.get("serviceName", ""), item.get("description", "")) for item in self._query("SKU")
        ]

    def _put(self, values: dict[str, Any], as_of: int | None) -> None:
        """Write an upsert; with `as_of` (event time) an older upsert never overwrites a newer one."""
        if as_of is None:
            self._db.put_item(TableName=self._table, Item=to_item(values))
            return
        conditionally(  # False: a newer upsert is stored, and stays
            self._db.put_item,
            TableName=self._table,
            Item=to_item({**values, "asOf": as_of}),
            ConditionExpression="attribute_not_exists(asOf) OR asOf <= :t",
            ExpressionAttributeValues=to_item({":t": as_of}),
        )

    def _query(self, entity: str, id_from: str | None = None, id_before: str | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        if id_from is not None and id_before is not None and id_from >= id_before:
            return items
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "entity = :e",
            "ExpressionAttributeValues": {":e": {"S": entity}},
        }
        # The id range as the key condition, so only its items are read: DynamoDB allows one
        # condition on the sort key, so [from, before) is asked as BETWEEN (inclusive) and the
        # item equal to `before` is dropped below.
        bounds = {":from": id_from, ":before": id_before}
        condition = {
            (True, True): " AND #id BETWEEN :from AND :before",
            (True, False): " AND #id >= :from",
            (False, True): " AND #id < :before",
        }.get((id_from is not None, id_before is not None))
        if condition:
            arguments["KeyConditionExpression"] += condition
            arguments["ExpressionAttributeNames"] = {"#id": "id"}
            arguments["ExpressionAttributeValues"].update(
                {name: {"S": value} for name, value in bounds.items() if value is not None}
            )
        while True:
            page = self._db.query(**arguments)
            for item in page.get("Items", []):
                values = from_item(item)
                if id_before is not None and values["id"] >= id_before:
                    return items  # ascending ids: the rest of the range is beyond it
                items.append(values)
            if "LastEvaluatedKey" not in page:
                return items
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
