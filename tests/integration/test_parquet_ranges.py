"""Ranged reads of the lake's day files (adapters/parquet_ranges.py) through moto's S3.

A shard reads only the row groups its customer range can touch. Whatever the range, the rows it
gets after the exact filter are exactly those of a full read, as the lake reads them (DuckDB over
the sparse copy), and a narrow range transfers a small part of the object.
"""

from __future__ import annotations

import io
import os
import random

import boto3
import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from chalicelib.adapters.parquet_ranges import KeyRange, download_row_groups
from chalicelib.adapters.usage_lake import STATISTICS_COLUMNS

BUCKET = "lake"
KEY = "usage/date=2026-10-01/v=1/part-00000.parquet"  # statistics on every column: a large footer
LAKE_KEY = "usage/date=2026-10-02/v=1/part-00000.parquet"  # statistics as the lake writes them
PARTNERS = ["P-a", "P-b", "P-c"]
CUSTOMERS = [f"C-{index:04d}" for index in range(120)]


def _day_table() -> pa.Table:
    """About 480 rows with an incompressible column, so that the object is several times the
    reader's first (footer) GET and a narrow range really leaves most of it behind."""
    noise = random.Random(5)
    rows = {"partner_org_id": [], "customer_org_id": [], "user_id": [], "units": [], "payload": []}
    for position, customer in enumerate(CUSTOMERS):
        partner = PARTNERS[position * len(PARTNERS) // len(CUSTOMERS)]
        for user in range(1 + position % 7):
            rows["partner_org_id"].append(partner)
            rows["customer_org_id"].append(customer)
            rows["user_id"].append(f"U-{position}-{user}")
            rows["units"].append((position * 7919 + user) % 1_000_001)
            rows["payload"].append(noise.randbytes(600).hex())
    return pa.table(rows).sort_by([("partner_org_id", "ascending"), ("customer_org_id", "ascending")])


TABLE = _day_table()


@pytest.fixture(scope="module")
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        sink = io.BytesIO()
        pq.write_table(TABLE, sink, row_group_size=16)  # many small row groups
        client.put_object(Bucket=BUCKET, Key=KEY, Body=sink.getvalue())
        sink = io.BytesIO()
        pq.write_table(TABLE, sink, row_group_size=16, write_statistics=list(STATISTICS_COLUMNS))
        client.put_object(Bucket=BUCKET, Key=LAKE_KEY, Body=sink.getvalue())
        yield client


def _expected(partners: list[str], low: str | None, high: str | None) -> list[dict]:
    """The rows of a full read of the day that the range selects exactly."""
    condition = pc.field("partner_org_id").isin(partners)
    if low is not None:
        condition &= pc.field("customer_org_id") >= low
    if high is not None:
        condition &= pc.field("customer_org_id") < high
    return sorted(TABLE.filter(condition).to_pylist(), key=lambda row: row["user_id"])


bounds = st.one_of(st.none(), st.sampled_from(CUSTOMERS), st.sampled_from(["C-", "C-9", "D"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    partners=st.lists(st.sampled_from(PARTNERS), min_size=1, unique=True),
    low=bounds,
    high=bounds,
    key=st.sampled_from([KEY, LAKE_KEY]),
)
def test_any_range_reads_exactly_its_rows(s3, tmp_path_factory, partners, low, high, key):
    wanted = KeyRange("partner_org_id", min(partners), max(partners), "customer_org_id", low, high)
    expected = _expected(partners, low, high)
    path = str(tmp_path_factory.mktemp("sparse") / "day.parquet")
    if not download_row_groups(s3, BUCKET, key, wanted, path):
        assert expected == []
        return
    conditions = [
        f"partner_org_id >= '{min(partners)}'",
        f"partner_org_id <= '{max(partners)}'",
        "partner_org_id IN (" + ", ".join(f"'{partner}'" for partner in partners) + ")",
    ]
    if low is not None:
        conditions.append(f"customer_org_id >= '{low}'")
    if high is not None:
        conditions.append(f"customer_org_id < '{high}'")
    rows = duckdb.connect().sql(f"SELECT * FROM read_parquet('{path}') WHERE {' AND '.join(conditions)}").arrow()
    assert sorted(rows.read_all().to_pylist(), key=lambda row: row["user_id"]) == expected


def test_a_narrow_range_transfers_a_small_part_and_the_copy_is_sparse(s3, tmp_path):
    size = s3.head_object(Bucket=BUCKET, Key=LAKE_KEY)["ContentLength"]
    fetched: list[int] = []

    def count(response, **_):
        fetched.append(int(response["ContentLength"]))

    s3.meta.events.register("after-call.s3.GetObject", lambda parsed, **kwargs: count(parsed))
    try:
        wanted = KeyRange("partner_org_id", "P-b", "P-b", "customer_org_id", "C-0050", "C-0052")
        path = str(tmp_path / "day.parquet")
        assert download_row_groups(s3, BUCKET, LAKE_KEY, wanted, path)
    finally:
        s3.meta.events.unregister("after-call.s3.GetObject")
    assert len(fetched) == 2  # the footer, then the run of row groups
    assert sum(fetched) < size / 3
    assert os.path.getsize(path) == size  # same layout: offsets in the footer hold
    rows = (
        duckdb.connect()
        .sql(
            f"SELECT customer_org_id, count(*) AS n FROM read_parquet('{path}') "
            "WHERE partner_org_id >= 'P-b' AND partner_org_id <= 'P-b' "
            "AND customer_org_id >= 'C-0050' AND customer_org_id < 'C-0052' GROUP BY ALL ORDER BY ALL"
        )
        .fetchall()
    )
    assert rows == [("C-0050", 1 + 50 % 7), ("C-0051", 1 + 51 % 7)]


def test_a_reader_that_strays_into_a_hole_fails_instead_of_counting_zeros(s3, tmp_path):
    """The guarantee behind the sparse copy: bytes not fetched are never read as numbers."""
    wanted = KeyRange("partner_org_id", "P-c", "P-c", "customer_org_id", "C-0110", None)
    path = str(tmp_path / "day.parquet")
    assert download_row_groups(s3, BUCKET, KEY, wanted, path)
    with pytest.raises(duckdb.Error):
        duckdb.connect().sql(f"SELECT sum(units) FROM read_parquet('{path}')").fetchall()
