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
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from chalicelib.adapters.aws import is_missing_object
from chalicelib.adapters.memo import Lru
from chalicelib.adapters.rollup_tables import (
    SUBJECTS_SCHEMA,
    SUMS_SCHEMA,
    TOUCHED_SCHEMA,
    RollupTables,
    by_org,
    rollup_of,
    touched_of,
)
from chalicelib.domain.errors import LakeIncomplete
from chalicelib.services.ports import DayWritten

MANIFEST = "_rollup.json"
_THREADS = 8
_CACHE_ENTRIES = 512
OWNER_LOOKBACK_DAYS = 31  # how many of a period's latest days name a customer unknown to the directory


def rollup_prefix(day: date, version: int) -> str:
    return f"rollup/date={day.isoformat()}/v={version}/"


def _org_id(org: str) -> str:
    return "o-" + hashlib.sha256(org.encode()).hexdigest()[:24]


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", write_statistics=False)
    return sink.getvalue()


class S3UsageRollups:
    """The rollup objects in the lake bucket (`write_day` for rating, the reads for the read API).
    `day_usage(day, version)` (the lake's whole day) and `day_events(day)` (its assignment events)
    roll up a day version written before rollups existed."""

    def __init__(self, s3: Any, bucket: str, day_usage: Any = None, day_events: Any = None) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._day_usage = day_usage
        self._day_events = day_events
        self._manifests: Lru[dict[str, dict[str, Any]]] = Lru(4 * _CACHE_ENTRIES)
        self._cache: Lru[pa.Table] = Lru(_CACHE_ENTRIES)

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

    def period(
        self, months: Mapping[str, Mapping[date, int]], days: Mapping[date, int], org_ids: Iterable[str]
    ) -> RollupTables:
        """Whole months (`YYYY-MM` → its day versions) from their month sums, and single days,
        side by side (not summed)."""
        parts = [self.month(month, versions, org_ids) for month, versions in months.items()]
        if days:
            parts.append(self.days(days, org_ids))
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
        cached = self._manifests.get(prefix)
        if cached is not None:
            return cached
        body = self._get(prefix + MANIFEST)
        if body is None:
            return None
        return self._manifests.put(prefix, {entry["partnerOrgId"]: entry for entry in json.loads(body)["orgs"]})

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
