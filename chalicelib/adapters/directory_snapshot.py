"""The directory as one object per version in the lake bucket, what a report reads it from
(ARCHITECTURE.md §5.1, "Directory from a snapshot").

``directory/v=<version, 12 digits>.parquet``: every partner, customer and SKU of the directory
at that version (`DirectoryState.version`, the counter every upsert adds 1 to), one row each
(`SCHEMA`), zstd, about 6 bytes a customer. A version's object is written once
(``If-None-Match: *``), so one version has one content; the ``#DIRECTORY/snapshot`` item of the
directory table points at the newest, moved only forward (`DynamoDirectory.publish_snapshot`).

`SnapshotDirectory.pin` gives the version of a snapshot at least as new as the directory
(one consistent Query of the bookkeeping; rebuilt from a Scan of the table when behind), and
`at(version)` that snapshot in memory (`DirectoryIndex`), loaded once per process and kept.
A missing or unreadable object is rebuilt, never read as an empty directory; an empty directory
is never published nor kept.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from chalicelib.adapters.aws import is_missing_object, is_precondition_failed
from chalicelib.domain.directory import Customer, Location, Partner, Sku, with_locations
from chalicelib.domain.directory_index import DirectoryIndex

from .dynamo_directory import DirectoryState

PREFIX = "directory/"
FORMAT = "1"
SCHEMA = pa.schema(
    [
        ("kind", pa.string()),  # PARTNER | CUSTOMER | SKU | LOCATION
        ("id", pa.string()),  # org id, customer org id, sku, location id
        ("name", pa.string()),  # partner name; customer externalId; sku serviceName; location name
        ("owner", pa.string()),  # partner's parent; customer's partner; location's customer
        ("description", pa.string()),  # sku description; customer name
        ("internal", pa.bool_()),  # customer
    ],
    metadata={"wbr.directory.format": FORMAT},
)


class EmptyDirectory(RuntimeError):
    """The directory holds no partner: nothing to name a report from (never taken as the truth)."""


class UnreadableSnapshot(Exception):
    """A snapshot object that is missing, or is not the snapshot its key names."""


class SnapshotSource(Protocol):
    """The directory table as the snapshot reads it (`DynamoDirectory`)."""

    def state(self) -> DirectoryState: ...

    def read_all(self) -> DirectoryIndex: ...

    def publish_snapshot(self, version: int, key: str) -> bool: ...


def snapshot_key(version: int) -> str:
    return f"{PREFIX}v={version:012d}.parquet"


def encode(index: DirectoryIndex, version: int) -> bytes:
    """The snapshot object of `index` at `version`."""
    rows: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}

    def add(kind: str, id_: str, name: str, owner: str | None, description: str | None, internal: bool | None) -> None:
        for column, value in zip(SCHEMA.names, (kind, id_, name, owner, description, internal), strict=True):
            rows[column].append(value)

    for partner in index.partner_list:
        add("PARTNER", partner.org_id, partner.name, partner.parent_org_id, None, None)
    locations = 0
    for customer in index.customers():
        add(
            "CUSTOMER",
            customer.org_id,
            customer.external_id,
            customer.partner_org_id,
            customer.name or None,
            customer.internal,
        )
    for customer in index.customers():  # after every customer: a location names its customer's
        for location_id, location_name in customer.locations:
            add("LOCATION", location_id, location_name, customer.org_id, customer.partner_org_id, None)
            locations += 1
    for sku in index.sku_list:
        add("SKU", sku.sku, sku.service_name, None, sku.description, None)
    counts = {"partners": len(index.partner_list), "customers": index.customer_count, "skus": len(index.sku_list)}
    schema = SCHEMA.with_metadata(
        {
            **(SCHEMA.metadata or {}),
            b"wbr.directory.version": str(version),
            b"wbr.directory.counts": json.dumps(counts),
            # apart from `counts`, which a reader of the format before locations compares whole
            b"wbr.directory.locations": str(locations),
        }
    )
    sink = io.BytesIO()
    pq.write_table(pa.table(rows, schema=schema), sink, compression="zstd", use_dictionary=["kind", "owner"])
    return sink.getvalue()


def decode(body: bytes, version: int) -> DirectoryIndex:
    """The snapshot `body` holds; UnreadableSnapshot unless it is a whole, non-empty snapshot of
    exactly `version`."""
    try:
        table = pq.read_table(io.BytesIO(body))
        metadata = table.schema.metadata or {}
        if metadata.get(b"wbr.directory.format") != FORMAT.encode():
            raise UnreadableSnapshot("not a directory snapshot")
        if int(metadata[b"wbr.directory.version"]) != version:
            raise UnreadableSnapshot(f"holds version {metadata[b'wbr.directory.version'].decode()}, not {version}")
        counts = json.loads(metadata[b"wbr.directory.counts"])
        kinds, ids, names, owners, descriptions, internals = (table.column(name).to_pylist() for name in SCHEMA.names)
    except UnreadableSnapshot:
        raise
    except Exception as error:  # truncated, garbled, another schema
        raise UnreadableSnapshot(f"{type(error).__name__}: {error}") from error
    partners: list[Partner] = []
    customers: list[Customer] = []
    skus: list[Sku] = []
    locations: list[Location] = []
    for kind, id_, name, owner, description, internal in zip(
        kinds, ids, names, owners, descriptions, internals, strict=True
    ):
        if kind == "CUSTOMER":
            customers.append(Customer(id_, owner, name or "", bool(internal), description or ""))
        elif kind == "PARTNER":
            partners.append(Partner(id_, name or "", owner))
        elif kind == "SKU":
            skus.append(Sku(id_, name or "", description or ""))
        elif kind == "LOCATION":
            locations.append(Location(description or "", owner or "", id_, name or ""))
    found = {"partners": len(partners), "customers": len(customers), "skus": len(skus)}
    if found != counts or len(locations) != int(metadata.get(b"wbr.directory.locations", b"0")):
        raise UnreadableSnapshot(f"holds {found} and {len(locations)} locations, its metadata says otherwise")
    index = DirectoryIndex.of(partners, with_locations(customers, locations), skus)
    if index.is_empty:
        raise UnreadableSnapshot("holds no partner (an empty directory is never published)")
    return index


class SnapshotDirectory:
    """The `Directory` port (the newest snapshot) and the `DirectorySnapshots` port (a pinned
    one), from the lake bucket's snapshot objects, rebuilt from `source` when behind."""

    def __init__(
        self,
        source: SnapshotSource,
        s3: Any,
        bucket: str,
        keep_versions: int = 2,
        logger: logging.Logger | Any | None = None,
    ) -> None:
        self._source = source
        self._s3 = s3
        self._bucket = bucket
        self._keep = max(keep_versions, 1)
        self._logger = logger or logging.getLogger(__name__)
        self._loaded: OrderedDict[int, DirectoryIndex] = OrderedDict()  # newest last
        self._rebuilt: dict[int, int] = {}  # an unreadable version → the version rebuilt for it
        self._lock = threading.RLock()  # one load or rebuild at a time per process
        self.reads = 0  # snapshot objects fetched (tests, benchmarks)
        self.rebuilds = 0  # snapshots built from the table

    # ---- the DirectorySnapshots port ------------------------------------------------------

    def pin(self) -> int:
        """The version of a published snapshot at least as new as the directory now, rebuilt
        first when behind (or unreadable). EmptyDirectory when the directory has no partner."""
        state = self._source.state()
        if state.snapshot_is_current and state.snapshot_version is not None:
            try:
                self._load(state.snapshot_version)
                return state.snapshot_version
            except UnreadableSnapshot as error:
                self._warn(state.snapshot_version, error)
        return self._rebuild(state.version)

    def at(self, version: int) -> DirectoryIndex:
        """The snapshot of `version` (as pinned); if its object is lost or unreadable, a snapshot
        rebuilt now, which is newer: never older than the pinned one, never empty."""
        try:
            return self._load(version)
        except UnreadableSnapshot as error:
            self._warn(version, error)
        with self._lock:
            rebuilt = self._rebuilt.get(version)
            if rebuilt is None:
                rebuilt = self._rebuild(version)
                self._rebuilt[version] = rebuilt
        return self._load(rebuilt)

    def refresh(self) -> int | None:
        """After directory upserts (`wbr ingest`): publish a current snapshot now, so the next
        report's Plan finds it ready; None for a directory without partners."""
        try:
            return self.pin()
        except EmptyDirectory:
            return None

    # ---- the Directory port: the newest snapshot ------------------------------------------

    def partners(self) -> list[Partner]:
        return self.at(self.pin()).partners()

    def customers_of(
        self, partner_org_ids: Iterable[str], customers_from: str | None = None, customers_before: str | None = None
    ) -> list[Customer]:
        return self.at(self.pin()).customers_of(partner_org_ids, customers_from, customers_before)

    def skus(self) -> list[Sku]:
        return self.at(self.pin()).skus()

    # ---- loading and building -------------------------------------------------------------

    def _load(self, version: int) -> DirectoryIndex:
        with self._lock:
            index = self._loaded.get(version)
            if index is not None:
                self._loaded.move_to_end(version)
                return index
            index = decode(self._get(version), version)
            self._keep_loaded(version, index)
            return index

    def _keep_loaded(self, version: int, index: DirectoryIndex) -> None:
        if index.is_empty:
            return  # never the truth
        self._loaded[version] = index
        self._loaded.move_to_end(version)
        while len(self._loaded) > self._keep:
            self._loaded.popitem(last=False)

    def _get(self, version: int) -> bytes:
        self.reads += 1
        try:
            body: bytes = self._s3.get_object(Bucket=self._bucket, Key=snapshot_key(version))["Body"].read()
            return body
        except ClientError as error:
            if is_missing_object(error):
                raise UnreadableSnapshot("missing") from None
            raise

    def _rebuild(self, at_least: int) -> int:
        """Build and publish a snapshot of the table as it is now (its version ≥ `at_least`, the
        version read before); the version published."""
        with self._lock:
            state = self._source.state()  # another thread or process may have built it meanwhile
            current = state.snapshot_version
            if state.snapshot_is_current and current is not None and current >= at_least:
                try:
                    self._load(current)
                    return current
                except UnreadableSnapshot:
                    pass  # the one this process found unreadable: rebuilt below
            version = state.version
            index = self._source.read_all()  # after reading `version`: holds at least it
            if index.is_empty:
                raise EmptyDirectory("the directory holds no partner: no snapshot is published")
            self.rebuilds += 1
            body = encode(index, version)
            key = snapshot_key(version)
            if not self._put(key, body, create_only=True):
                # Another rebuilder wrote this version first: its content stands (one version,
                # one content), unless it is unreadable, which ours replaces.
                try:
                    self._loaded.pop(version, None)
                    index = decode(self._get(version), version)
                except UnreadableSnapshot:
                    self._put(key, body, create_only=False)
            self._source.publish_snapshot(version, key)  # False: a newer one is out, and stays
            self._keep_loaded(version, index)
            self._logger.info(
                "directory snapshot published",
                extra={"directory_version": version, "customers": index.customer_count, "bytes": len(body)},
            )
            return version

    def _put(self, key: str, body: bytes, create_only: bool) -> bool:
        condition = {"IfNoneMatch": "*"} if create_only else {}
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ServerSideEncryption="AES256",
                ContentType="application/vnd.apache.parquet",
                **condition,
            )
            return True
        except ClientError as error:
            if create_only and is_precondition_failed(error):
                return False
            raise

    def _warn(self, version: int, error: Exception) -> None:
        self._logger.warning(
            "directory snapshot unreadable: rebuilt", extra={"directory_version": version, "reason": str(error)}
        )
