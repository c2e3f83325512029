"""The local stack's DynamoDB stream readers: never deaf, resumable, and loud when they cannot go on.

Lambda's event source mapping keeps, per shard, the sequence number of the last record a
function took, and goes on after it. `StreamReader` does the same against the local AWS, and does
not chain `NextShardIterator`s: every read asks for a fresh iterator at its own position. So a
stream that the local AWS replaced under it (moto's rollback of a refused transaction, before
local/dynamodb.py kept the shard; a table created again) is read from where the reader is, the
next record neither lost nor read twice.

Its position is the last delivered record's sequence number and a digest of that record
(`StreamPosition`), kept by `StreamPositions` (in `.local/streams.json` for `wbr dev`, so a
restarted stack goes on where it stopped: no settled event is handed again to webhooks created
since). Each read starts AT that record and checks it is still the same one: if the stream no
longer holds it (trimmed; a history that differs from the one the reader delivered), the reader
cannot go on without losing or repeating records. It then stops, says so in the log (ERROR,
repeated every minute) and in the stack's health (`Health`: `.local/health.json`, shown by
`wbr dev --status`), with what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.runtime.observability import logger

OK = "ok"
RETRYING = "retrying"  # the handler (or the local AWS) fails; the batch is tried again
STALLED = "stalled"  # the reader cannot go on; nothing is delivered until someone acts
STALLED_REMINDER_SECONDS = 60.0


@dataclass(frozen=True)
class StreamPosition:
    """The last record delivered from one shard: its sequence number and digest."""

    shard_id: str
    sequence_number: str
    digest: str


def record_digest(record: dict[str, Any]) -> str:
    """What identifies a stream record across restarts of the local AWS: its event, keys and
    images (not its creation time, which a rebuilt table gives anew)."""
    data = record.get("dynamodb", {})
    identity = {
        "eventName": record.get("eventName"),
        "Keys": data.get("Keys"),
        "NewImage": data.get("NewImage"),
        "OldImage": data.get("OldImage"),
        "SequenceNumber": data.get("SequenceNumber"),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:32]


class StreamPositions:
    """Each stream reader's position, by table name; kept in a JSON file when given one
    (written whole to a temporary name and renamed: a crash leaves the old or the new file)."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._positions: dict[str, dict[str, StreamPosition]] = {}
        if path is not None and path.exists():
            self._positions = _read_positions(path)

    def of(self, table: str) -> dict[str, StreamPosition]:
        with self._lock:
            return dict(self._positions.get(table, {}))

    def advance(self, table: str, position: StreamPosition) -> None:
        with self._lock:
            self._positions.setdefault(table, {})[position.shard_id] = position
            if self._path is not None:
                data = {name: [asdict(p) for p in shards.values()] for name, shards in self._positions.items()}
                _write_atomically(self._path, json.dumps(data, indent=1).encode())


def _read_positions(path: Path) -> dict[str, dict[str, StreamPosition]]:
    from chalicelib.local.persistence import DamagedState

    try:
        data = json.loads(path.read_text())
        return {
            table: {entry["shard_id"]: StreamPosition(**entry) for entry in entries} for table, entries in data.items()
        }
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise DamagedState(
            path,
            f"the stream readers' positions cannot be read ({error})",
            "delete it to have the readers start again from each stream's start (settled reports' "
            "webhooks are then delivered again)",
        ) from None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)


class Health:
    """How the local event sources are doing, by source name; in a JSON file when given one
    (what `wbr dev --status` prints). A change of status is logged; a stalled reader loudly."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._sources: dict[str, dict[str, Any]] = {}
        self._reminded: dict[str, float] = {}

    def report(self, source: str, status: str, detail: str = "", remedy: str = "", **facts: Any) -> None:
        with self._lock:
            previous = self._sources.get(source, {})
            changed = previous.get("status") != status or previous.get("detail") != detail
            entry = {
                "status": status,
                "detail": detail,
                "remedy": remedy,
                "since": previous["since"] if not changed and "since" in previous else time.time(),
                **facts,
            }
            self._sources[source] = entry
            now = time.monotonic()
            remind = status == STALLED and now - self._reminded.get(source, 0.0) >= STALLED_REMINDER_SECONDS
            if changed or remind:
                self._reminded[source] = now if status == STALLED else 0.0
                self._announce(source, status, detail, remedy, previous.get("status"))
            if changed and self._path is not None:
                self._write()

    def status(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: dict(entry) for name, entry in self._sources.items()}

    def healthy(self) -> bool:
        return all(entry["status"] == OK for entry in self.status().values())

    def _write(self) -> None:
        assert self._path is not None
        document = {"pid": os.getpid(), "updated": time.time(), "sources": self._sources}
        _write_atomically(self._path, json.dumps(document, indent=1).encode())

    @staticmethod
    def _announce(source: str, status: str, detail: str, remedy: str, previous: str | None) -> None:
        if status == STALLED:
            message = f"{source} CANNOT GO ON: {detail}. {remedy}".strip()
            logger.error(message, extra={"source": source})
            print(f"\n!!! wbr dev: {message}\n", file=sys.stderr, flush=True)
        elif status == RETRYING:
            logger.warning(f"{source}: {detail}", extra={"source": source})
        elif previous not in (None, OK):
            logger.warning(f"{source} goes on again", extra={"source": source})


class StreamStalled(Exception):
    """The reader's position is not in the stream any more."""


