"""The eventId index (ARCHITECTURE.md §4): which events were ever ingested, across all days.

`event-ids/v2/<bucket>/` in the lake bucket, 16 buckets (`BUCKETS`) by the last two characters of
the id (`buckets_of`: stable, computed in Arrow), each a log of immutable Parquet objects of
(event_id, digest of the event's record, the event-log object it landed in):

- `seg-<n>.parquet`, the n-th registration of the bucket (n = 1, 2, …). It is written with
  `If-None-Match: *`, so exactly one writer gets each n: two processes registering the same id
  at once never both see it as new; the loser reads the winner's segment and judges its ids again.
- `base-<n>.parquet`, every entry of segments 1..n, sorted by id, the newest entry per id
  (`compact`, once `COMPACT_AFTER` segments followed the previous base). Segments are never
  deleted (so no n is ever handed out twice); older bases are.

A process reads a bucket once (its latest base and the segments after it), keeps it in memory and
appends its own segments; a lost race reads only the segments it missed. A chunk thus costs one
small PUT per bucket, not a rewrite of the index, and probing is Arrow's hash lookup of the chunk's
ids over the known ones.

An id is registered before its event lands in the log. If the process dies in between, the
entry names an object that does not exist; the next delivery of the event then finds it missing
and lands the event again (never dropped as a duplicate of nothing).
"""

from __future__ import annotations

import io
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from chalicelib.adapters.aws import is_missing_object, is_precondition_failed
from chalicelib.domain.events import Registered, Registrations, Verdict

BUCKETS = 16
COMPACT_AFTER = 16  # segments after a base that make the next registration write a new base
PREFIX = "event-ids/v2"
_SCHEMA = pa.schema([("event_id", pa.string()), ("digest", pa.binary()), ("object_key", pa.string())])
_THREADS = 16
_ATTEMPTS = 50
_NUMBERED = re.compile(r"(base|seg)-([0-9]{10})\.parquet$")


def _suffix_bucket(suffix: str) -> int:
    code = 0
    for character in suffix:
        code = code * 31 + ord(character)
    return code % BUCKETS


