"""The local S3's and SQS's state on disk (ARCHITECTURE.md §8; the format: local/persistence.py).

- S3: one file per object (`s3/<bucket>/objects/…`, moto's own state of the key: bytes, ETag,
  metadata, time) and one per bucket (its configuration), written when a request that changed
  them ends, before its answer; a deleted object's file goes.
- SQS: one file per queue with its messages (their delays and receive counts; a message being
  received at the crash is visible again, as after a Lambda timeout), rewritten when a request
  changed them.
"""

from __future__ import annotations

import hashlib
import pickle
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from chalicelib.local.persistence import WsgiApp, call_to_the_end, load_pickle, write_sealed

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
                _, answer = call_to_the_end(moto_app, environ, start_response)
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
