"""The usage lake: one Parquet dataset per day and version, ``usage/date=D/v=N/part-*.parquet``.

Rows are per (partner, customer, location, subscription, sku, subject) and day, with integer
micro-units. A day version is written with pyarrow as one object sorted by partner and customer
in small row groups, beside its counts (usage rows per partner and customer: what Plan sizes
shards by) and the day's closing rating state. A report shard fetches through boto3 (S3, the
local moto server and moto's mock alike) only the row groups its range can touch, as a sparse
local copy that DuckDB's own Parquet reader aggregates and renders, with extension autoloading
off, so nothing is ever downloaded at run time.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from chalicelib.adapters.engine import STATE_SCHEMA, sql_literal, sql_literals
from chalicelib.adapters.parquet_ranges import KeyRange, download_row_groups
from chalicelib.domain.errors import LakeIncomplete
from chalicelib.domain.report_rows import USAGE_FIELDS
from chalicelib.services.ports import SliceFiles, UsageSlice

USAGE_SCHEMA = pa.schema(
    [
        ("usage_date", pa.date32()),
        ("partner_org_id", pa.string()),
        ("customer_org_id", pa.string()),
        ("location_id", pa.string()),
        ("subscription_id", pa.string()),
        ("sku", pa.string()),
        ("subject_type", pa.string()),
        ("user_id", pa.string()),
        ("subscriber_id", pa.string()),
        ("workspace_id", pa.string()),
        ("units", pa.int64()),
    ]
)
assert tuple(USAGE_SCHEMA.names) == USAGE_FIELDS
# Small enough that a shard (a customer range) skips most row groups of a day's file.
ROW_GROUP_SIZE = 16 * 1024
_DOWNLOAD_THREADS = 8
# Row-group min/max kept for what a shard's reads prune by (parquet_ranges, DuckDB); per-subject
# ids would only bloat the footer (read first by every shard, for every day file).
STATISTICS_COLUMNS = ("usage_date", "partner_org_id", "customer_org_id", "units")


DAY_OBJECT = "part-00000.parquet"  # the one object a day version is written as


def _day_of(key: str) -> str:
    return key.split("date=", 1)[1].split("/", 1)[0]


def day_prefix(day: date, version: int) -> str:
    return f"usage/date={day.isoformat()}/v={version}/"


def counts_key(day: date, version: int) -> str:
    """Usage rows per (partner, customer) of a day version: what Plan sizes shards by."""
    return f"counts/date={day.isoformat()}/v={version}/customers.parquet"


def state_key(day: date, version: int) -> str:
    """The rating state at the end of a day: the usage keys assigned at midnight."""
    return f"state/date={day.isoformat()}/v={version}/open.parquet"


class S3ParquetUsageLake:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def write_day(self, day: date, version: int, usage: pa.Table | list[dict[str, Any]]) -> int:
        """Write one day's rows (an Arrow table or dicts of USAGE_FIELDS) as version `version`;
        returns the row count."""
        if isinstance(usage, list):
            usage = pa.Table.from_pylist(usage, schema=USAGE_SCHEMA)
        table = usage.select(USAGE_FIELDS).cast(USAGE_SCHEMA)
        table = table.sort_by([("partner_org_id", "ascending"), ("customer_org_id", "ascending")])
        sink = io.BytesIO()
        pq.write_table(
            table, sink, row_group_size=ROW_GROUP_SIZE, compression="zstd", write_statistics=list(STATISTICS_COLUMNS)
        )
        self._s3.put_object(
            Bucket=self._bucket,
            Key=day_prefix(day, version) + DAY_OBJECT,
            Body=sink.getvalue(),
            ServerSideEncryption="AES256",
        )
        counts = table.group_by(["partner_org_id", "customer_org_id"]).aggregate([("units", "count")])
        sink = io.BytesIO()
        pq.write_table(counts.rename_columns(["partner_org_id", "customer_org_id", "rows"]), sink)
        self._s3.put_object(
            Bucket=self._bucket, Key=counts_key(day, version), Body=sink.getvalue(), ServerSideEncryption="AES256"
        )
        return table.num_rows

    def customer_rows(self, usage: UsageSlice) -> list[tuple[str, int]]:
        """(customer, usage rows) of the slice's partners over its days, one pair per day."""
        filters = _slice_filters(usage)

        def day_counts(day_version: tuple[date, int]) -> pa.Table:
            day, version = day_version
            try:
                body = self._s3.get_object(Bucket=self._bucket, Key=counts_key(day, version))["Body"].read()
            except ClientError as error:
                if usage.day_rows is not None and error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                    raise LakeIncomplete(f"usage for {day.isoformat()} (version {version}) is missing") from None
                raise
            table = pq.read_table(pa.BufferReader(body))
            expected = (usage.day_rows or {}).get(day, -1)
            if expected >= 0 and (pc.sum(table["rows"]).as_py() or 0) != expected:
                raise LakeIncomplete(
                    f"usage for {day.isoformat()} (version {version}) holds other rows than were published"
                )
            return table.filter(pq.filters_to_expression(filters))

        pairs: list[tuple[str, int]] = []
        with ThreadPoolExecutor(max_workers=_DOWNLOAD_THREADS) as pool:
            for table in pool.map(day_counts, sorted(usage.day_versions.items())):
                pairs.extend(zip(table["customer_org_id"].to_pylist(), table["rows"].to_pylist(), strict=True))
        return pairs

    def write_state(self, day: date, version: int, state: pa.Table) -> None:
        sink = io.BytesIO()
        pq.write_table(state.select(STATE_SCHEMA.names).cast(STATE_SCHEMA), sink, compression="zstd")
        self._s3.put_object(
            Bucket=self._bucket, Key=state_key(day, version), Body=sink.getvalue(), ServerSideEncryption="AES256"
        )

    def read_state(self, day: date, version: int) -> pa.Table:
        body = self._s3.get_object(Bucket=self._bucket, Key=state_key(day, version))["Body"].read()
        table = pq.read_table(pa.BufferReader(body))
        if "assigned_since" not in table.column_names:
            table = table.append_column("assigned_since", pa.nulls(table.num_rows, pa.int64()))
        return table.select(STATE_SCHEMA.names).cast(STATE_SCHEMA)

    @contextlib.contextmanager
    def fetch_slice(self, usage: UsageSlice) -> Iterator[SliceFiles]:
        """The slice's usage as sparse local copies: each day file gives only the row groups the
        slice can touch (ranged GETs, concurrently), written to a scratch folder (Lambda's /tmp)
        that lives until the context ends. The row condition starts with the same bounds the
        row groups were chosen by, so a reader pushing it down (DuckDB) prunes to exactly the
        row groups fetched and never reads a hole."""
        if not usage.partner_org_ids:
            yield SliceFiles((), "FALSE")
            return
        wanted = _key_range(usage)
        with tempfile.TemporaryDirectory(prefix="wbr-slice-") as folder:
            keys = self._slice_keys(usage)
            paths = [str(Path(folder) / f"{index:05d}.parquet") for index in range(len(keys))]

            def download(key: str, path: str) -> str | None:
                expected = self._expected_rows(usage, key)
                try:
                    fetched = download_row_groups(self._s3, self._bucket, key, wanted, path, expected)
                except LakeIncomplete as error:
                    raise LakeIncomplete(f"usage for {_day_of(key)} is incomplete in the lake: {error}") from None
                return path if fetched else None

            with ThreadPoolExecutor(max_workers=_DOWNLOAD_THREADS) as pool:
                fetched = tuple(path for path in pool.map(download, keys, paths) if path is not None)
            yield SliceFiles(fetched, _slice_sql(usage))

    def _slice_keys(self, usage: UsageSlice) -> list[str]:
        """The Parquet objects of the slice's days at their versions, in day order: the ones
        their publications wrote (when the slice knows them), else what is listed."""
        days = sorted(usage.day_versions.items())
        if usage.day_rows is not None:
            return [day_prefix(day, version) + DAY_OBJECT for day, version in days]
        with ThreadPoolExecutor(max_workers=_DOWNLOAD_THREADS) as pool:
            listed = list(pool.map(lambda day_version: self._keys(day_prefix(*day_version)), days))
        return [key for keys in listed for key in keys]

    @staticmethod
    def _expected_rows(usage: UsageSlice, key: str) -> int | None:
        if usage.day_rows is None:
            return None
        return usage.day_rows.get(date.fromisoformat(_day_of(key)), -1)

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            keys.extend(entry["Key"] for entry in page.get("Contents", []) if entry["Key"].endswith(".parquet"))
        return sorted(keys)


