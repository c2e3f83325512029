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


def test_writers_in_separate_processes_each_get_one_new_per_id(s3_server):
    """Each writer its own index (as two `wbr ingest` workers, or an ingest beside the SQS handler):
    nothing shared in memory, only the conditional PUT of each bucket's next segment."""
    bucket = "wbr-index-test"
    ids = [f"ev-{n}" for n in range(200)]
    s3_server.put_object(Bucket=bucket, Key="events/date=2026-11-01/b.parquet", Body=b"landed")  # (else: land again)

    def writer(name: str) -> dict:
        index = S3EventIdIndex(s3_server, bucket)
        first = index.register((event_id, b"same", "events/date=2026-11-01/b.parquet") for event_id in ids[:100])
        second = index.register((event_id, name.encode(), "events/date=2026-11-01/b.parquet") for event_id in ids[100:])
        return {**first, **second}

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(writer, ["w1", "w2", "w3", "w4"]))
    for event_id in ids[:100]:  # the same content from every writer: one registers it, the rest see it
        verdicts = sorted(result[event_id].verdict.value for result in results)
        assert verdicts.count("new") == 1 and set(verdicts) <= {"new", "duplicate"}, (event_id, verdicts)
    for event_id in ids[100:]:  # other content from every writer: one registers it, the rest conflict
        verdicts = sorted(result[event_id].verdict.value for result in results)
        assert verdicts == ["conflict", "conflict", "conflict", "new"], (event_id, verdicts)


def test_compaction_keeps_every_id_and_the_newest_entry(s3_server, monkeypatch):
    import chalicelib.adapters.event_ids as event_ids

    monkeypatch.setattr(event_ids, "COMPACT_AFTER", 3)
    bucket = "wbr-index-test"
    writer = S3EventIdIndex(s3_server, bucket)
    for batch in range(7):
        key = f"events/date=2026-11-0{batch + 1}/b.parquet"
        s3_server.put_object(Bucket=bucket, Key=key, Body=b"landed")
        verdicts = writer.register((f"ev-{batch}-{n}", b"d", key) for n in range(50))
        assert {registered.verdict for registered in verdicts.values()} == {Verdict.NEW}
    # an id registered but never landed, registered again: its newest entry is the one that landed
    assert writer.register([("ev-lost", b"d", "events/date=2026-11-09/lost.parquet")])["ev-lost"].verdict is Verdict.NEW
    s3_server.put_object(Bucket=bucket, Key="events/date=2026-11-09/found.parquet", Body=b"landed")
    assert writer.register([("ev-lost", b"d", "events/date=2026-11-09/found.parquet")])["ev-lost"].verdict is Verdict.NEW
    for _ in range(3):  # compact past it
        writer.register([(f"ev-pad-{_}", b"d", "events/date=2026-11-09/found.parquet")])
    keys = [entry["Key"] for entry in s3_server.list_objects_v2(Bucket=bucket, Prefix="event-ids/v2/")["Contents"]]
    assert any("/base-" in key for key in keys)
    reader = S3EventIdIndex(s3_server, bucket)  # a new process: reads bases and later segments only
    again = reader.register((f"ev-{batch}-{n}", b"d", "x") for batch in range(7) for n in range(50))
    assert {registered.verdict for registered in again.values()} == {Verdict.DUPLICATE}
    assert reader.register([("ev-lost", b"d", "y")])["ev-lost"].verdict is Verdict.DUPLICATE
    assert reader.register([("ev-0-1", b"other", "y")])["ev-0-1"].landed_in == "events/date=2026-11-01/b.parquet"
