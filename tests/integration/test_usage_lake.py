"""The partitioned lake through moto's S3 (adapters/usage_lake.py): partitions follow the partner
tree, a shard reads whole objects of its own customers, a restatement writes only what changed,
every object is checked against its manifest, and a lake written before partitions still reads."""

from __future__ import annotations

import io
import json
from datetime import date
from typing import Any

import boto3
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from moto import mock_aws

from chalicelib.adapters.engine import STATE_SCHEMA
from chalicelib.adapters.usage_lake import S3ParquetUsageLake
from chalicelib.adapters.usage_lake_layout import MANIFEST, USAGE_SCHEMA, day_prefix
from chalicelib.domain.errors import LakeIncomplete
from chalicelib.services.ports import UsageSlice
from tests.tiers import examples

BUCKET = "lake"
DAY = date(2026, 10, 5)


@pytest.fixture
def s3() -> Any:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def usage(rows: list[tuple[str, str, int]], day: date = DAY) -> pa.Table:
    """(partner, customer, units) → usage rows, one subject per row."""
    return pa.Table.from_pylist(
        [
            {
                "usage_date": day,
                "partner_org_id": partner,
                "customer_org_id": customer,
                "location_id": "L",
                "subscription_id": "S",
                "sku": "SKU",
                "subject_type": "USER",
                "user_id": f"u{index}",
                "subscriber_id": "",
                "workspace_id": "",
                "units": units,
            }
            for index, (partner, customer, units) in enumerate(rows)
        ],
        schema=USAGE_SCHEMA,
    )


def world(customers: int = 40) -> list[tuple[str, str, int]]:
    rows = []
    for number in range(customers):
        partner = ("acme", "acme-east", "globex")[number % 3]
        rows += [(partner, f"c{number:03d}", 1_000_000)] * 3
    return rows


def objects(s3: Any, prefix: str) -> list[str]:
    return sorted(entry["Key"] for entry in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def read(lake: S3ParquetUsageLake, usage_slice: UsageSlice) -> tuple[list[tuple], int]:
    with lake.fetch_slice(usage_slice) as files:
        if not files.paths:
            return [], 0
        connection = duckdb.connect()
        paths = ", ".join(f"'{path}'" for path in files.paths)
        rows = connection.sql(
            f"SELECT partner_org_id, customer_org_id, user_id, units FROM read_parquet([{paths}]) "
            f"WHERE {files.row_condition} ORDER BY ALL"
        ).fetchall()
        return rows, len(files.paths)


def test_partitions_follow_the_partner_tree(s3):
    lake = S3ParquetUsageLake(s3, BUCKET, customers_per_partition=4)
    written = lake.write_day(DAY, 1, usage(world()))
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=day_prefix(DAY, 1) + MANIFEST)["Body"].read())
    assert written.rows == 120 == manifest["rows"] == sum(p["rows"] for p in manifest["partitions"])
    assert written.partitions == len(manifest["partitions"]) == written.partitions_written > 3
    assert objects(s3, day_prefix(DAY, 1)) == sorted(
        [*(p["key"] for p in manifest["partitions"]), day_prefix(DAY, 1) + MANIFEST]
    )
    for partition in manifest["partitions"]:  # each object holds one org's customers from its start on
        table = pq.read_table(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=partition["key"])["Body"].read()))
        assert set(table["partner_org_id"].to_pylist()) == {partition["partnerOrgId"]}
        assert min(table["customer_org_id"].to_pylist()) >= partition["start"]
        assert table.num_rows == partition["rows"]


@pytest.mark.tiered
@settings(max_examples=examples(deep=25, quick=8), deadline=None)
@given(
    low=st.one_of(st.none(), st.integers(0, 45).map(lambda n: f"c{n:03d}")),
    high=st.one_of(st.none(), st.integers(0, 45).map(lambda n: f"c{n:03d}")),
    orgs=st.sets(st.sampled_from(["acme", "acme-east", "globex"]), min_size=1),
)
def test_a_shard_reads_exactly_its_rows_from_whole_objects(low, high, orgs):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        lake = S3ParquetUsageLake(s3, BUCKET, customers_per_partition=4)
        rows = world()
        lake.write_day(DAY, 1, usage(rows))
        got, files = read(lake, UsageSlice({DAY: 1}, tuple(sorted(orgs)), low, high, day_rows={DAY: len(rows)}))
        expected = sorted(
            (partner, customer, f"u{index}", units)
            for index, (partner, customer, units) in enumerate(rows)
            if partner in orgs and (low is None or customer >= low) and (high is None or customer < high)
        )
        assert got == expected
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=day_prefix(DAY, 1) + MANIFEST)["Body"].read())
        assert files <= sum(1 for p in manifest["partitions"] if p["partnerOrgId"] in orgs)


