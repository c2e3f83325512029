"""The usage lake: one Parquet dataset per day and version, ``usage/date=D/v=N/part-*.parquet``.

Rows are per (partner, customer, location, subscription, sku, subject) and day, with integer
micro-units. Files are written with pyarrow, sorted by partner and customer, and read back
through boto3 (works against moto in tests and the local S3); DuckDB computes over the Arrow
data with extension autoloading off, so nothing is ever downloaded at run time.
"""

from __future__ import annotations

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

from chalicelib.adapters.report_sql import render_report_lines
from chalicelib.compute import sealed_connection
from chalicelib.domain.events import KEY_FIELDS
from chalicelib.domain.report_rows import GROUP_KEYS, USAGE_FIELDS, AggregatedRow, RowContext
from chalicelib.domain.reports import ReportType
from chalicelib.services.ports import UsageSlice

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
_BATCH_ROWS = 65_536
_DOWNLOAD_THREADS = 8


STATE_SCHEMA = pa.schema([(name, pa.string()) for name in KEY_FIELDS])


def day_prefix(day: date, version: int) -> str:
    return f"usage/date={day.isoformat()}/v={version}/"


def counts_key(day: date, version: int) -> str:
    """Usage rows per (partner, customer) of a day version: what Plan sizes shards by."""
    return f"counts/date={day.isoformat()}/v={version}/customers.parquet"


def state_key(day: date, version: int) -> str:
    """The rating state at the end of a day: the usage keys assigned at midnight."""
    return f"state/date={day.isoformat()}/v={version}/open.parquet"