class StreamReader:
    """One DynamoDB stream, read in order from a kept position (see the module's docstring)."""

    def __init__(
        self,
        streams: Any,
        stream_arn: str,
        positions: StreamPositions | None = None,
        health: Health | None = None,
        source: str = "",
    ) -> None:
        self._streams = streams
        self._arn = stream_arn
        self.table = stream_arn.split(":", 5)[5].split("/")[1]
        self.source = source or f"stream {self.table}"
        self._positions = positions or StreamPositions()
        self._health = health or Health()
        self._stalled: str | None = None
        self._shard_read = ""  # the shard the last records read came from

    @property
    def stream_arn(self) -> str:
        return self._arn

    def read(self, limit: int) -> list[dict[str, Any]]:
        """The next records after the position (up to `limit`, from the first shard that has
        any); [] when there are none or the reader is stalled. `commit` them once delivered."""
        if self._stalled is not None:
            self._health.report(self.source, STALLED, self._stalled, _REMEDY)
            return []
        try:
            records = self._read(limit)
        except StreamStalled as stalled:
            self._stalled = str(stalled)
            self._health.report(self.source, STALLED, self._stalled, _REMEDY)
            return []
        return records

    def commit(self, records: list[dict[str, Any]]) -> None:
        """The records were delivered: the position moves past the last one."""
        if records:
            last = records[-1]
            self._positions.advance(
                self.table,
                StreamPosition(self._shard_read, last["dynamodb"]["SequenceNumber"], record_digest(last)),
            )
        self._health.report(self.source, OK, position=self.position_text())

    def position_text(self) -> str:
        positions = self._positions.of(self.table)
        return ", ".join(f"{p.shard_id}@{p.sequence_number}" for p in positions.values()) or "start of the stream"

    def _read(self, limit: int) -> list[dict[str, Any]]:
        description = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]
        positions = self._positions.of(self.table)
        for shard in description.get("Shards", []):
            shard_id = shard["ShardId"]
            position = positions.get(shard_id)
            records = self._read_shard(shard, position, limit)
            if records:
                for record in records:
                    record.setdefault("eventSourceARN", self._arn)
                self._shard_read = shard_id
                return records
        return []

    def _read_shard(self, shard: dict[str, Any], position: StreamPosition | None, limit: int) -> list[dict[str, Any]]:
        arguments: dict[str, Any] = {"StreamArn": self._arn, "ShardId": shard["ShardId"]}
        starting = int(shard.get("SequenceNumberRange", {}).get("StartingSequenceNumber", "0"))
        if position is None:
            arguments["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            if int(position.sequence_number) < starting:
                raise StreamStalled(
                    f"the {self.table} stream no longer holds record {position.sequence_number}, the last one "
                    f"this reader delivered (it starts at {starting}): what came after it may be lost"
                )
            arguments.update(ShardIteratorType="AT_SEQUENCE_NUMBER", SequenceNumber=position.sequence_number)
        try:
            iterator = self._streams.get_shard_iterator(**arguments)["ShardIterator"]
            response = self._streams.get_records(ShardIterator=iterator, Limit=limit + (position is not None))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in (
                "TrimmedDataAccessException",
                "ResourceNotFoundException",
            ):
                raise StreamStalled(
                    f"the {self.table} stream cannot be read at this reader's position ({error})"
                ) from None
            raise
        records: list[dict[str, Any]] = response.get("Records", [])
        if position is None:
            return records
        if (
            not records
            or records[0]["dynamodb"]["SequenceNumber"] != position.sequence_number
            or (record_digest(records[0]) != position.digest)
        ):
            raise StreamStalled(
                f"the {self.table} stream's record {position.sequence_number} is not the one this reader "
                "delivered last: the stream's history differs from the one it read (the local state was "
                "restored from elsewhere, or damaged)"
            )
        return records[1:]


_REMEDY = (
    "Nothing more is delivered from this stream (webhooks, report regeneration) until it is dealt with: "
    "restart with `wbr dev --fresh` (make run-fresh) to start over, or delete the reader's entry in "
    "the state folder's streams.json to have it read the stream again from its start."
)
