"""The usage lake: each day version is a set of partitions, ``usage/date=D/v=N/<partition>.parquet``.

Rows are per (partner, customer, location, subscription, sku, subject) and day, with integer
micro-units. The partitions follow the partner tree (`domain/lake_partitions.py`): each org has
its own, a large org's customers are cut into content-defined id ranges. A day version's
`_partitions.json` names every partition's object, rows and SHA-256; a restatement writes only
the partitions whose rows changed and names the older version's object for the others. The
day's closing rating state is partitioned the same way (`state/date=D/v=N/`).

A report shard reads whole objects (no ranged reads): the partitions of its orgs whose customer
range meets the shard's, fetched through boto3 (S3, the local moto server and moto's mock alike)
concurrently into a scratch folder, each checked against the row count its manifest recorded;
DuckDB's own Parquet reader aggregates them, with extension autoloading off, so nothing is ever
downloaded at run time. A day written before partitions (one `part-00000.parquet` with a counts
object beside it) is still read, whole; `wbr rate --from <first day>` rewrites such a lake in
partitions (ARCHITECTURE.md §4). Where each object is, and what a manifest names:
adapters/usage_lake_layout.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from chalicelib.adapters.aws import is_missing_object
from chalicelib.adapters.engine import STATE_SCHEMA, sql_literal, sql_literals
from chalicelib.adapters.memo import Lru
from chalicelib.adapters.usage_lake_layout import (
    LEGACY_DAY_OBJECT,
    MANIFEST,
    USAGE_SCHEMA,
    PartitionEntry,
    day_prefix,
    holding,
    holds_chosen,
    legacy_counts_key,
    manifest_entries,
    state_prefix,
)
from chalicelib.domain.errors import LakeIncomplete
from chalicelib.domain.lake_partitions import CUSTOMERS_PER_PARTITION, Partition, cut_points, overlaps
from chalicelib.domain.report_rows import USAGE_FIELDS
from chalicelib.services.ports import DayWritten, SliceFiles, UsageSlice

ROW_GROUP_SIZE = 128 * 1024
_THREADS = 8  # concurrent S3 transfers and Parquet encodings (pyarrow releases the GIL)
_CHUNK_BYTES = 1 << 20  # how a downloaded object is streamed to its file
# Row-group min/max kept for what readers prune by; per-subject ids would only bloat the footer.
STATISTICS_COLUMNS = ("usage_date", "partner_org_id", "customer_org_id", "units")
_MANIFEST_CACHE_SIZE = 4096
_CUSTOMER_STATES_KEPT = 256  # one customer's open keys of a day version: the read API's explain


class S3ParquetUsageLake:
    def __init__(self, s3: Any, bucket: str, customers_per_partition: int = CUSTOMERS_PER_PARTITION) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._customers_per_partition = customers_per_partition
        self._manifests: Lru[list[PartitionEntry]] = Lru(_MANIFEST_CACHE_SIZE)  # a version's, immutable once written
        self._customer_states: Lru[pa.Table] = Lru(_CUSTOMER_STATES_KEPT)

    # ---- writing (rating) ---------------------------------------------------------------

    def write_day(
        self,
        day: date,
        version: int,
        usage: pa.Table | list[dict[str, Any]],
        previous_version: int | None = None,
    ) -> DayWritten:
        """Write one day's rows (an Arrow table or dicts of USAGE_FIELDS) as version `version`:
        every partition whose rows differ from `previous_version`'s is a new object, the others
        are named as they were."""
        if isinstance(usage, list):
            usage = pa.Table.from_pylist(usage, schema=USAGE_SCHEMA)
        table = usage.select(USAGE_FIELDS).cast(USAGE_SCHEMA)
        previous = self._manifest(day_prefix(day, previous_version)) if previous_version else None
        return self._write_partitions(day_prefix(day, version), table, previous, statistics=True)

    def write_state(self, day: date, version: int, state: pa.Table, previous_version: int | None = None) -> DayWritten:
        table = state.select(STATE_SCHEMA.names).cast(STATE_SCHEMA)
        previous = self._manifest(state_prefix(day, previous_version)) if previous_version else None
        return self._write_partitions(state_prefix(day, version), table, previous, statistics=False)

    def _write_partitions(
        self, prefix: str, table: pa.Table, previous: list[PartitionEntry] | None, statistics: bool
    ) -> DayWritten:
        kept = {entry.partition: entry for entry in previous or []}

        def write(piece: tuple[Partition, pa.Table]) -> tuple[PartitionEntry, int]:
            partition, rows = piece
            sink = io.BytesIO()
            pq.write_table(
                rows,
                sink,
                row_group_size=ROW_GROUP_SIZE,
                compression="zstd",
                write_statistics=list(STATISTICS_COLUMNS) if statistics else False,
            )
            body = sink.getvalue()
            digest = hashlib.sha256(body).hexdigest()
            old = kept.get(partition)
            if old is not None and old.sha256 == digest and old.rows == rows.num_rows:
                return PartitionEntry(partition, old.key, rows.num_rows, digest, None), 0
            key = f"{prefix}{partition.partition_id}.parquet"
            self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ServerSideEncryption="AES256")
            return PartitionEntry(partition, key, rows.num_rows, digest, None), len(body)

        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            written = list(pool.map(write, self._partitioned(table)))
        manifest = {"rows": table.num_rows, "partitions": [entry.to_json() for entry, _ in written]}
        body = json.dumps(manifest, separators=(",", ":")).encode()
        self._s3.put_object(Bucket=self._bucket, Key=prefix + MANIFEST, Body=body, ServerSideEncryption="AES256")
        return DayWritten(
            rows=table.num_rows,
            partitions=len(written),
            partitions_written=sum(1 for _, size in written if size),
            bytes_written=sum(size for _, size in written) + len(body),
        )

    def _partitioned(self, table: pa.Table) -> list[tuple[Partition, pa.Table]]:
        """The rows cut into their partitions, keeping their order within each (the order rating
        produced them in: the previous state's, then the day's touched keys sorted), so equal
        inputs make equal bytes and a restatement recognises an unchanged partition by its hash.
        The cut is decided once per (partner, customer) pair; rows are gathered per partition in
        parallel threads."""
        if table.num_rows == 0:
            return []
        partners = pc.dictionary_encode(table["partner_org_id"]).combine_chunks()
        customers = pc.dictionary_encode(table["customer_org_id"]).combine_chunks()
        width = len(customers.dictionary)
        pair_of_row = pc.add(pc.multiply(partners.indices.cast(pa.int64()), width), customers.indices.cast(pa.int64()))
        pairs = pc.unique(pair_of_row)
        partner_names, customer_names = partners.dictionary.to_pylist(), customers.dictionary.to_pylist()
        by_partner: dict[str, list[str]] = {}
        for pair in pairs.to_pylist():
            by_partner.setdefault(partner_names[pair // width], []).append(customer_names[pair % width])
        partitions: list[Partition] = []
        number_of_pair: dict[tuple[str, str], int] = {}
        for partner in sorted(by_partner):
            customer_ids = sorted(by_partner[partner])
            starts = set(cut_points(customer_ids, self._customers_per_partition))
            partitions.append(Partition(partner, ""))
            for customer in customer_ids:
                if customer in starts:
                    partitions.append(Partition(partner, customer))
                number_of_pair[(partner, customer)] = len(partitions) - 1
        numbers = pa.array(
            [number_of_pair[(partner_names[p // width], customer_names[p % width])] for p in pairs.to_pylist()],
            pa.int32(),
        )
        row_numbers = numbers.take(pc.index_in(pair_of_row, value_set=pairs))
        order = pc.sort_indices(row_numbers)  # stable: rows keep their order within a partition
        sorted_numbers = row_numbers.take(order)
        changed = pc.indices_nonzero(pc.not_equal(sorted_numbers.slice(1), sorted_numbers.slice(0, len(order) - 1)))
        bounds = [0, *(int(at) + 1 for at in changed.to_pylist()), len(order)]
        firsts = sorted_numbers.take(bounds[:-1]).to_pylist()

        def gather(span: tuple[int, int, int]) -> tuple[Partition, pa.Table]:
            number, start, end = span
            return partitions[number], table.take(order.slice(start, end - start))

        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            return list(pool.map(gather, zip(firsts, bounds[:-1], bounds[1:], strict=True)))

    # ---- reading: state (rating, point-in-time) -----------------------------------------

    def read_state(self, day: date, version: int, partner_org_ids: Iterable[str] | None = None) -> pa.Table:
        """The keys open at the end of `day` (of `partner_org_ids` only, when given)."""
        entries = self._manifest(state_prefix(day, version))
        if entries is None:  # written before partitions
            body = self._get(state_prefix(day, version) + "open.parquet")
            table = pq.read_table(pa.BufferReader(body))
            if "assigned_since" not in table.column_names:
                table = table.append_column("assigned_since", pa.nulls(table.num_rows, pa.int64()))
            return table.select(STATE_SCHEMA.names).cast(STATE_SCHEMA)
        wanted = None if partner_org_ids is None else set(partner_org_ids)
        chosen = [entry for entry in entries if wanted is None or entry.partition.partner_org_id in wanted]
        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            tables = list(pool.map(lambda entry: self._read_entry(entry, day), chosen))
        if not tables:
            return STATE_SCHEMA.empty_table()
        return pa.concat_tables([table.select(STATE_SCHEMA.names).cast(STATE_SCHEMA) for table in tables])

    def _read_entry(self, entry: PartitionEntry, day: date) -> pa.Table:
        try:
            table = pq.read_table(pa.BufferReader(self._get(entry.key)))
        except KeyError:
            raise LakeIncomplete(f"state for {day.isoformat()} is missing {entry.key}") from None
        if table.num_rows != entry.rows:
            raise LakeIncomplete(f"{entry.key} holds {table.num_rows} rows, its manifest recorded {entry.rows}")
        return table

    # ---- reading: one customer, one day (the console's read API) --------------------------

    def read_day(self, day: date, version: int) -> pa.Table:
        """A day version's usage rows, every partition (rolling up a day published before the
        rollup existed, once)."""
        entries = self._manifest(day_prefix(day, version))
        if entries is None:
            return pq.read_table(pa.BufferReader(self._get(day_prefix(day, version) + LEGACY_DAY_OBJECT)))
        return self._read_entries(entries, day, None)

    def customer_state(self, day: date, version: int, partner_org_id: str, customer_org_id: str) -> pa.Table:
        """The keys of one customer open at the end of `day`: its state partition only (kept in
        memory: a day version's state never changes)."""

        def read() -> pa.Table:
            entries = self._manifest(state_prefix(day, version))
            if entries is None:
                table = self.read_state(day, version, [partner_org_id])
            else:
                table = self._read_entries(holding(entries, partner_org_id, customer_org_id), day, STATE_SCHEMA)
            return table.filter(pc.equal(table["customer_org_id"], customer_org_id))

        return self._customer_states.get_or_read((day, version, partner_org_id, customer_org_id), read)

    def _read_entries(self, entries: list[PartitionEntry], day: date, schema: pa.Schema | None) -> pa.Table:
        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            tables = list(pool.map(lambda entry: self._read_entry(entry, day), entries))
        wanted = schema or USAGE_SCHEMA
        if not tables:
            return wanted.empty_table()
        return pa.concat_tables([table.select(wanted.names).cast(wanted) for table in tables])

    # ---- reading: usage (reports) -------------------------------------------------------

    def customer_rows(self, usage: UsageSlice) -> list[tuple[str, int]]:
        """Where a shard of the slice may start, and the usage rows from there: (partition start,
        rows) of every partition of the slice's orgs, one pair per day (a legacy day gives its
        rows per customer)."""
        pairs: list[tuple[str, int]] = []
        wanted = set(usage.partner_org_ids)
        for (day, version), entries in self._entries_of_days(usage):
            if entries is None:
                pairs.extend(self._legacy_customer_rows(day, version, usage))
                continue
            pairs.extend(
                (entry.partition.start, entry.rows)
                for entry in entries
                if entry.partition.partner_org_id in wanted and holds_chosen(usage, entry.partition.start, entry.end)
            )
        return pairs

    @contextlib.contextmanager
    def fetch_slice(self, usage: UsageSlice) -> Iterator[SliceFiles]:
        """The slice's usage as local files, whole objects: every partition of the slice's orgs
        whose customer range meets the slice's, of each day at its version, fetched concurrently
        into a scratch folder (Lambda's /tmp) that lives until the context ends."""
        if not usage.partner_org_ids:
            yield SliceFiles((), "FALSE")
            return
        wanted = set(usage.partner_org_ids)
        objects: list[tuple[str, int | None, date]] = []
        for (day, version), entries in self._entries_of_days(usage):
            if entries is None:
                expected = (usage.day_rows or {}).get(day) if usage.day_rows is not None else None
                objects.append((day_prefix(day, version) + LEGACY_DAY_OBJECT, expected, day))
                continue
            objects.extend(
                (entry.key, entry.rows, day)
                for entry in entries
                if entry.partition.partner_org_id in wanted
                and overlaps(entry.partition.start, entry.end, usage.customers_from, usage.customers_before)
                and holds_chosen(usage, entry.partition.start, entry.end)
            )
        with tempfile.TemporaryDirectory(prefix="wbr-slice-") as folder:

            def download(numbered: tuple[int, tuple[str, int | None, date]]) -> str:
                index, (key, rows, day) = numbered
                path = str(Path(folder) / f"{index:05d}.parquet")
                try:  # one GET per object (download_file would HEAD it first)
                    body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"]
                    with open(path, "wb") as out:
                        for chunk in body.iter_chunks(_CHUNK_BYTES):
                            out.write(chunk)
                except ClientError as error:
                    if is_missing_object(error):
                        raise LakeIncomplete(f"usage for {day.isoformat()} is missing {key}") from None
                    raise
                found = pq.read_metadata(path).num_rows
                if rows is not None and rows >= 0 and found != rows:
                    raise LakeIncomplete(
                        f"usage for {day.isoformat()} is incomplete in the lake: {key} holds {found} rows, "
                        f"its publication recorded {rows}"
                    )
                return path

            with ThreadPoolExecutor(max_workers=_THREADS) as pool:
                paths = tuple(pool.map(download, enumerate(objects)))
            yield SliceFiles(paths, _slice_sql(usage))

    def _entries_of_days(self, usage: UsageSlice) -> list[tuple[tuple[date, int], list[PartitionEntry] | None]]:
        """`_day_entries` of every day of the slice, in day order, the manifests read concurrently."""
        days = sorted(usage.day_versions.items())
        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            found = list(pool.map(lambda pair: self._day_entries(pair[0], pair[1], usage), days))
        return list(zip(days, found, strict=True))

    def _day_entries(self, day: date, version: int, usage: UsageSlice) -> list[PartitionEntry] | None:
        """The day version's partitions (None: a legacy day), checked against the rows its
        publication recorded."""
        prefix = day_prefix(day, version)
        entries = self._manifest(prefix)
        if entries is None:
            if usage.day_rows is not None and not self._exists(prefix + LEGACY_DAY_OBJECT):
                raise LakeIncomplete(f"usage for {day.isoformat()} (version {version}) is missing")
            return None
        expected = (usage.day_rows or {}).get(day, -1)
        if expected >= 0 and sum(entry.rows for entry in entries) != expected:
            raise LakeIncomplete(
                f"usage for {day.isoformat()} (version {version}) holds other rows than were published"
            )
        return entries

    def _manifest(self, prefix: str) -> list[PartitionEntry] | None:
        """A day version's partitions, None when it has no manifest (legacy or absent). Cached:
        a version never changes once its manifest is written."""
        cached = self._manifests.get(prefix)
        if cached is not None:
            return cached
        try:
            listed = json.loads(self._get(prefix + MANIFEST))["partitions"]
        except KeyError:
            return None
        return self._manifests.put(prefix, manifest_entries(listed))

    def _legacy_customer_rows(self, day: date, version: int, usage: UsageSlice) -> list[tuple[str, int]]:
        try:
            table = pq.read_table(pa.BufferReader(self._get(legacy_counts_key(day, version))))
        except KeyError:
            raise LakeIncomplete(f"usage for {day.isoformat()} (version {version}) is missing") from None
        expected = (usage.day_rows or {}).get(day, -1)
        if expected >= 0 and (pc.sum(table["rows"]).as_py() or 0) != expected:
            raise LakeIncomplete(
                f"usage for {day.isoformat()} (version {version}) holds other rows than were published"
            )
        table = table.filter(pc.is_in(table["partner_org_id"], value_set=pa.array(sorted(usage.partner_org_ids))))
        return list(zip(table["customer_org_id"].to_pylist(), table["rows"].to_pylist(), strict=True))

    def _get(self, key: str) -> bytes:
        try:
            return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as error:
            if is_missing_object(error):
                raise KeyError(key) from None
            raise

    def _exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if is_missing_object(error):
                return False
            raise
        return True


def _slice_sql(usage: UsageSlice) -> str:
    """The exact row condition of a slice in SQL (its orgs, customer range, units > 0): a
    partition object may hold customers of a neighbouring shard, which this leaves out."""
    conditions = [f"partner_org_id IN ({sql_literals(usage.partner_org_ids)})", "units > 0"]
    if usage.customers_from is not None:
        conditions.append(f"customer_org_id >= {sql_literal(usage.customers_from)}")
    if usage.customers_before is not None:
        conditions.append(f"customer_org_id < {sql_literal(usage.customers_before)}")
    if usage.excluded_customer_ids:
        conditions.append(f"customer_org_id NOT IN ({sql_literals(usage.excluded_customer_ids)})")
    if usage.customer_org_ids is not None:
        conditions.append(f"customer_org_id IN ({sql_literals(usage.customer_org_ids) or 'NULL'})")
    return " AND ".join(conditions)
