"""The usage rollup beside the lake (DESIGN §12): what the console's read API sums instead of the lake.

Rating writes it with each day version, one pair of small objects per partner org:

- ``rollup/date=D/v=N/<org>.sums.parquet``: (customer, location, subscription, sku) → units
  (micro-units, exact) and subjects (how many subjects had units that day);
- ``rollup/date=D/v=N/<org>.subjects.parquet``: the distinct (customer, subject) pairs with units
  that day, so that a period's distinct users are counted exactly, not estimated;
- ``rollup/date=D/v=N/_rollup.json``: every org's objects, rows and SHA-256. A restatement writes
  only the orgs whose rollup changed and names the older version's objects for the others, as the
  lake does.

A whole calendar month is summed once per org and per set of day versions it was built from, and
kept as ``rollup/months/<YYYY-MM>/<org>/<digest of its day versions>.{sums,subjects}.parquet`` (and
in memory): a restated day changes the digest, so a stale month is never read, and a 12-month series
reads 12 small objects. A day version published before rollups existed is rolled up from its lake
objects once, on first read, and kept like any other.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from chalicelib.adapters.aws import is_missing_object
from chalicelib.adapters.memo import Lru
from chalicelib.domain.errors import LakeIncomplete
from chalicelib.domain.events import KEY_FIELDS
from chalicelib.domain.usage_view import RollupRow
from chalicelib.services.ports import DayWritten

ROLLUP_KEYS = ("customer_org_id", "location_id", "subscription_id", "sku")
SUMS_SCHEMA = pa.schema(
    [
        ("partner_org_id", pa.string()),
        *((name, pa.string()) for name in ROLLUP_KEYS),
        ("units", pa.int64()),
        ("subjects", pa.int64()),
    ]
)
SUBJECTS_SCHEMA = pa.schema(
    [("partner_org_id", pa.string()), ("customer_org_id", pa.string()), ("subject", pa.string())]
)
# Each key an event touched that day: one row per (deduplicated) event, in rating's replay order,
# with the key's units that day: what explain and a customer's users walk through the days.
TOUCHED_SCHEMA = pa.schema(
    [
        *((name, pa.string()) for name in KEY_FIELDS),
        ("units", pa.int64()),
        ("occurred_at", pa.int64()),
        ("event_id", pa.string()),
        ("event_type", pa.string()),
    ]
)
MANIFEST = "_rollup.json"
_THREADS = 8
_CACHE_ENTRIES = 512
OWNER_LOOKBACK_DAYS = 31  # how many of a period's latest days name a customer unknown to the directory


def rollup_prefix(day: date, version: int) -> str:
    return f"rollup/date={day.isoformat()}/v={version}/"


def _org_id(org: str) -> str:
    return "o-" + hashlib.sha256(org.encode()).hexdigest()[:24]


def subject_column(usage: pa.Table) -> pa.ChunkedArray:
    """A subject as one string: its type and its id (a USER's userId, a WORKSPACE's workspaceId)."""
    is_user = pc.equal(usage["subject_type"], "USER")
    ident = pc.if_else(is_user, usage["user_id"], usage["workspace_id"])
    return pc.binary_join_element_wise(usage["subject_type"], ident, ":")


def subject_text(subject_type: str, subject_id: str) -> str:
    return f"{subject_type}:{subject_id}"


def rollup_of(usage: pa.Table) -> tuple[pa.Table, pa.Table]:
    """A day's usage rows (the lake's fields) → (sums, subjects), sorted by partner."""
    usage = usage.filter(pc.greater(usage["units"], 0))
    keys = ["partner_org_id", *ROLLUP_KEYS]
    sums = (
        usage.select([*keys, "units"])
        .group_by(keys, use_threads=False)
        .aggregate([("units", "sum"), ("units", "count")])
        .rename_columns([*keys, "units", "subjects"])
    )
    sums = sums.sort_by([(name, "ascending") for name in keys]).cast(SUMS_SCHEMA)
    pairs = pa.table(
        {
            "partner_org_id": usage["partner_org_id"],
            "customer_org_id": usage["customer_org_id"],
            "subject": subject_column(usage),
        }
    )
    subjects = pairs.group_by(list(SUBJECTS_SCHEMA.names), use_threads=False).aggregate([])
    subjects = subjects.sort_by([(name, "ascending") for name in SUBJECTS_SCHEMA.names]).cast(SUBJECTS_SCHEMA)
    return sums, subjects


def touched_of(usage: pa.Table, events: pa.Table | None) -> pa.Table:
    """The day's assignment events (each eventId once) with their key's units that day, sorted by
    partner, customer, key, then replay order (time, eventId)."""
    if events is None or events.num_rows == 0:
        return TOUCHED_SCHEMA.empty_table()
    ids = events["event_id"]
    first = pc.index_in(pc.unique(ids), value_set=ids)  # the first row of each eventId
    events = events.take(first).select([*KEY_FIELDS, "occurred_at", "event_id", "event_type"])
    units = (
        usage.select([*KEY_FIELDS, "units"]).group_by(list(KEY_FIELDS), use_threads=False).aggregate([("units", "sum")])
    )
    joined = events.join(units.rename_columns([*KEY_FIELDS, "units"]), keys=list(KEY_FIELDS), join_type="left outer")
    joined = joined.set_column(joined.schema.get_field_index("units"), "units", pc.fill_null(joined["units"], 0))
    order = [(name, "ascending") for name in (*KEY_FIELDS, "occurred_at", "event_id")]
    return joined.select(TOUCHED_SCHEMA.names).cast(TOUCHED_SCHEMA).sort_by(order)


def by_org(table: pa.Table) -> dict[str, pa.Table]:
    """A table sorted by partner_org_id → its rows per org."""
    if table.num_rows == 0:
        return {}
    values, counts = pc.value_counts(table["partner_org_id"]).flatten()
    pieces: dict[str, pa.Table] = {}
    start = 0
    for org, count in sorted(zip(values.to_pylist(), counts.to_pylist(), strict=True)):
        pieces[org] = table.slice(start, count)
        start += count
    return pieces


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", write_statistics=False)
    return sink.getvalue()


@dataclass(frozen=True)
class RollupTables:
    """Sums and subjects of some orgs over some days (one day, a month, or their union)."""

    sums: pa.Table
    subjects: pa.Table
    distinct: bool = True  # each (customer, subject) pair once: one day, one month, or orgs apart

    @classmethod
    def empty(cls) -> RollupTables:
        return cls(SUMS_SCHEMA.empty_table(), SUBJECTS_SCHEMA.empty_table())

    @classmethod
    def combined(cls, parts: Iterable[RollupTables], disjoint: bool = False) -> RollupTables:
        """The parts side by side; `disjoint`: they hold different customers (orgs apart)."""
        parts = list(parts)
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(
            pa.concat_tables([part.sums for part in parts]),
            pa.concat_tables([part.subjects for part in parts]),
            disjoint and all(part.distinct for part in parts),
        )

    def summed(self) -> RollupTables:
        """Equal keys summed, subjects distinct (a period made of several days or months)."""
        keys = ["partner_org_id", *ROLLUP_KEYS]
        sums = (
            self.sums.group_by(keys, use_threads=False)
            .aggregate([("units", "sum"), ("subjects", "sum")])
            .rename_columns([*keys, "units", "subjects"])
            .sort_by([(name, "ascending") for name in keys])
            .cast(SUMS_SCHEMA)
        )
        subjects = self.subjects.group_by(list(SUBJECTS_SCHEMA.names), use_threads=False).aggregate([])
        return RollupTables(sums, subjects.cast(SUBJECTS_SCHEMA))

    def _kept(self, table: pa.Table, excluded: Iterable[str], only: Iterable[str] | None) -> pa.Table:
        if only is not None:
            table = table.filter(pc.is_in(table["customer_org_id"], value_set=pa.array(sorted(only), pa.string())))
        excluded = sorted(excluded)
        if excluded:
            table = table.filter(
                pc.invert(pc.is_in(table["customer_org_id"], value_set=pa.array(excluded, pa.string())))
            )
        return table

    def rows(
        self, excluded: Iterable[str] = (), only: Iterable[str] | None = None, by: Iterable[str] = ROLLUP_KEYS
    ) -> list[RollupRow]:
        """(customer, location, subscription, sku, units) rows with units, the customers
        `excluded` left out, of the customers `only` when given; summed over the fields not in
        `by` (those are "" in the rows), in Arrow, so a partner's thousands of rows stay cheap."""
        by = [name for name in ROLLUP_KEYS if name in set(by)]
        table = self._kept(self.sums, excluded, only)
        table = table.filter(pc.greater(table["units"], 0))
        summed = table.group_by(by, use_threads=False).aggregate([("units", "sum")]).rename_columns([*by, "units"])
        blank = [""] * summed.num_rows
        columns = [summed[name].to_pylist() if name in by else blank for name in ROLLUP_KEYS]
        return list(zip(*columns, summed["units"].to_pylist(), strict=True))

    def customer_count(self, excluded: Iterable[str] = (), only: Iterable[str] | None = None) -> int:
        """Customers with units."""
        table = self._kept(self.sums, excluded, only)
        table = table.filter(pc.greater(table["units"], 0))
        return int(pc.count_distinct(table["customer_org_id"]).as_py())

    def subject_count(self, excluded: Iterable[str] = (), only: Iterable[str] | None = None) -> int:
        """Distinct (customer, subject) pairs with units (a subject is counted once per period)."""
        table = self._kept(self.subjects, excluded, only).select(["customer_org_id", "subject"])
        if self.distinct:
            return table.num_rows
        return table.group_by(["customer_org_id", "subject"], use_threads=False).aggregate([]).num_rows

    def customers_of_subject(self, subject_type: str, subject_id: str) -> list[str]:
        found = self.subjects.filter(pc.equal(self.subjects["subject"], subject_text(subject_type, subject_id)))
        return sorted(set(found["customer_org_id"].to_pylist()))


