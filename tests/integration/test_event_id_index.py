"""The eventId index against moto's S3: one event per id across all days and all writers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from chalicelib.adapters.event_ids import S3EventIdIndex
from chalicelib.domain.events import Verdict


@pytest.fixture
def s3_server() -> Iterator[Any]:
    """S3 on a threaded moto server, as `wbr dev` serves it. In process (mock_aws), moto's S3
    closes an object's file while another thread still reads it (a ValueError that no real S3,
    and no server, ever gives: there it is a 500 that botocore retries)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                              aws_access_key_id="local", aws_secret_access_key="local")
        client.create_bucket(Bucket="wbr-index-test")
        yield client
    finally:
        server.stop()


def test_the_same_id_from_concurrent_writers_is_new_once_and_a_conflict_otherwise(s3_server):
    bucket = "wbr-index-test"
    index = S3EventIdIndex(s3_server, bucket)
    ids = [f"ev-{n}" for n in range(64)]  # 64 ids over 4 writers: every id raced, most buckets shared

    def writer(name: str) -> dict:
        return index.register(
            (event_id, name.encode(), f"events/date=2026-11-0{name[-1]}/b.parquet") for event_id in ids
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(writer, ["w1", "w2", "w3", "w4"]))
    for event_id in ids:
        verdicts = sorted(result[event_id].verdict.value for result in results)
        assert verdicts == ["conflict", "conflict", "conflict", "new"], (event_id, verdicts)


def test_an_id_whose_landing_never_happened_is_new_again_then_a_duplicate_once_landed(container):
    bucket = container.settings.lake_bucket
    index = S3EventIdIndex(container.s3, bucket)
    key = "events/date=2026-11-03/batch-x.parquet"
    assert index.register([("ev-1", b"d", key)])["ev-1"].verdict is Verdict.NEW
    # the process died before landing: the same event again must land, not be dropped
    assert index.register([("ev-1", b"d", key)])["ev-1"].verdict is Verdict.NEW
    container.s3.put_object(Bucket=bucket, Key=key, Body=b"landed")
    assert (
        index.register([("ev-1", b"d", "events/date=2026-11-03/batch-y.parquet")])["ev-1"].verdict is Verdict.DUPLICATE
    )
    conflict = index.register([("ev-1", b"other", key)])["ev-1"]
    assert conflict.verdict is Verdict.CONFLICT and conflict.landed_in == key
