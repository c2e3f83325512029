"""The directory a report names from, for 20 000 customers, on the local AWS as `wbr dev` runs it
(`LocalAws`: DynamoDB on its single-threaded server, S3 on the threaded one): the DynamoDB path
(`DynamoDirectory`, what the worker read before) against the snapshot (`SnapshotDirectory`), in
the same run. Figures: wall seconds (best of 3) and the DynamoDB server's CPU seconds."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from chalicelib.adapters.directory_snapshot import SnapshotDirectory, snapshot_key
from chalicelib.adapters.dynamo_directory import DynamoDirectory
from chalicelib.bootstrap import Container
from chalicelib.config import Settings
from chalicelib.domain.directory import Partner
from chalicelib.local.aws import LocalAws
from chalicelib.local.parts import local_parts
from chalicelib.local.provisioning import ensure_resources
from tests.bench.conftest import best_of

pytestmark = pytest.mark.bench

CUSTOMERS = 20_000
PARTNERS = 20  # a parent and its sub-partners: a report over the parent covers them all
SHARDS = 8  # a report's Aggregate shards, each naming its own customer range


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def local_aws(tmp_path):
    aws = LocalAws(tmp_path, _free_port(), _free_port())
    endpoints = aws.start()
    try:
        env = {
            **os.environ,
            **endpoints.environment(),
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        env.pop("AWS_SESSION_TOKEN", None)
        env.pop("AWS_PROFILE", None)
        settings = Settings.from_env(env)
        container = Container(settings, **local_parts())
        ensure_resources(settings, container.dynamodb, container.s3)
        dynamodb_pid = json.loads((tmp_path / "aws.pids").read_text())["pids"][1]
        yield container, dynamodb_pid
    finally:
        aws.stop()


def _load_directory(container) -> list[str]:
    """20 000 customers under 20 partners, written as batches (setup, not measured), then one
    upsert through the adapter so the directory's version counts a change."""
    table = container.settings.directory_table
    partners = [f"partner-{number:03d}" for number in range(PARTNERS)]
    items = [
        {"entity": {"S": "PARTNER"}, "id": {"S": org}, "name": {"S": f"Partner {org}"}}
        | ({"parentPartnerOrgId": {"S": partners[0]}} if org != partners[0] else {})
        for org in partners
    ]
    items += [
        {
            "entity": {"S": f"CUSTOMER#{partners[number % PARTNERS]}"},
            "id": {"S": f"Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9jdXN0b21lci{number:06d}"},
            "externalId": {"S": f"EXT-{number:06d}"},
            "internal": {"BOOL": number % 50 == 0},
        }
        for number in range(CUSTOMERS)
    ]
    items += [
        {"entity": {"S": "SKU"}, "id": {"S": f"SKU-{n}"}, "serviceName": {"S": f"Service {n}"}} for n in range(40)
    ]
    for start in range(0, len(items), 25):
        pending = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while pending:
            pending = container.dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    DynamoDirectory(container.dynamodb, table).upsert_partner(Partner(partners[0], "Partner 000"), as_of=1)
    return partners


def _shard_bounds(ids: list[str]) -> list[tuple[str | None, str | None]]:
    cuts = [ids[len(ids) * number // SHARDS] for number in range(1, SHARDS)]
    bounds: list[str | None] = [None, *cuts, None]
    return list(zip(bounds, bounds[1:], strict=False))


def test_directory_for_20000_customers_snapshot_vs_dynamodb(local_aws, record):
    container, dynamodb_pid = local_aws
    partners = _load_directory(container)
    table = container.settings.directory_table
    every_id = sorted(c.org_id for c in DynamoDirectory(container.dynamodb, table).customers_of(partners))
    assert len(every_id) == CUSTOMERS
    bounds = _shard_bounds(every_id)

    def fresh_snapshots() -> SnapshotDirectory:  # a new process: nothing loaded
        return SnapshotDirectory(
            DynamoDirectory(container.dynamodb, table), container.s3, container.settings.lake_bucket
        )

    def name_shards(directory_of_shard) -> None:
        """What each shard of a report reads to name its rows: partners, SKUs, its range."""
        for low, high in bounds:
            directory = directory_of_shard()
            directory.partners()
            directory.skus()
            directory.customers_of(partners, low, high)

    # Before: every shard (a process of its own) queries DynamoDB.
    cpu = _cpu_seconds(dynamodb_pid)
    dynamodb_seconds = best_of(3, lambda: name_shards(lambda: DynamoDirectory(container.dynamodb, table)))
    dynamodb_cpu = (_cpu_seconds(dynamodb_pid) - cpu) / 3

    builder = fresh_snapshots()
    started = time.perf_counter()
    version = builder.pin()  # once per directory change: Scan, encode, PUT, point
    rebuild_seconds = time.perf_counter() - started
    size = container.s3.head_object(Bucket=container.settings.lake_bucket, Key=snapshot_key(version))["ContentLength"]

    def snapshot_report() -> None:
        """The same report from the snapshot: Plan pins (one Query), each shard a fresh process
        (one GET and a parse), its range by bisection."""
        assert fresh_snapshots().pin() == version
        name_shards(lambda: fresh_snapshots().at(version))

    cpu = _cpu_seconds(dynamodb_pid)
    snapshot_seconds = best_of(3, snapshot_report)
    snapshot_cpu = (_cpu_seconds(dynamodb_pid) - cpu) / 3

    warm = builder.at(version)  # a warm process (the local workflow's shards, a warm Lambda)
    warm_seconds = best_of(3, lambda: [warm.customers_of(partners, low, high) for low, high in bounds])
    assert sum(len(warm.customers_of(partners, low, high)) for low, high in bounds) == CUSTOMERS

    record(
        "directory_snapshot_20000_customers",
        customers=CUSTOMERS,
        shards=SHARDS,
        dynamodb_report_seconds=round(dynamodb_seconds, 3),
        dynamodb_server_cpu_seconds=round(dynamodb_cpu, 3),
        snapshot_report_seconds=round(snapshot_seconds, 4),
        snapshot_dynamodb_server_cpu_seconds=round(snapshot_cpu, 3),
        snapshot_warm_seconds=round(warm_seconds, 5),
        snapshot_rebuild_seconds=round(rebuild_seconds, 3),
        snapshot_bytes=size,
        ratio_dynamodb_over_snapshot=round(dynamodb_seconds / snapshot_seconds, 1),
    )
    assert snapshot_seconds < dynamodb_seconds