class S3UsageRollups:
    """The rollup objects in the lake bucket (`write_day` for rating, the reads for the read API).
    `day_usage(day, version)` (the lake's whole day) and `day_events(day)` (its assignment events)
    roll up a day version written before rollups existed."""

    def __init__(self, s3: Any, bucket: str, day_usage: Any = None, day_events: Any = None) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._day_usage = day_usage
        self._day_events = day_events
        self._manifests: dict[str, dict[str, dict[str, Any]]] = {}
        self._cache: Lru[pa.Table] = Lru(_CACHE_ENTRIES)
        self._lock = threading.Lock()

    # ---- writing (rating) ---------------------------------------------------------------

    def write_day(
        self,
        day: date,
        version: int,
        usage: pa.Table,
        previous_version: int | None = None,
        events: pa.Table | None = None,
    ) -> DayWritten:
        """The rollup of a day version's usage rows (and of the assignment events rating replayed
        for it); an org whose rollup equals the previous version's keeps its objects."""
        previous = self._manifest(rollup_prefix(day, previous_version)) if previous_version else None
        sums, subjects = rollup_of(usage)
        return self._write(rollup_prefix(day, version), sums, subjects, touched_of(usage, events), previous or {})

    def _write(
        self,
        prefix: str,
        sums: pa.Table,
        subjects: pa.Table,
        touched: pa.Table,
        previous: Mapping[str, dict[str, Any]],
    ) -> DayWritten:
        sums_of, subjects_of, touched_of_org = by_org(sums), by_org(subjects), by_org(touched)

        def write(org: str) -> tuple[dict[str, Any], int]:
            entry: dict[str, Any] = {"partnerOrgId": org}
            written = 0
            for kind, table in (
                ("sums", sums_of.get(org, SUMS_SCHEMA.empty_table())),
                ("subjects", subjects_of.get(org, SUBJECTS_SCHEMA.empty_table())),
                ("touched", touched_of_org.get(org, TOUCHED_SCHEMA.empty_table())),
            ):
                body = _parquet(table)
                digest = hashlib.sha256(body).hexdigest()
                old = previous.get(org, {}).get(kind)
                if old is not None and old["sha256"] == digest:
                    entry[kind] = old
                    continue
                key = f"{prefix}{_org_id(org)}.{kind}.parquet"
                self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ServerSideEncryption="AES256")
                entry[kind] = {"key": key, "rows": table.num_rows, "sha256": digest}
                written += len(body)
            return entry, written

        orgs = sorted(set(sums_of) | set(subjects_of) | set(touched_of_org))
        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            entries = list(pool.map(write, orgs))
        body = json.dumps({"orgs": [entry for entry, _ in entries]}, separators=(",", ":")).encode()
        self._s3.put_object(Bucket=self._bucket, Key=prefix + MANIFEST, Body=body, ServerSideEncryption="AES256")
        return DayWritten(
            rows=sums.num_rows,
            partitions=len(entries),
            partitions_written=sum(1 for _, size in entries if size),
            bytes_written=sum(size for _, size in entries) + len(body),
        )

    # ---- reading (the read API) ---------------------------------------------------------

    def day(self, day: date, version: int, org_ids: Iterable[str]) -> RollupTables:
        """The rollup of one day version, of the orgs `org_ids`."""
        manifest = self._manifest(rollup_prefix(day, version))
        if manifest is None:
            manifest = self._roll_up_lake_day(day, version)
        parts = [
            RollupTables(self._table(entry["sums"], SUMS_SCHEMA), self._table(entry["subjects"], SUBJECTS_SCHEMA))
            for org in sorted(set(org_ids))
            if (entry := manifest.get(org)) is not None
        ]
        return RollupTables.combined(parts, disjoint=True)

    def days(self, day_versions: Mapping[date, int], org_ids: Iterable[str]) -> RollupTables:
        """The rollups of several day versions, concatenated (not summed), read concurrently."""
        orgs = sorted(set(org_ids))
        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            parts = list(pool.map(lambda item: self.day(item[0], item[1], orgs), sorted(day_versions.items())))
        return RollupTables.combined(parts)

    def month(self, month: str, day_versions: Mapping[date, int], org_ids: Iterable[str]) -> RollupTables:
        """A calendar month (`YYYY-MM`) summed, of the orgs `org_ids`, from its published day
        versions `day_versions`: each org's sum is kept per set of versions, so it is computed
        once and a restated day makes a new one."""
        digest = hashlib.sha256(
            json.dumps(sorted((day.isoformat(), version) for day, version in day_versions.items())).encode()
        ).hexdigest()[:32]

        def of_org(org: str) -> RollupTables:
            base = f"rollup/months/{month}/{_org_id(org)}/{digest}"
            sums, subjects = self._cached(base + ".sums.parquet"), self._cached(base + ".subjects.parquet")
            if sums is not None and subjects is not None:
                return RollupTables(sums, subjects)
            summed = self.days(day_versions, [org]).summed()
            for key, table in ((base + ".sums.parquet", summed.sums), (base + ".subjects.parquet", summed.subjects)):
                self._s3.put_object(Bucket=self._bucket, Key=key, Body=_parquet(table), ServerSideEncryption="AES256")
                self._remember(key, table)
            return summed

        orgs = sorted(set(org_ids))
        if len(orgs) == 1:
            return of_org(orgs[0])
        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            return RollupTables.combined(list(pool.map(of_org, orgs)), disjoint=True)

    def touched(self, day_versions: Mapping[date, int], org: str, customer_org_id: str) -> pa.Table:
        """One customer's touched keys of the days (their events and units), with `usage_date`."""

        def one_day(item: tuple[date, int]) -> pa.Table:
            day, version = item
            manifest = self._manifest(rollup_prefix(day, version))
            if manifest is None:
                manifest = self._roll_up_lake_day(day, version)
            entry = manifest.get(org, {}).get("touched")
            if entry is None:
                return TOUCHED_SCHEMA.empty_table().append_column("usage_date", pa.array([], pa.date32()))
            table = self._table(entry, TOUCHED_SCHEMA)
            table = table.filter(pc.equal(table["customer_org_id"], customer_org_id))
            return table.append_column("usage_date", pa.array([day] * table.num_rows, pa.date32()))

        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            tables = list(pool.map(one_day, sorted(day_versions.items())))
        if not tables:
            return TOUCHED_SCHEMA.empty_table().append_column("usage_date", pa.array([], pa.date32()))
        return pa.concat_tables(tables)

    @staticmethod
    def combined(parts: Iterable[RollupTables]) -> RollupTables:
        return RollupTables.combined(parts)

    def owner_of(self, customer_org_id: str, day_versions: Mapping[date, int], org_ids: Iterable[str]) -> str | None:
        """The org of `org_ids` whose rollup names the customer, in the latest days of
        `day_versions` (a customer the directory does not know yet); None: none does."""
        orgs = sorted(set(org_ids))
        for day, version in sorted(day_versions.items(), reverse=True)[:OWNER_LOOKBACK_DAYS]:
            sums = self.day(day, version, orgs).sums
            found = sums.filter(pc.equal(sums["customer_org_id"], customer_org_id))
            if found.num_rows:
                return str(found["partner_org_id"][0].as_py())
        return None

    # ---- internals ----------------------------------------------------------------------

    def _roll_up_lake_day(self, day: date, version: int) -> dict[str, dict[str, Any]]:
        if self._day_usage is None:
            raise LakeIncomplete(f"the rollup of {day.isoformat()} (version {version}) is missing")
        usage = self._day_usage(day, version)
        sums, subjects = rollup_of(usage)
        events = self._day_events(day) if self._day_events is not None else None
        self._write(rollup_prefix(day, version), sums, subjects, touched_of(usage, events), {})
        manifest = self._manifest(rollup_prefix(day, version))
        assert manifest is not None
        return manifest

    def _manifest(self, prefix: str) -> dict[str, dict[str, Any]] | None:
        with self._lock:
            cached = self._manifests.get(prefix)
        if cached is not None:
            return cached
        body = self._get(prefix + MANIFEST)
        if body is None:
            return None
        manifest = {entry["partnerOrgId"]: entry for entry in json.loads(body)["orgs"]}
        with self._lock:
            if len(self._manifests) >= 4 * _CACHE_ENTRIES:
                self._manifests.clear()
            self._manifests[prefix] = manifest
        return manifest

    def _table(self, entry: Mapping[str, Any], schema: pa.Schema) -> pa.Table:
        table = self._cached(entry["key"])
        if table is None:
            raise LakeIncomplete(f"the rollup object {entry['key']} is missing")
        if table.num_rows != entry["rows"]:
            raise LakeIncomplete(f"{entry['key']} holds {table.num_rows} rows, its manifest recorded {entry['rows']}")
        return table.cast(schema)

    def _cached(self, key: str) -> pa.Table | None:
        """An immutable object's table, from memory or S3 (None: no such object)."""
        table = self._cache.get(key)
        if table is not None:
            return table
        body = self._get(key)
        if body is None:
            return None
        table = pq.read_table(pa.BufferReader(body))
        self._remember(key, table)
        return table

    def _remember(self, key: str, table: pa.Table) -> None:
        self._cache.put(key, table)

    def _get(self, key: str) -> bytes | None:
        try:
            body: bytes = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            return body
        except ClientError as error:
            if is_missing_object(error):
                return None
            raise
