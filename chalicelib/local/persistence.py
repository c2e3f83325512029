"""The local AWS keeps its state on disk (ARCHITECTURE.md §8; README "State that survives").

moto keeps everything in memory; `wbr dev`'s two moto servers (local/aws.py) write what they
acknowledge under the state folder's `aws/` before they answer, and load it when they start:

- DynamoDB (its server answers one request at a time, so its order is the order of the writes):
  a journal of every request that may write, appended before the answer goes out
  (`dynamodb.<generation>.journal`), and a snapshot of the tables, their items and their streams
  (`dynamodb.snapshot`, a pickle of moto's tables) that replaces the journal when the server
  stops, after 20 000 journalled writes, and after a start that replayed one. A start loads the
  snapshot and replays the journal with moto's clock at each write's time, so tables, items,
  stream records and their sequence numbers are the same as before: the stream readers
  (local/streams.py) go on from their kept positions.
- S3: one file per object (`s3/<bucket>/objects/…`, moto's own state of the key: bytes, ETag,
  metadata, time) and one per bucket (its configuration), written when a request that changed
  them ends, before its answer; a deleted object's file goes.
- SQS: one file per queue with its messages (their delays and receive counts; a message being
  received at the crash is visible again, as after a Lambda timeout), rewritten when a request
  changed them.

Every file is sealed: a header and the SHA-256 of its content (whole files are written to a
temporary name and renamed, so a crash leaves the old or the new one); every journal record
carries its length and CRC-32. A damaged file stops the server with `DamagedState` (the path,
the problem, what to do), never an empty stack; the one exception is a journal's last record cut
short by a crash: it was never acknowledged, and is dropped with a warning.

Writes reach the operating system before the answer (they survive a `kill -9` of every process);
snapshots and object files are not fsync'ed one by one, so a power cut may lose the last seconds.
The pickles are moto's classes: a state written by another moto version is reported, not guessed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MAGIC = b"wbr-local-state 1\n"
SNAPSHOT_EVERY = 20_000  # journalled DynamoDB writes
_RECORD_HEADER = struct.Struct(">II")  # length, CRC-32 of the payload
# DynamoDB operations that never write (not journalled); any other one is.
_READ_ONLY = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "DescribeTable",
        "ListTables",
        "DescribeTimeToLive",
        "TransactGetItems",
        "DescribeContinuousBackups",
        "ListTagsOfResource",
        "DescribeEndpoints",
        "DescribeLimits",
        "ListBackups",
        "DescribeBackup",
        "ListGlobalTables",
        "DescribeGlobalTable",
        "DescribeKinesisStreamingDestination",
        "DescribeTableReplicaAutoScaling",
        "DescribeContributorInsights",
        "ListContributorInsights",
        "ListExports",
        "ListImports",
        "DescribeExport",
        "DescribeImport",
        "GetResourcePolicy",
    }
)
START_OVER = "`wbr dev --fresh` (make run-fresh) starts over with an empty local state (the demo is loaded again)"


class DamagedState(Exception):
    """A state file that cannot be trusted: where, what is wrong, and what to do."""

    def __init__(self, path: Path, problem: str, remedy: str = "") -> None:
        super().__init__(path, problem, remedy)
        self.path, self.problem, self.remedy = path, problem, remedy

    def __str__(self) -> str:
        remedy = self.remedy or "move it aside (its content is then lost) and start again"
        return (
            f"the local state is damaged: {self.path}: {self.problem}.\n"
            f"Nothing was changed. To keep the rest of the state: {remedy}; or {START_OVER}."
        )


# ---- sealed files and journals ------------------------------------------------------------


def seal(payload: bytes) -> bytes:
    return MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


def unseal(path: Path, data: bytes) -> bytes:
    header = len(MAGIC) + 65
    if not data.startswith(MAGIC) or len(data) < header:
        raise DamagedState(path, "it is not a state file of this version, or it is cut short")
    digest, payload = data[len(MAGIC) : header - 1], data[header:]
    if hashlib.sha256(payload).hexdigest().encode() != digest:
        raise DamagedState(path, "its content does not match its checksum (half-written or altered)")
    return payload


def write_sealed(path: Path, payload: bytes, durable: bool = False) -> None:
    """Write whole or not at all: a temporary file renamed over `path` (fsync'ed if `durable`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{threading.get_ident()}.tmp")
    with open(temporary, "wb") as file:
        file.write(seal(payload))
        if durable:
            file.flush()
            os.fsync(file.fileno())
    os.replace(temporary, path)


def read_sealed(path: Path) -> bytes:
    try:
        return unseal(path, path.read_bytes())
    except OSError as error:
        raise DamagedState(path, f"it cannot be read ({error})") from None


def load_pickle(path: Path) -> Any:
    payload = read_sealed(path)
    try:
        return pickle.loads(payload)  # noqa: S301 - our own file, checked against its checksum
    except Exception as error:  # noqa: BLE001 - whatever unpickling raises, the file is unusable
        raise DamagedState(path, f"its content cannot be loaded ({error!r}; moto {_moto_version()} here)") from None


class Journal:
    """Records appended to a file, each `length, CRC-32, payload`, each with one write(2)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.records = 0

    def append(self, payload: bytes) -> None:
        os.write(self._fd, _RECORD_HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
        self.records += 1

    def close(self) -> None:
        os.close(self._fd)

    @staticmethod
    def read(path: Path) -> tuple[list[bytes], int]:
        """The records, and the offset where a last record cut short by a crash starts (the
        file's size if none). A record that is whole but does not match its CRC is damage."""
        data = path.read_bytes()
        records: list[bytes] = []
        offset = 0
        while offset < len(data):
            if offset + _RECORD_HEADER.size > len(data):
                return records, offset
            length, crc = _RECORD_HEADER.unpack_from(data, offset)
            start = offset + _RECORD_HEADER.size
            if start + length > len(data):
                return records, offset
            payload = data[start : start + length]
            if zlib.crc32(payload) != crc:
                raise DamagedState(
                    path, f"its record {len(records) + 1} (at byte {offset}) does not match its checksum"
                )
            records.append(payload)
            offset = start + length
        return records, offset


def _moto_version() -> str:
    import moto

    return str(moto.__version__)


def _warn(message: str) -> None:
    print(f"local AWS: {message}", file=sys.stderr, flush=True)


# ---- WSGI plumbing ------------------------------------------------------------------------

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _call(app: WsgiApp, environ: dict[str, Any], start_response: Callable[..., Any]) -> tuple[str, list[bytes]]:
    """Run the app to the end (its whole answer in memory); its status line and body."""
    status: list[str] = []

    def capture(line: str, headers: Any, exc_info: Any = None) -> Any:
        status.append(line)
        return start_response(line, headers, exc_info)

    result = app(environ, capture)
    try:
        body = list(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return (status[-1] if status else "500"), body


def _body_of(environ: dict[str, Any]) -> bytes:
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    body = stream.read(int(length)) if length else stream.read()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


# ---- DynamoDB: journal + snapshot ------------------------------------------------------------


@contextmanager
def _moto_clock(at: float) -> Iterator[None]:
    """moto's DynamoDB reads the time for tables' and streams' creation and stream records:
    a replayed write gets the time it was first made (the same stream label, so the same ARN)."""
    from moto.dynamodb.models import table as table_module

    original = table_module.utcnow
    table_module.utcnow = lambda: datetime.fromtimestamp(at, timezone.utc).replace(tzinfo=None)
    try:
        yield
    finally:
        table_module.utcnow = original


class DynamoDBState:
    """The DynamoDB server's state folder: `load` it before serving, then serve `app(moto_app)`."""

    def __init__(self, folder: Path, snapshot_every: int = SNAPSHOT_EVERY) -> None:
        self.folder = folder
        self.snapshot_path = folder / "dynamodb.snapshot"
        self.generation = 0
        self.snapshot_every = snapshot_every
        self._journal: Journal | None = None

    def _journal_path(self, generation: int) -> Path:
        return self.folder / f"dynamodb.{generation}.journal"

    def load(self, moto_app: WsgiApp) -> dict[str, int]:
        """Snapshot, then journal; what was loaded. Raises DamagedState."""
        from moto.dynamodb.models import dynamodb_backends

        self.folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.folder.glob(".*.tmp"):
            leftover.unlink()
        tables = 0
        if self.snapshot_path.exists():
            snapshot = load_pickle(self.snapshot_path)
            if snapshot.get("moto") != _moto_version():
                raise DamagedState(
                    self.snapshot_path,
                    f"it was written with moto {snapshot.get('moto')}, and moto {_moto_version()} is installed",
                    f"reinstall moto {snapshot.get('moto')} (make install on the commit that wrote it)",
                )
            self.generation = int(snapshot["generation"])
            for account_id, regions in snapshot["tables"].items():
                for region, by_name in regions.items():
                    dynamodb_backends[account_id][region].tables = by_name
                    tables += len(by_name)
        journals = sorted(self.folder.glob("dynamodb.*.journal"))
        current = self._journal_path(self.generation)
        for journal in journals:
            if journal != current:
                generation = int(journal.name.split(".")[1])
                if generation > self.generation:
                    raise DamagedState(journal, f"it follows a snapshot ({generation}) that is missing")
                journal.unlink()  # replaced by the snapshot
        replayed = 0
        if current.exists():
            records, end = Journal.read(current)
            if end < current.stat().st_size:
                _warn(
                    f"{current}: its last record was cut short by a crash (a write that was never "
                    f"acknowledged); dropped it, kept the {len(records)} before it"
                )
                with open(current, "r+b") as file:
                    file.truncate(end)
            for payload in records:
                self._replay(moto_app, payload, current, replayed + 1)
                replayed += 1
        self._journal = Journal(current)
        if replayed:
            self.snapshot()
        return {"tables": tables, "replayed": replayed}

    def _replay(self, moto_app: WsgiApp, payload: bytes, path: Path, number: int) -> None:
        from werkzeug.test import EnvironBuilder, run_wsgi_app

        try:
            record = json.loads(payload)
            headers: dict[str, str] = {
                "X-Amz-Target": record["target"],
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": (
                    f"AWS4-HMAC-SHA256 Credential={record['key']}/20000101/{record['region']}/dynamodb/aws4_request, "
                    "SignedHeaders=host, Signature=0"
                ),
            }
            environ = EnvironBuilder(
                method="POST", path="/", headers=list(headers.items()), data=record["body"]
            ).get_environ()
            with _moto_clock(record["time"]):
                _, status, _ = run_wsgi_app(moto_app, environ, buffered=True)
        except (ValueError, KeyError, TypeError) as error:
            raise DamagedState(path, f"its record {number} cannot be read ({error!r})") from None
        if not status.startswith("200"):
            raise DamagedState(
                path,
                f"its record {number} ({record['target']}) was refused when replayed ({status}): the journal "
                "does not follow from the snapshot",
            )

    def snapshot(self) -> None:
        """Write the tables as they are now, and start an empty journal after them."""
        from moto.dynamodb.models import dynamodb_backends

        tables = {
            account_id: {region: backend.tables for region, backend in regions.items()}
            for account_id, regions in dynamodb_backends.items()
        }
        generation = self.generation + 1
        payload = pickle.dumps({"moto": _moto_version(), "generation": generation, "tables": tables}, protocol=5)
        write_sealed(self.snapshot_path, payload, durable=True)
        old = self._journal_path(self.generation)
        if self._journal is not None:
            self._journal.close()
        self.generation = generation
        self._journal = Journal(self._journal_path(generation))
        old.unlink(missing_ok=True)

    def close(self) -> None:
        """On a clean stop: a snapshot, so the next start replays nothing."""
        if self._journal is not None and self._journal.records:
            self.snapshot()

    def app(self, moto_app: WsgiApp) -> WsgiApp:
        def journalled(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            service, _, operation = target.partition(".")
            if service != "DynamoDB_20120810" or operation in _READ_ONLY:
                return moto_app(environ, start_response)
            body = _body_of(environ)
            now = time.time()
            with _moto_clock(now):  # the time its replay will see
                status, answer = _call(moto_app, environ, start_response)
            if status.startswith("200"):
                assert self._journal is not None
                key, region = _credential_scope(environ.get("HTTP_AUTHORIZATION", ""))
                record = {"time": now, "target": target, "key": key, "region": region, "body": body.decode()}
                self._journal.append(json.dumps(record).encode())
                if self._journal.records >= self.snapshot_every:
                    self.snapshot()
            return answer

        return journalled


def _credential_scope(authorization: str) -> tuple[str, str]:
    """The access key and region a request was signed for (moto picks account and region by them)."""
    _, _, rest = authorization.partition("Credential=")
    parts = rest.split(",", 1)[0].split("/")
    return (parts[0] or "local", parts[2]) if len(parts) >= 3 else ("local", "us-east-1")


# ---- S3 and SQS: a file per object, per bucket and per queue --------------------------------

_dirty = threading.local()


def _mark(kind: str, *key: Any) -> None:
    marks = getattr(_dirty, "marks", None)
    if marks is not None:
        marks.add((kind, *key))


def _track_s3_writes() -> None:
    """Note, in the request's thread, every bucket and object a backend method may have changed."""
    import inspect

    from moto.s3.models import FakeKey, S3Backend

    if getattr(S3Backend, "_wbr_tracked", False):
        return
    prefixes = ("put_", "delete_", "create_", "complete_", "copy_", "set_", "restore_", "_set_delete_marker")
    for name, method in list(vars(S3Backend).items()):
        if not inspect.isfunction(method) or not name.startswith(prefixes):
            continue
        signature = inspect.signature(method)

        def tracked(self: Any, *args: Any, __method: Any = method, __signature: Any = signature, **kwargs: Any) -> Any:
            result = __method(self, *args, **kwargs)
            bound = __signature.bind_partial(self, *args, **kwargs).arguments
            where = (self.account_id, self.partition)
            if "bucket_name" in bound and "key_name" in bound:
                _mark("object", *where, bound["bucket_name"], bound["key_name"])
            elif "bucket_name" in bound:
                _mark("bucket", *where, bound["bucket_name"])
            for value in bound.values():
                if isinstance(value, FakeKey):
                    _mark("object", *where, value.bucket_name, value.name)
            if isinstance(result, FakeKey):
                _mark("object", *where, result.bucket_name, result.name)
            return result

        tracked.__name__ = name
        setattr(S3Backend, name, tracked)
    S3Backend._wbr_tracked = True  # type: ignore[attr-defined]


_BUCKET_OWN = ("keys", "multiparts", "name", "account_id", "partition", "region_name", "creation_date")
_QUEUE_OWN = ("_messages", "_pending_messages", "deleted_messages", "_messages_lock")


class ObjectsState:
    """The S3 + SQS server's state folder: `load` it before serving, then serve `app(moto_app)`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._locks = [threading.Lock() for _ in range(64)]
        self._queues_lock = threading.Lock()
        self._queues: dict[Path, tuple[str, ...]] = {}

    # where things go
    def _bucket_dir(self, bucket: str) -> Path:
        return self.folder / "s3" / bucket

    def _object_path(self, bucket: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self._bucket_dir(bucket) / "objects" / digest[:2] / digest

    def _queue_path(self, account_id: str, region: str, name: str) -> Path:
        return self.folder / "sqs" / account_id / region / f"{name}.queue"

    # loading
    def load(self) -> dict[str, int]:
        from moto.s3.models import FakeKey, s3_backends
        from moto.sqs.models import Message, Queue, sqs_backends

        _track_s3_writes()
        self.folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.folder.rglob(".*.tmp"):
            leftover.unlink()
        loaded = {"buckets": 0, "objects": 0, "queues": 0, "messages": 0}
        for bucket_file in sorted((self.folder / "s3").glob("*/bucket")):
            saved = load_pickle(bucket_file)
            backend = s3_backends[saved["account_id"]][saved["partition"]]
            bucket = backend.create_bucket(saved["name"], saved["region_name"])
            bucket.__dict__.update(saved["state"])
            loaded["buckets"] += 1
            for object_file in bucket_file.parent.glob("objects/*/*"):
                state = load_pickle(object_file)
                key: Any = FakeKey.__new__(FakeKey)
                key.__setstate__(state)
                bucket.keys.setlist(key.name, [key])
                loaded["objects"] += 1
        for queue_file in sorted((self.folder / "sqs").glob("*/*/*.queue")):
            saved = load_pickle(queue_file)
            queue: Any = Queue.__new__(Queue)
            queue.__dict__.update(saved["state"])
            queue._messages, queue._pending_messages, queue.deleted_messages = [], set(), set()
            queue._messages_lock = threading.Condition()
            for message_state in saved["messages"]:
                message: Any = Message.__new__(Message)
                message.__dict__.update(message_state)
                queue._messages.append(message)
            sqs_backends[saved["account_id"]][saved["region"]].queues[queue.name] = queue
            self._queues[queue_file] = tuple(message.id for message in queue._messages)
            loaded["queues"] += 1
            loaded["messages"] += len(saved["messages"])
        return loaded

    # saving
    def app(self, moto_app: WsgiApp) -> WsgiApp:
        def persisted(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("REQUEST_METHOD") in ("GET", "HEAD", "OPTIONS"):
                return moto_app(environ, start_response)
            _dirty.marks = set()
            try:
                _, answer = _call(moto_app, environ, start_response)
                self._save(_dirty.marks)
            finally:
                _dirty.marks = None
            return answer

        return persisted

    def _save(self, marks: set[tuple[Any, ...]]) -> None:
        from moto.s3.models import FakeKey, s3_backends

        for mark in sorted(marks, key=str):
            kind, account_id, partition, bucket_name = mark[:4]
            bucket = s3_backends[account_id][partition].buckets.get(bucket_name)
            if kind == "bucket":
                self._save_bucket(bucket_name, bucket)
                continue
            key_name = mark[4]
            path = self._object_path(bucket_name, key_name)
            with self._locks[hash(path) % len(self._locks)]:
                key = bucket.keys.get(key_name) if bucket is not None else None
                if isinstance(key, FakeKey):
                    state = key.__getstate__()
                    state["multipart"] = None  # its parts are in the value already
                    write_sealed(path, pickle.dumps(state, protocol=5))
                else:
                    path.unlink(missing_ok=True)
        self._save_queues()

    def _save_bucket(self, name: str, bucket: Any) -> None:
        folder = self._bucket_dir(name)
        with self._locks[hash(folder) % len(self._locks)]:
            if bucket is None:
                for path in sorted(folder.rglob("*"), reverse=True) if folder.exists() else []:
                    path.rmdir() if path.is_dir() else path.unlink()
                if folder.exists():
                    folder.rmdir()
                return
            state = {key: value for key, value in vars(bucket).items() if key not in _BUCKET_OWN}
            saved = {
                "account_id": bucket.account_id,
                "partition": bucket.partition,
                "name": bucket.name,
                "region_name": bucket.region_name,
                "state": state,
            }
            write_sealed(folder / "bucket", pickle.dumps(saved, protocol=5))

    def _save_queues(self) -> None:
        from moto.sqs.models import sqs_backends

        with self._queues_lock:
            present = set()
            for account_id, regions in list(sqs_backends.items()):
                for region, backend in list(regions.items()):
                    for name, queue in list(backend.queues.items()):
                        path = self._queue_path(account_id, region, name)
                        present.add(path)
                        messages = list(queue._messages)
                        ids = tuple(message.id for message in messages)
                        if self._queues.get(path) == ids and path.exists():
                            continue
                        state = {key: value for key, value in vars(queue).items() if key not in _QUEUE_OWN}
                        saved = {
                            "account_id": account_id,
                            "region": region,
                            "state": state,
                            "messages": [_message_state(message) for message in messages],
                        }
                        write_sealed(path, pickle.dumps(saved, protocol=5))
                        self._queues[path] = ids
            for path in set(self._queues) - present:
                path.unlink(missing_ok=True)
                del self._queues[path]


def _message_state(message: Any) -> dict[str, Any]:
    """A message as the next start has it: visible (no receipt handle), its delay and counts kept."""
    state = dict(vars(message))
    state.update(receipt_handle=None, _old_receipt_handles=[], visible_at=0.0)
    return state


def erase(state_dir: Path) -> list[Path]:
    """`wbr dev --fresh`: remove the local AWS's state and what depends on it (stream positions,
    health, the demo's mark); the dev keys stay. What was removed."""
    import shutil

    removed = []
    for name in ("aws", "streams.json", "health.json", "demo.json"):
        path = state_dir / name
        if path.is_dir():
            shutil.rmtree(path)
            removed.append(path)
        elif path.exists():
            path.unlink()
            removed.append(path)
    return removed
