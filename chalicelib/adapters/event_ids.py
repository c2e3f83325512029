"""The eventId index (ARCHITECTURE.md §4): which events were ever ingested, across all days.

`event-ids/<bucket>.parquet` in the lake bucket, 256 buckets by a hash of the id, each holding
(event_id, digest of the event's content, the event-log object it landed in). A bucket is
rewritten with a conditional PUT (If-Match its ETag, or If-None-Match for a new one), so
concurrent ingestions never lose each other's ids: the loser reads the bucket again.

An id is registered before its event lands in the log. If the process dies in between, the
entry names an object that does not exist; the next delivery of the event then finds it missing
and lands the event again (never dropped as a duplicate of nothing).
"""

from __future__ import annotations

import hashlib
import io
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from chalicelib.domain.events import Registered, Verdict

BUCKETS = 256
_SCHEMA = pa.schema([("event_id", pa.string()), ("digest", pa.binary()), ("object_key", pa.string())])
_THREADS = 16
_ATTEMPTS = 20


def bucket_of(event_id: str) -> int:
    return hashlib.blake2b(event_id.encode("utf-8"), digest_size=2).digest()[0]


class S3EventIdIndex:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def register(self, events: Iterable[tuple[str, bytes, str]]) -> dict[str, Registered]:
        """Register (event_id, content digest, object key it will land in) triples; the verdict
        of each id. Ids must be unique within one call."""
        by_bucket: dict[int, list[tuple[str, bytes, str]]] = defaultdict(list)
        for entry in events:
            by_bucket[bucket_of(entry[0])].append(entry)
        verdicts: dict[str, Registered] = {}
        landed: dict[str, bool] = {}  # event-log object → exists, shared by the buckets of this call
        with ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="event-ids") as pool:
            for result in pool.map(lambda item: self._register_bucket(item[0], item[1], landed), by_bucket.items()):
                verdicts.update(result)
        return verdicts

    def _register_bucket(
        self, bucket: int, entries: list[tuple[str, bytes, str]], landed: dict[str, bool]
    ) -> dict[str, Registered]:
        key = f"event-ids/{bucket:03d}.parquet"
        for _ in range(_ATTEMPTS):
            known, etag = self._read(key)
            verdicts: dict[str, Registered] = {}
            changed = False
            for event_id, digest, object_key in entries:
                previous = known.get(event_id)
                if previous is None:
                    known[event_id] = (digest, object_key)
                    verdicts[event_id] = Registered(Verdict.NEW)
                    changed = True
                elif previous[0] != digest:
                    verdicts[event_id] = Registered(Verdict.CONFLICT, previous[1])
                elif self._exists(previous[1], landed):
                    verdicts[event_id] = Registered(Verdict.DUPLICATE)
                else:  # registered, but its landing never happened: land it now
                    known[event_id] = (digest, object_key)
                    verdicts[event_id] = Registered(Verdict.NEW)
                    changed = True
            if not changed or self._write(key, known, etag):
                return verdicts
        raise RuntimeError(f"{key}: too many concurrent writers")

    def _read(self, key: str) -> tuple[dict[str, tuple[bytes, str]], str | None]:
        try:
            response = self._s3.get_object(Bucket=self._bucket, Key=key)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                return {}, None
            raise
        table = pq.read_table(pa.BufferReader(response["Body"].read()))
        ids, digests, keys = (table[name].to_pylist() for name in _SCHEMA.names)
        return {event_id: (digest, key) for event_id, digest, key in zip(ids, digests, keys, strict=True)}, response[
            "ETag"
        ]

    def _write(self, key: str, known: dict[str, tuple[bytes, str]], etag: str | None) -> bool:
        table = pa.table(
            {
                "event_id": list(known),
                "digest": [value[0] for value in known.values()],
                "object_key": [value[1] for value in known.values()],
            },
            schema=_SCHEMA,
        )
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd", use_dictionary=["object_key"])
        condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
        try:
            self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=sink.getvalue(), ServerSideEncryption="AES256", **condition
            )
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict", "412"):
                return False
            raise

    def _exists(self, object_key: str, cache: dict[str, bool]) -> bool:
        if object_key not in cache:
            try:
                self._s3.head_object(Bucket=self._bucket, Key=object_key)
                cache[object_key] = True
            except ClientError as error:
                if error.response["Error"]["Code"] not in ("NoSuchKey", "404", "NotFound"):
                    raise
                cache[object_key] = False
        return cache[object_key]
