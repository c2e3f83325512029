"""The event log and the dead letters, in the lake bucket (ARCHITECTURE.md §4).

Accepted events are appended, never rewritten, as Parquet batches partitioned by the UTC day
they occurred: ``events/date=D/batch-<ingest id>.parquet``. Lines that fail validation are kept
with their reason as NDJSON under ``dead-letters/date=<received day>/<id>.ndjson``.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from chalicelib.adapters.event_screen import EVENT_SCHEMA, conform_records
from chalicelib.domain.events import EVENT_FIELDS
from chalicelib.domain.proration import SECONDS_PER_DAY, epoch_day


class S3EventLog:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    @staticmethod
    def new_batch_id() -> str:
        return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"

    @staticmethod
    def object_key(day: date, batch_id: str) -> str:
        """Where a batch's events of `day` land."""
        return f"events/date={day.isoformat()}/batch-{batch_id}.parquet"

    def append(self, records: list[dict[str, Any]], batch_id: str | None = None) -> list[date]:
        """Append validated event records; returns the days they occurred on."""
        if not records:
            return []
        table = pa.table({name: [record[name] for record in records] for name in EVENT_FIELDS}, schema=EVENT_SCHEMA)
        return self._write_by_day(table, batch_id)

    def append_table(self, table: pa.Table, batch_id: str | None = None) -> list[date]:
        """Append validated event records (EVENT_SCHEMA columns); returns the days they occurred on."""
        if not table.num_rows:
            return []
        return self._write_by_day(table.select(list(EVENT_FIELDS)).cast(EVENT_SCHEMA), batch_id)

    def _write_by_day(self, table: pa.Table, batch_id: str | None = None) -> list[date]:
        """One Parquet object per UTC day of occurrence (rows of a day are one slice once sorted)."""
        day_numbers = pc.divide(table["occurred_at"], SECONDS_PER_DAY)  # integer division: days since 1970
        order = pc.sort_indices(day_numbers)
        table = table.take(order)
        day_numbers = day_numbers.take(order)
        batch_id = batch_id or self.new_batch_id()
        days = []
        values, counts = pc.value_counts(day_numbers).flatten()
        start = 0
        uploads = []
        with ThreadPoolExecutor(max_workers=8, thread_name_prefix="event-log-put") as uploader:
            for day_number, count in sorted(zip(values.to_pylist(), counts.to_pylist(), strict=True)):
                day = epoch_day(day_number * SECONDS_PER_DAY)
                sink = io.BytesIO()
                pq.write_table(table.slice(start, count), sink, compression="zstd")
                start += count
                uploads.append(
                    uploader.submit(
                        self._s3.put_object,
                        Bucket=self._bucket,
                        Key=self.object_key(day, batch_id),
                        Body=sink.getvalue(),
                        ServerSideEncryption="AES256",
                    )
                )
                days.append(day)
            for upload in uploads:
                upload.result()  # any failed put fails the append (the caller retries the input)
        return days

    def read_day(self, day: date, event_types: Iterable[str] | None = None) -> pa.Table:
        """Every event logged for `day` (duplicates included), optionally of some types."""
        tables = []
        for key in self._keys(f"events/date={day.isoformat()}/"):
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
            filters = [("event_type", "in", list(event_types))] if event_types else None
            tables.append(conform_records(pq.read_table(pa.BufferReader(body), filters=filters)))
        return pa.concat_tables(tables) if tables else EVENT_SCHEMA.empty_table()

    def event_days(self) -> list[date]:
        """The days that have logged events, ascending."""
        days = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix="events/date=", Delimiter="/"):
            for prefix in page.get("CommonPrefixes", []):
                days.append(date.fromisoformat(prefix["Prefix"].removeprefix("events/date=").rstrip("/")))
        return sorted(days)

    def incoming_lines(self, key: str) -> Iterator[bytes]:
        """Stream the lines of an object dropped under `incoming/`."""
        body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"]
        yield from body.iter_lines(chunk_size=1024 * 1024, keepends=True)

    def archive_incoming(self, key: str) -> str:
        """Move an ingested drop to `archive/<key>` (the event log now holds its events)."""
        target = f"archive/{key}"
        self._s3.copy_object(
            Bucket=self._bucket,
            Key=target,
            CopySource={"Bucket": self._bucket, "Key": key},
            ServerSideEncryption="AES256",
        )
        self._s3.delete_object(Bucket=self._bucket, Key=key)
        return target

    def _keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            keys.extend(entry["Key"] for entry in page.get("Contents", []) if entry["Key"].endswith(".parquet"))
        return sorted(keys)


class S3DeadLetters:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket

    def put(self, rejected: list[tuple[str, str]], source: str) -> str | None:
        """Keep rejected (line, reason) pairs; returns the object key (None when nothing)."""
        if not rejected:
            return None
        received = datetime.now(timezone.utc)
        key = f"dead-letters/date={received.date().isoformat()}/{received:%H%M%S}-{uuid.uuid4().hex[:12]}.ndjson"
        body = "".join(
            json.dumps({"reason": reason, "line": line, "source": source, "receivedAt": received.isoformat()}) + "\n"
            for line, reason in rejected
        )
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body.encode(), ServerSideEncryption="AES256")
        return key

    def read_all(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix="dead-letters/"):
            for entry in page.get("Contents", []):
                body = self._s3.get_object(Bucket=self._bucket, Key=entry["Key"])["Body"].read().decode()
                records.extend(json.loads(line) for line in body.splitlines() if line)
        return records