class S3ParquetUsageLake:
    def __init__(self, s3: Any, bucket: str, duckdb_threads: int = 2) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._duckdb_threads = duckdb_threads

    def write_day(self, day: date, version: int, usage: pa.Table | list[dict[str, Any]]) -> int:
        """Write one day's rows (an Arrow table or dicts of USAGE_FIELDS) as version `version`;
        returns the row count."""
        if isinstance(usage, list):
            usage = pa.Table.from_pylist(usage, schema=USAGE_SCHEMA)
        table = usage.select(USAGE_FIELDS).cast(USAGE_SCHEMA)
        table = table.sort_by([("partner_org_id", "ascending"), ("customer_org_id", "ascending")])
        sink = io.BytesIO()
        pq.write_table(table, sink, row_group_size=ROW_GROUP_SIZE, compression="zstd")
        self._s3.put_object(
            Bucket=self._bucket,
            Key=day_prefix(day, version) + "part-00000.parquet",
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
            body = self._s3.get_object(Bucket=self._bucket, Key=counts_key(*day_version))["Body"].read()
            return pq.read_table(pa.BufferReader(body), filters=filters)

        pairs: list[tuple[str, int]] = []
        with ThreadPoolExecutor(max_workers=_DOWNLOAD_THREADS) as pool:
            for table in pool.map(day_counts, sorted(usage.day_versions.items())):
                pairs.extend(zip(table["customer_org_id"].to_pylist(), table["rows"].to_pylist(), strict=True))
        return pairs

    def write_state(self, day: date, version: int, state: pa.Table) -> None:
        sink = io.BytesIO()
        pq.write_table(state.select(KEY_FIELDS).cast(STATE_SCHEMA), sink, compression="zstd")
        self._s3.put_object(
            Bucket=self._bucket, Key=state_key(day, version), Body=sink.getvalue(), ServerSideEncryption="AES256"
        )

    def read_state(self, day: date, version: int) -> pa.Table:
        body = self._s3.get_object(Bucket=self._bucket, Key=state_key(day, version))["Body"].read()
        return pq.read_table(pa.BufferReader(body)).cast(STATE_SCHEMA)

    def read_slice(self, usage: UsageSlice) -> pa.Table:
        """The rows of the slice (its days at their versions, its partners and customers)."""
        filters = _slice_filters(usage)
        tables = []
        for day, version in sorted(usage.day_versions.items()):
            for key in self._keys(day_prefix(day, version)):
                body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
                table = pq.read_table(pa.BufferReader(body), filters=filters)
                if table.num_rows:
                    tables.append(table.select(USAGE_FIELDS).cast(USAGE_SCHEMA))
        if not tables:
            return USAGE_SCHEMA.empty_table()
        combined = pa.concat_tables(tables)
        return combined.filter(pc.greater(combined["units"], 0))

    def render_csv(self, context: RowContext, usage: UsageSlice) -> tuple[str, int]:
        """The slice aggregated and rendered as `context`'s report rows: (CSV text, rows).

        The day files are fetched concurrently to a scratch folder (Lambda's /tmp) and DuckDB
        streams them with its own Parquet reader, skipping row groups outside the slice, so
        memory holds the groups of the report, never the month's usage rows."""
        with tempfile.TemporaryDirectory(prefix="wbr-slice-") as folder:
            paths = self._download(usage, Path(folder))
            if not paths:
                return "", 0
            connection = sealed_connection(self._duckdb_threads)
            try:
                connection.execute(f"CREATE TEMP VIEW usage AS {_slice_sql(paths, usage)}")
                return render_report_lines(connection, context)
            finally:
                connection.close()

    def _download(self, usage: UsageSlice, folder: Path) -> list[str]:
        keys = [
            key for day, version in sorted(usage.day_versions.items()) for key in self._keys(day_prefix(day, version))
        ]
        paths = [str(folder / f"{index:05d}.parquet") for index in range(len(keys))]

        def fetch(key: str, path: str) -> None:
            self._s3.download_file(self._bucket, key, path)

        with ThreadPoolExecutor(max_workers=_DOWNLOAD_THREADS) as pool:
            list(pool.map(fetch, keys, paths))
        return paths

    def aggregate(self, report_type: ReportType, usage: UsageSlice) -> Iterator[AggregatedRow]:
        rows = self.read_slice(usage)
        keys = GROUP_KEYS[report_type]
        key_list = ", ".join(keys)
        connection = sealed_connection(self._duckdb_threads)
        try:
            connection.register("usage", rows)
            result = connection.sql(
                f"SELECT {key_list}, CAST(SUM(units) AS BIGINT) AS units, "
                "MIN(usage_date) AS first_day, MAX(usage_date) AS last_day "
                f"FROM usage GROUP BY {key_list} HAVING SUM(units) > 0 ORDER BY {key_list}"
            )
            reader = result.to_arrow_reader(_BATCH_ROWS)
            for batch in reader:
                columns = [batch.column(index).to_pylist() for index in range(batch.num_columns)]
                width = len(keys)
                for values in zip(*columns, strict=True):
                    yield AggregatedRow(tuple(values[:width]), values[width], values[width + 1], values[width + 2])
        finally:
            connection.close()

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            keys.extend(entry["Key"] for entry in page.get("Contents", []) if entry["Key"].endswith(".parquet"))
        return sorted(keys)


def _slice_filters(usage: UsageSlice) -> list[tuple[str, str, Any]]:
    """Parquet row filters selecting a slice's partners and customer range."""
    filters: list[tuple[str, str, Any]] = [("partner_org_id", "in", sorted(usage.partner_org_ids))]
    if usage.customers_from is not None:
        filters.append(("customer_org_id", ">=", usage.customers_from))
    if usage.customers_before is not None:
        filters.append(("customer_org_id", "<", usage.customers_before))
    if usage.excluded_customer_ids:
        filters.append(("customer_org_id", "not in", sorted(usage.excluded_customer_ids)))
    return filters


def _slice_sql(paths: list[str], usage: UsageSlice) -> str:
    """The slice's rows straight from the Parquet files, with the filters DuckDB pushes down."""
    conditions = [f"partner_org_id IN ({_literals(usage.partner_org_ids)})"]
    if usage.customers_from is not None:
        conditions.append(f"customer_org_id >= {_literal(usage.customers_from)}")
    if usage.customers_before is not None:
        conditions.append(f"customer_org_id < {_literal(usage.customers_before)}")
    if usage.excluded_customer_ids:
        conditions.append(f"customer_org_id NOT IN ({_literals(usage.excluded_customer_ids)})")
    columns = ", ".join(USAGE_FIELDS)
    return f"SELECT {columns} FROM read_parquet([{_literals(paths)}]) WHERE {' AND '.join(conditions)}"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _literals(texts: Any) -> str:
    return ", ".join(_literal(text) for text in texts) or "NULL"
