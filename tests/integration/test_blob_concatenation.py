"""Assemble's join of report parts through moto's S3 (adapters/s3_blob_store.py): copied inside S3
when the parts allow it, streamed otherwise; either way the same bytes and the same sha256."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.s3_blob_store import COPY_PART_MIN_BYTES, S3BlobStore

BUCKET = "reports"


@pytest.fixture
def store() -> Any:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield S3BlobStore(client, BUCKET), client


def _parts(client: Any, sizes: list[int]) -> tuple[list[str], bytes]:
    rng = random.Random(len(sizes))
    keys, whole = [], b""
    for index, size in enumerate(sizes):
        body = rng.randbytes(size)
        key = f"parts/part-{index:05d}.csv"
        client.put_object(Bucket=BUCKET, Key=key, Body=body)
        keys.append(key)
        whole += body
    return keys, whole


def _read(client: Any, key: str) -> bytes:
    return client.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def test_large_parts_are_copied_inside_s3_with_the_whole_files_hash(store):
    blobs, client = store
    sizes = [COPY_PART_MIN_BYTES, COPY_PART_MIN_BYTES + 17, 1234]  # the last part may be small
    keys, whole = _parts(client, sizes)
    calls: list[str] = []
    client.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    size, sha256 = blobs.concatenate("report.csv", b"", keys, sizes)
    assert (size, sha256) == (len(whole), hashlib.sha256(whole).hexdigest())
    assert _read(client, "report.csv") == whole
    assert calls.count("UploadPartCopy") == 3 and "UploadPart" not in calls


@pytest.mark.parametrize(
    "sizes, known",
    [
        ([1000, 2000, 3000], True),  # parts under S3's 5 MiB minimum
        ([COPY_PART_MIN_BYTES, COPY_PART_MIN_BYTES], False),  # sizes not given (a part from before sizes)
    ],
    ids=["small parts", "sizes unknown"],
)
def test_other_parts_are_streamed_with_the_same_result(store, sizes, known):
    blobs, client = store
    keys, whole = _parts(client, sizes)
    calls: list[str] = []
    client.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
    size, sha256 = blobs.concatenate("report.csv", b"", keys, sizes if known else [None] * len(sizes))
    assert (size, sha256) == (len(whole), hashlib.sha256(whole).hexdigest())
    assert _read(client, "report.csv") == whole
    assert "UploadPartCopy" not in calls


def test_a_header_is_streamed_in_front(store):
    blobs, client = store
    sizes = [COPY_PART_MIN_BYTES, 10]
    keys, whole = _parts(client, sizes)
    size, sha256 = blobs.concatenate("report.csv", b"A,B\r\n", keys, sizes)
    assert _read(client, "report.csv") == b"A,B\r\n" + whole
    assert (size, sha256) == (len(whole) + 5, hashlib.sha256(b"A,B\r\n" + whole).hexdigest())


def test_a_failed_copy_leaves_no_object_and_no_open_upload(store):
    blobs, client = store
    sizes = [COPY_PART_MIN_BYTES, 10]
    keys, _ = _parts(client, sizes)
    client.delete_object(Bucket=BUCKET, Key=keys[1])  # a part gone meanwhile
    with pytest.raises(client.exceptions.ClientError):
        blobs.concatenate("report.csv", b"", keys, sizes)
    assert "Contents" not in client.list_objects_v2(Bucket=BUCKET, Prefix="report.csv")
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