def buckets_of(event_ids: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The bucket of each id (`_suffix_bucket` of its last two characters), in Arrow (the distinct
    two-character suffixes are few)."""
    suffixes = pc.dictionary_encode(pc.utf8_slice_codeunits(event_ids, start=-2, stop=2**31 - 1))
    if isinstance(suffixes, pa.ChunkedArray):
        suffixes = suffixes.unify_dictionaries().combine_chunks()
    table = pa.array([_suffix_bucket(suffix) for suffix in suffixes.dictionary.to_pylist()], pa.int32())
    return table.take(suffixes.indices)


def _key(bucket: int, kind: str, number: int) -> str:
    return f"{PREFIX}/{bucket:02d}/{kind}-{number:010d}.parquet"


@dataclass
class _Judged:
    """Rows of one bucket that are not new: duplicates, and conflicts with where the id landed."""

    duplicates: list[int] = field(default_factory=list)
    conflicts: dict[int, str] = field(default_factory=dict)

    def rows(self) -> pa.Array:
        return pa.array(self.duplicates + list(self.conflicts), pa.int64())


@dataclass
class _Bucket:
    """What this process knows of one bucket: its objects through segment `seq`, newest first."""

    seq: int = 0
    base_seq: int = 0
    tables: list[pa.Table] = field(default_factory=list)  # newest first
    lock: threading.Lock = field(default_factory=threading.Lock)

    def known(self) -> pa.Table:
        return pa.concat_tables(self.tables) if self.tables else _SCHEMA.empty_table()


class S3EventIdIndex:
    def __init__(self, s3: Any, bucket: str) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._buckets = {number: _Bucket() for number in range(BUCKETS)}
        self._loaded: set[int] = set()
        self._landed: set[str] = set()  # event-log objects seen to exist (the log only grows)
        self._checking = threading.Lock()

    def register(self, events: Iterable[tuple[str, bytes, str]]) -> dict[str, Registered]:
        """(event_id, content digest, object key it will land in) triples → the verdict of each id.
        Ids must be unique within one call."""
        entries = list(events)
        registrations = self.register_rows(
            [entry[0] for entry in entries], [entry[1] for entry in entries], [entry[2] for entry in entries]
        )
        return {entry[0]: registrations.registered(row) for row, entry in enumerate(entries)}

    def register_rows(
        self,
        event_ids: Sequence[str] | pa.Array | pa.ChunkedArray,
        digests: Sequence[bytes],
        object_keys: Sequence[str],
    ) -> Registrations:
        """Register rows of (event_id, content digest, object key it will land in), ids unique:
        NEW (register it, land it), DUPLICATE (landed before: ignore) or CONFLICT (the id landed
        with another digest, `landed_in` says where)."""
        ids = event_ids if isinstance(event_ids, (pa.Array, pa.ChunkedArray)) else pa.array(event_ids, pa.string())
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        rows = pa.table(
            {
                "event_id": ids,
                "digest": pa.array(digests, pa.binary()),
                "object_key": pa.array(object_keys, pa.string()),
            }
        )
        verdicts: list[Verdict] = [Verdict.NEW] * rows.num_rows
        landed_in: dict[int, str] = {}
        if not rows.num_rows:
            return Registrations(verdicts, landed_in)
        rows = rows.append_column("row", pa.array(range(rows.num_rows), pa.int64()))
        buckets = buckets_of(ids)
        shares = [(number, rows.filter(pc.equal(buckets, number))) for number in pc.unique(buckets).to_pylist()]
        with ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="event-ids") as pool:
            for judged in pool.map(lambda share: self._register_bucket(*share), shares):
                for row in judged.duplicates:
                    verdicts[row] = Verdict.DUPLICATE
                for row, where in judged.conflicts.items():
                    verdicts[row] = Verdict.CONFLICT
                    landed_in[row] = where
        return Registrations(verdicts, landed_in)

    # ---- one bucket ------------------------------------------------------------------------

    def _register_bucket(self, number: int, rows: pa.Table) -> _Judged:
        """The rows that are not NEW; the NEW ones are registered in a new segment."""
        state = self._buckets[number]
        with state.lock:
            if number not in self._loaded:
                self._load(number, state)
                self._loaded.add(number)
            judged = self._judge(rows, state.known())
            for _ in range(_ATTEMPTS):
                new = rows.filter(pc.invert(pc.is_in(rows["row"], value_set=judged.rows())))
                if not new.num_rows:
                    return judged
                segment = new.select(_SCHEMA.names)
                if self._put(_key(number, "seg", state.seq + 1), segment, exclusive=True):
                    state.seq += 1
                    state.tables.insert(0, segment)
                    if state.seq - state.base_seq >= COMPACT_AFTER:
                        self._compact(number, state)
                    return judged
                self._read_segments(number, state)  # another writer took seq + 1: judge again
                judged = self._judge(rows, state.known())
        raise RuntimeError(f"{PREFIX}/{number:02d}: too many concurrent writers")

    def _judge(self, rows: pa.Table, known: pa.Table) -> _Judged:
        """Verdicts of the rows whose id is known (`known` newest first); the others are new."""
        if not known.num_rows:
            return _Judged()
        hits = known.filter(pc.is_in(known["event_id"], value_set=rows["event_id"]))
        if not hits.num_rows:
            return _Judged()
        if len(pc.unique(hits["event_id"])) != hits.num_rows:  # registered again: the newest entry
            hits = hits.append_column("age", pa.array(range(hits.num_rows), pa.int64()))
            hits = hits.take(hits.group_by("event_id").aggregate([("age", "min")])["age_min"])
        previous = pa.table(
            {"event_id": hits["event_id"], "first_digest": hits["digest"], "first_key": hits["object_key"]}
        )
        repeated = rows.select(["event_id", "digest", "row"]).join(previous, "event_id", join_type="inner")
        same = pc.equal(repeated["digest"], repeated["first_digest"])
        conflicts = repeated.filter(pc.invert(same))
        candidates = repeated.filter(same)
        landed = self._exist(set(pc.unique(candidates["first_key"]).to_pylist()))
        # a registered id whose landing never happened is left NEW: landed now, registered again
        duplicates = candidates.filter(
            pc.is_in(candidates["first_key"], value_set=pa.array(sorted(landed), pa.string()))
        )
        return _Judged(
            duplicates["row"].to_pylist(),
            dict(zip(conflicts["row"].to_pylist(), conflicts["first_key"].to_pylist(), strict=True)),
        )

    def _exist(self, object_keys: set[str]) -> set[str]:
        """The keys that exist. One check per key for all bucket threads: a folder of several
        unknown keys (a day of the event log) is listed once, a lone key is asked for (HEAD)."""
        with self._checking:
            unknown = sorted(key for key in object_keys if key not in self._landed)
            folders: dict[str, list[str]] = defaultdict(list)
            for key in unknown:
                folders[key.rsplit("/", 1)[0] + "/"].append(key)
            listed = [folder for folder, keys in folders.items() if len(keys) > 2]
            asked = [key for folder, keys in folders.items() if len(keys) <= 2 for key in keys]
            with ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="event-ids-check") as pool:
                for found in pool.map(self._listed, listed):
                    self._landed.update(found)
                for key, exists in zip(asked, pool.map(self._exists, asked), strict=True):
                    if exists:
                        self._landed.add(key)
        return {key for key in object_keys if key in self._landed}

    def _listed(self, folder: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=folder):
            keys.extend(entry["Key"] for entry in page.get("Contents", []))
        return keys

    def _exists(self, object_key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self._bucket, Key=object_key)
            return True
        except ClientError as error:
            if not is_missing_object(error):
                raise
            return False

    # ---- objects ---------------------------------------------------------------------------

    def _load(self, number: int, state: _Bucket) -> None:
        """The bucket's latest base and every segment after it."""
        for _ in range(_ATTEMPTS):
            bases = self._numbers(f"{PREFIX}/{number:02d}/base-")
            base_seq = max(bases, default=0)
            base = self._get(_key(number, "base", base_seq)) if base_seq else _SCHEMA.empty_table()
            if base is None:  # compacted again meanwhile (older bases are deleted): list again
                continue
            after = self._numbers(f"{PREFIX}/{number:02d}/seg-", start_after=_key(number, "seg", base_seq))
            segments = []
            for seq in sorted(after, reverse=True):
                segment = self._get(_key(number, "seg", seq))
                if segment is None:
                    raise RuntimeError(f"{_key(number, 'seg', seq)} was listed but cannot be read")
                segments.append(segment)
            state.base_seq, state.seq = base_seq, max(after, default=base_seq)
            state.tables = segments + ([base] if base.num_rows else [])
            return
        raise RuntimeError(f"{PREFIX}/{number:02d}: its base keeps changing")

    def _read_segments(self, number: int, state: _Bucket) -> list[pa.Table]:
        """The segments after `state.seq` (written by other processes), newest first; adds them."""
        missed: list[pa.Table] = []
        while True:
            segment = self._get(_key(number, "seg", state.seq + 1))
            if segment is None:
                break
            state.seq += 1
            missed.insert(0, segment)
        state.tables[:0] = missed
        return missed

    def _compact(self, number: int, state: _Bucket) -> None:
        """Write base-<seq>: the newest entry of every id, sorted; delete the older bases."""
        known = state.known()
        known = known.append_column("age", pa.array(range(known.num_rows), pa.int64()))
        newest = known.group_by("event_id").aggregate([("age", "min")])
        base = known.take(newest["age_min"]).select(_SCHEMA.names)  # age is the row number
        base = base.sort_by("event_id")
        self._put(_key(number, "base", state.seq), base, exclusive=False)
        older = [seq for seq in self._numbers(f"{PREFIX}/{number:02d}/base-") if seq < state.seq]
        for seq in older:
            self._s3.delete_object(Bucket=self._bucket, Key=_key(number, "base", seq))
        state.base_seq = state.seq
        state.tables = [base]

    def _numbers(self, prefix: str, start_after: str | None = None) -> list[int]:
        numbers = []
        extra = {"StartAfter": start_after} if start_after else {}
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix, **extra):
            for entry in page.get("Contents", []):
                match = _NUMBERED.search(entry["Key"])
                if match:
                    numbers.append(int(match.group(2)))
        return numbers

    def _get(self, key: str) -> pa.Table | None:
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()
        except ClientError as error:
            if is_missing_object(error):
                return None
            raise
        return pq.read_table(pa.BufferReader(body)).cast(_SCHEMA)

    def _put(self, key: str, table: pa.Table, exclusive: bool) -> bool:
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd", use_dictionary=["object_key"])
        condition = {"IfNoneMatch": "*"} if exclusive else {}
        try:
            self._s3.put_object(
                Bucket=self._bucket, Key=key, Body=sink.getvalue(), ServerSideEncryption="AES256", **condition
            )
            return True
        except ClientError as error:
            if exclusive and is_precondition_failed(error):
                return False
            raise