def _slice_filters(usage: UsageSlice) -> list[tuple[str, str, Any]]:
    """Parquet row filters selecting a slice's partners and customer range (in a day's counts)."""
    filters: list[tuple[str, str, Any]] = [("partner_org_id", "in", sorted(usage.partner_org_ids))]
    if usage.customers_from is not None:
        filters.append(("customer_org_id", ">=", usage.customers_from))
    if usage.customers_before is not None:
        filters.append(("customer_org_id", "<", usage.customers_before))
    if usage.excluded_customer_ids:
        filters.append(("customer_org_id", "not in", sorted(usage.excluded_customer_ids)))
    return filters


def _slice_sql(usage: UsageSlice) -> str:
    """The exact row condition of a slice in SQL (`_slice_filters` and units > 0, for DuckDB)."""
    conditions = [
        # the bounds of `_key_range` first, as plain comparisons: DuckDB prunes row groups by them
        # exactly as download_row_groups chose them, so it never reads a row group not fetched
        f"partner_org_id >= {sql_literal(min(usage.partner_org_ids))}",
        f"partner_org_id <= {sql_literal(max(usage.partner_org_ids))}",
        f"partner_org_id IN ({sql_literals(usage.partner_org_ids)})",
        "units > 0",
    ]
    if usage.customers_from is not None:
        conditions.append(f"customer_org_id >= {sql_literal(usage.customers_from)}")
    if usage.customers_before is not None:
        conditions.append(f"customer_org_id < {sql_literal(usage.customers_before)}")
    if usage.excluded_customer_ids:
        conditions.append(f"customer_org_id NOT IN ({sql_literals(usage.excluded_customer_ids)})")
    return " AND ".join(conditions)


def _key_range(usage: UsageSlice) -> KeyRange:
    """The slice as the bounds row-group statistics are compared with (see `_slice_sql`)."""
    return KeyRange(
        "partner_org_id",
        min(usage.partner_org_ids),
        max(usage.partner_org_ids),
        "customer_org_id",
        usage.customers_from,
        usage.customers_before,
    )
