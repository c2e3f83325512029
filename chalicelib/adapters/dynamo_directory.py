"""Directory data (partners and their tree, customers, SKUs) in DynamoDB.

Items: PK ``entity`` = ``PARTNER`` | ``CUSTOMER#<partnerOrgId>`` | ``SKU`` |
``LOCATION#<partnerOrgId>`` (SK ``<customerOrgId>`` NUL ``<locationId>``: the location's name), SK ``id``.
Written by directory upserts; read by the API (partner checks) and, through its snapshot
(adapters/directory_snapshot.py), by the worker (row names).

Bookkeeping lives under PK ``#DIRECTORY`` (`META_ENTITY`): ``version`` holds the directory's
version, a counter every upsert that changed an item adds 1 to (after its write), and
``snapshot`` the version of the newest published snapshot and its S3 key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.directory import Customer, Location, Partner, Sku, with_locations
from chalicelib.domain.directory_index import DirectoryIndex
from chalicelib.domain.timestamps import epoch_millis

from .dynamo_codec import from_item, to_item
from .dynamo_conditions import conditionally
from .dynamo_tables import string_keyed_table

META_ENTITY = "#DIRECTORY"  # the bookkeeping partition (never an entity: those have no '#' lead)
VERSION_ID = "version"  # {version}: bumped by every upsert that wrote
SNAPSHOT_ID = "snapshot"  # {version, key}: the newest published snapshot
LOCATION_ENTITY = "LOCATION#"  # + partner org id: the names of its customers' locations


def table_definition(table_name: str) -> dict[str, Any]:
    return string_keyed_table(table_name, "entity", "id")


@dataclass(frozen=True)
class DirectoryState:
    """The directory's version and the newest published snapshot's (None: none yet)."""

    version: int
    snapshot_version: int | None
    snapshot_key: str | None

    @property
    def snapshot_is_current(self) -> bool:
        return self.snapshot_version is not None and self.snapshot_version >= self.version


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
        """Name and parent as stated (no parent: a top-level partner); each sub-partner fact
        (subscription, provisioning state, created, billing start) only when stated, else the
        stored one stays. `created` never stated is the time of the first upsert applied."""
        stated = {
            "subscriptionId": partner.subscription_id,
            "provisioningState": partner.provisioning_state,
            "created": partner.created,
            "billingStartDate": partner.billing_start_date,
        }
        sets = {"name": partner.name, **{name: value for name, value in stated.items() if value}}
        removes = [] if partner.parent_org_id else ["parentPartnerOrgId"]
        if partner.parent_org_id:
            sets["parentPartnerOrgId"] = partner.parent_org_id
        first_seen = None if partner.created or as_of is None else epoch_millis(as_of)
        self._update({"entity": "PARTNER", "id": partner.org_id}, sets, removes, {"created": first_seen}, as_of)
        with self._lock:
            self._partners = None

    def upsert_customer(self, customer: Customer, as_of: int | None = None) -> None:
        self._put(
            {
                "entity": f"CUSTOMER#{customer.partner_org_id}",
                "id": customer.org_id,
                "externalId": customer.external_id,
                "internal": customer.internal,
                "name": customer.name or None,
            },
            as_of,
        )

    def upsert_location(self, location: Location, as_of: int | None = None) -> None:
        self._put(
            {
                "entity": f"{LOCATION_ENTITY}{location.partner_org_id}",
                "id": location_item_id(location.customer_org_id, location.location_id),
                "name": location.name,
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
        partners = [_partner(item) for item in self._query("PARTNER")]
        with self._lock:
            self._partners = (self._clock(), partners)
        return partners

    def customers_of(
        self, partner_org_ids: Iterable[str], customers_from: str | None = None, customers_before: str | None = None
    ) -> list[Customer]:
        """Customers of the partners, optionally only ids in [customers_from, customers_before)
        (a shard reads just its range: a key-range query, not the whole list)."""
        customers: list[Customer] = []
        locations: list[Location] = []
        for partner_org_id in partner_org_ids:
            customers.extend(
                _customer(item, partner_org_id)
                for item in self._query(f"CUSTOMER#{partner_org_id}", customers_from, customers_before)
            )
            # a partner's locations are few beside its usage: read whole, kept for the range's customers
            locations.extend(
                _location(item, partner_org_id) for item in self._query(f"{LOCATION_ENTITY}{partner_org_id}")
            )
        return sorted(with_locations(customers, locations), key=lambda customer: customer.org_id)

    def skus(self) -> list[Sku]:
        return [_sku(item) for item in self._query("SKU")]

    # ---- the snapshot's bookkeeping (adapters/directory_snapshot.py) ----------------------

    def state(self) -> DirectoryState:
        """The directory's version and the published snapshot's: one strongly consistent Query."""
        page = self._db.query(
            TableName=self._table,
            KeyConditionExpression="entity = :e",
            ExpressionAttributeValues={":e": {"S": META_ENTITY}},
            ConsistentRead=True,
        )
        items = {values["id"]: values for values in map(from_item, page.get("Items", []))}
        version, snapshot = items.get(VERSION_ID, {}), items.get(SNAPSHOT_ID, {})
        return DirectoryState(
            int(version.get("version", 0)),
            int(snapshot["version"]) if "version" in snapshot else None,
            snapshot.get("key"),
        )

    def publish_snapshot(self, version: int, key: str) -> bool:
        """Point at the snapshot of `version`, unless a newer one is published (False then)."""
        return conditionally(
            self._db.put_item,
            TableName=self._table,
            Item=to_item({"entity": META_ENTITY, "id": SNAPSHOT_ID, "version": version, "key": key}),
            ConditionExpression="attribute_not_exists(version) OR version <= :v",
            ExpressionAttributeValues=to_item({":v": version}),
        )

    def read_all(self) -> DirectoryIndex:
        """Every partner, customer and SKU: one strongly consistent, paged Scan (a handful of 1 MB
        pages for 20 000 customers), never one read per customer. Read after `state()`, it holds
        at least every upsert that version counts."""
        partners: list[Partner] = []
        customers: list[Customer] = []
        skus: list[Sku] = []
        locations: list[Location] = []
        arguments: dict[str, Any] = {"TableName": self._table, "ConsistentRead": True}
        while True:
            page = self._db.scan(**arguments)
            for item in page.get("Items", []):
                values = from_item(item)
                entity = values["entity"]
                if entity == "PARTNER":
                    partners.append(_partner(values))
                elif entity == "SKU":
                    skus.append(_sku(values))
                elif entity.startswith("CUSTOMER#"):
                    customers.append(_customer(values, entity.removeprefix("CUSTOMER#")))
                elif entity.startswith(LOCATION_ENTITY):
                    locations.append(_location(values, entity.removeprefix(LOCATION_ENTITY)))
            if "LastEvaluatedKey" not in page:
                return DirectoryIndex.of(partners, with_locations(customers, locations), skus)
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _update(
        self,
        key: dict[str, str],
        sets: dict[str, Any],
        removes: list[str],
        unless_stored: dict[str, Any],
        as_of: int | None,
    ) -> None:
        """`_put`'s rules for an upsert that keeps some stored attributes: set `sets`, remove
        `removes`, set each of `unless_stored` (when not None) only where the item has none."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        assignments = []
        for position, (name, value) in enumerate([*sets.items(), *(("asOf", as_of),)]):
            if value is None:
                continue
            names[f"#s{position}"], values[f":s{position}"] = name, value
            assignments.append(f"#s{position} = :s{position}")
        for position, (name, value) in enumerate(unless_stored.items()):
            if value is not None:
                names[f"#k{position}"], values[f":k{position}"] = name, value
                assignments.append(f"#k{position} = if_not_exists(#k{position}, :k{position})")
        for position, name in enumerate(removes):
            names[f"#r{position}"] = name
        update = "SET " + ", ".join(assignments)
        if removes:
            update += " REMOVE " + ", ".join(f"#r{position}" for position in range(len(removes)))
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "Key": to_item(key),
            "UpdateExpression": update,
            "ExpressionAttributeNames": names,
        }
        if as_of is not None:
            names["#asOf"] = "asOf"
            values[":t"] = as_of
            arguments["ConditionExpression"] = "attribute_not_exists(#asOf) OR #asOf <= :t"
        arguments["ExpressionAttributeValues"] = to_item(values)
        if not conditionally(self._db.update_item, **arguments):
            return  # a newer upsert is stored, and stays
        self._bump_version()

    def _put(self, values: dict[str, Any], as_of: int | None) -> None:
        """Write an upsert; with `as_of` (event time) an older upsert never overwrites a newer one.
        A write that happened then adds 1 to the directory's version, after the write, so a
        snapshot built from a Scan after reading version V holds every change V counts. A crash
        between the two leaves the version behind until the upsert is applied again, which its
        redelivery does (ingestion applies a chunk's directory events on every delivery)."""
        if as_of is None:
            self._db.put_item(TableName=self._table, Item=to_item(values))
        elif not conditionally(  # False: a newer upsert is stored, and stays
            self._db.put_item,
            TableName=self._table,
            Item=to_item({**values, "asOf": as_of}),
            ConditionExpression="attribute_not_exists(asOf) OR asOf <= :t",
            ExpressionAttributeValues=to_item({":t": as_of}),
        ):
            return
        self._bump_version()

    def _bump_version(self) -> None:
        self._db.update_item(
            TableName=self._table,
            Key=to_item({"entity": META_ENTITY, "id": VERSION_ID}),
            UpdateExpression="ADD version :one",
            ExpressionAttributeValues=to_item({":one": 1}),
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


def _partner(values: dict[str, Any]) -> Partner:
    created = values.get("created")
    if created is None and values.get("asOf") is not None:  # stored before `created` was kept
        created = epoch_millis(int(values["asOf"]))
    return Partner(
        values["id"],
        values.get("name", ""),
        values.get("parentPartnerOrgId"),
        values.get("subscriptionId"),
        values.get("provisioningState"),
        created,
        values.get("billingStartDate"),
    )


def _customer(values: dict[str, Any], partner_org_id: str) -> Customer:
    return Customer(
        values["id"], partner_org_id, values.get("externalId", ""), bool(values.get("internal")), values.get("name", "")
    )


def location_item_id(customer_org_id: str, location_id: str) -> str:
    """A location item's sort key: its customer, then the location (NUL between: ids hold none)."""
    return f"{customer_org_id}\x00{location_id}"


def _location(values: dict[str, Any], partner_org_id: str) -> Location:
    customer_org_id, _, location_id = values["id"].partition("\x00")
    return Location(partner_org_id, customer_org_id, location_id, values.get("name", ""))


def _sku(values: dict[str, Any]) -> Sku:
    return Sku(values["id"], values.get("serviceName", ""), values.get("description", ""))