def test_a_restatement_rewrites_only_the_partitions_that_changed(s3):
    lake = S3ParquetUsageLake(s3, BUCKET, customers_per_partition=4)
    rows = world()
    first = lake.write_day(DAY, 1, usage(rows))
    # one customer of globex loses half a day
    changed = [(p, c, u // 2 if (p, c) == ("globex", "c002") else u) for p, c, u in rows]
    second = lake.write_day(DAY, 2, usage(changed), previous_version=1)
    assert second.partitions == first.partitions and second.partitions_written == 1
    assert second.bytes_written < first.bytes_written / 3
    new_objects = [key for key in objects(s3, day_prefix(DAY, 2)) if not key.endswith(MANIFEST)]
    assert len(new_objects) == 1
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=day_prefix(DAY, 2) + MANIFEST)["Body"].read())
    assert sum(p["key"].startswith(day_prefix(DAY, 1)) for p in manifest["partitions"]) == first.partitions - 1
    got, _ = read(lake, UsageSlice({DAY: 2}, ("globex",), None, None, day_rows={DAY: len(rows)}))
    assert ("globex", "c002", "u6", 500_000) in got
    again = lake.write_day(DAY, 3, usage(changed), previous_version=2)  # same rows: nothing but the manifest
    assert again.partitions_written == 0


def test_a_missing_or_short_object_fails_never_a_silent_zero(s3):
    lake = S3ParquetUsageLake(s3, BUCKET, customers_per_partition=4)
    rows = world()
    lake.write_day(DAY, 1, usage(rows))
    with pytest.raises(LakeIncomplete, match="holds other rows"):
        read(lake, UsageSlice({DAY: 1}, ("acme",), None, None, day_rows={DAY: len(rows) + 1}))
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=day_prefix(DAY, 1) + MANIFEST)["Body"].read())
    victim = next(p for p in manifest["partitions"] if p["partnerOrgId"] == "acme")
    s3.delete_object(Bucket=BUCKET, Key=victim["key"])
    with pytest.raises(LakeIncomplete, match="missing"):
        read(lake, UsageSlice({DAY: 1}, ("acme",), None, None, day_rows={DAY: len(rows)}))
    buffer = io.BytesIO()
    pq.write_table(usage(rows[:1]), buffer)
    s3.put_object(Bucket=BUCKET, Key=victim["key"], Body=buffer.getvalue())
    with pytest.raises(LakeIncomplete, match="holds 1 rows"):
        read(lake, UsageSlice({DAY: 1}, ("acme",), None, None, day_rows={DAY: len(rows)}))
    with pytest.raises(LakeIncomplete):
        read(lake, UsageSlice({date(2026, 10, 6): 1}, ("acme",), None, None, day_rows={date(2026, 10, 6): 3}))


def test_state_is_partitioned_and_read_by_org(s3):
    lake = S3ParquetUsageLake(s3, BUCKET, customers_per_partition=4)
    state = (
        usage(world()).select(STATE_SCHEMA.names[:-1]).append_column("assigned_since", pa.array([7] * 120, pa.int64()))
    )
    lake.write_state(DAY, 1, state)
    assert lake.read_state(DAY, 1).num_rows == 120
    globex = lake.read_state(DAY, 1, ["globex"])
    assert set(globex["partner_org_id"].to_pylist()) == {"globex"} and globex.num_rows == 39


def test_a_lake_written_before_partitions_still_reads(s3):
    """One object per day and its counts, as the lake was written before partitions."""
    lake = S3ParquetUsageLake(s3, BUCKET)
    rows = world()
    buffer = io.BytesIO()
    pq.write_table(usage(rows), buffer)
    s3.put_object(Bucket=BUCKET, Key=day_prefix(DAY, 1) + "part-00000.parquet", Body=buffer.getvalue())
    counts = pa.table({"partner_org_id": ["acme", "globex"], "customer_org_id": ["c000", "c002"], "rows": [60, 60]})
    buffer = io.BytesIO()
    pq.write_table(counts, buffer)
    s3.put_object(Bucket=BUCKET, Key=f"counts/date={DAY}/v=1/customers.parquet", Body=buffer.getvalue())
    usage_slice = UsageSlice({DAY: 1}, ("globex",), None, "c010", day_rows={DAY: 120})
    assert lake.customer_rows(usage_slice) == [("c002", 60)]
    got, files = read(lake, usage_slice)
    assert files == 1 and {row[1] for row in got} == {"c002", "c005", "c008"}
