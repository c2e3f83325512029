"""Fetch only the row groups of a Parquet object on S3 that a key range can touch.

A usage day file is sorted by (partner, customer) and written in small row groups, so the rows of
one report shard (its partners, a customer id range) sit in a run of consecutive row groups. This
reader fetches the footer with one ranged GET, picks the row groups whose min/max statistics
overlap the wanted range and fetches the bytes of that run with a second ranged GET, and writes
what it fetched as a sparse local copy of the object, which DuckDB's own Parquet reader reads
(usage_lake.py). Plain boto3, so it works the same against S3, the local moto server and moto's
in-process mock; no row group outside the range is transferred.
"""

from __future__ import annotations

import bisect
import io
import os
import struct
from dataclasses import dataclass
from typing import Any

import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from chalicelib.domain.errors import LakeIncomplete

_FOOTER_GUESS = 64 * 1024
_MAGIC = b"PAR1"


@dataclass(frozen=True)
class KeyRange:
    """Rows wanted: `first` column within [low, high] (inclusive bounds of the partner ids) and the
    `second` column in [from, before) (a customer id range; None = unbounded)."""

    first: str
    first_low: str
    first_high: str
    second: str
    second_from: str | None
    second_before: str | None


class _SparseFile(io.RawIOBase):
    """A read-only file of `size` bytes of which only some byte ranges are held; reading
    elsewhere is a bug of the caller (it planned the ranges from the footer), so it raises."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size = size
        self._starts: list[int] = []
        self._pieces: list[bytes] = []
        self._position = 0

    def add(self, offset: int, data: bytes) -> None:
        index = bisect.bisect(self._starts, offset)
        self._starts.insert(index, offset)
        self._pieces.insert(index, data)

    @property
    def size(self) -> int:
        return self._size

    def pieces(self) -> list[tuple[int, bytes]]:
        return list(zip(self._starts, self._pieces, strict=True))

    def holds(self, start: int, end: int) -> bool:
        index = bisect.bisect(self._starts, start) - 1
        return index >= 0 and self._starts[index] + len(self._pieces[index]) >= end

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = base + offset
        return self._position

    def readinto(self, buffer: Any) -> int:
        """Copy from the held pieces (across adjacent ones); a read that starts outside them is
        the caller's bug and raises, one that runs into a hole stops short there."""
        wanted = min(len(buffer), self._size - self._position)
        target = memoryview(buffer).cast("B")
        copied = 0
        while copied < wanted:
            index = bisect.bisect(self._starts, self._position) - 1
            if index < 0 or self._starts[index] + len(self._pieces[index]) <= self._position:
                if copied:
                    break
                raise OSError(f"byte {self._position} of the object was not fetched")
            piece, start = self._pieces[index], self._position - self._starts[index]
            count = min(wanted - copied, len(piece) - start)
            target[copied : copied + count] = piece[start : start + count]
            copied += count
            self._position += count
        return copied


def _fetch(s3: Any, bucket: str, key: str, wanted: KeyRange, expected_rows: int | None = None) -> _SparseFile | None:
    """What a reader of s3://bucket/key's row groups that may hold rows of `wanted` needs: the
    object as a sparse file holding its footer and the byte run of those groups; None when no
    row group can hold such rows. With `expected_rows`, an object that is missing or holds
    another number of rows raises LakeIncomplete."""
    try:
        tail = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{_FOOTER_GUESS}")
    except ClientError as error:
        if expected_rows is not None and error.response["Error"]["Code"] in ("NoSuchKey", "404"):
            raise LakeIncomplete(f"s3://{bucket}/{key} is missing") from None
        raise
    data = tail["Body"].read()
    # an endpoint that ignores Range sends the whole object, without a Content-Range
    size = int(tail["ContentRange"].rsplit("/", 1)[1]) if tail.get("ContentRange") else len(data)
    if data[-4:] != _MAGIC:
        raise ValueError(f"s3://{bucket}/{key} is not a Parquet file")
    footer_length = struct.unpack("<I", data[-8:-4])[0]
    if footer_length + 8 > len(data):  # a footer larger than the guess: fetch all of it
        data = _get_range(s3, bucket, key, size - footer_length - 8, size)
    file = _SparseFile(size)
    file.add(size - len(data), data)
    metadata = pq.read_metadata(file)
    if expected_rows is not None and expected_rows >= 0 and metadata.num_rows != expected_rows:
        raise LakeIncomplete(
            f"s3://{bucket}/{key} holds {metadata.num_rows} rows, its publication recorded {expected_rows}"
        )
    groups = [index for index in range(metadata.num_row_groups) if _may_hold(metadata.row_group(index), wanted)]
    if not groups:
        return None
    spans = [_byte_span(metadata.row_group(index)) for index in groups]
    start, end = min(span[0] for span in spans), max(span[1] for span in spans)
    if not file.holds(start, end):
        file.add(start, _get_range(s3, bucket, key, start, end))
    return file


def download_row_groups(
    s3: Any, bucket: str, key: str, wanted: KeyRange, path: str, expected_rows: int | None = None
) -> bool:
    """Write to `path` a sparse copy of s3://bucket/key holding only what a reader of the row
    groups that may hold rows of `wanted` needs (the rest is a hole, never written). A reader
    whose row-group pruning is at least as strict as `wanted` (DuckDB's, given the same range
    conditions) never touches a hole; one that did would fail on the zeros, never read numbers
    from them. False (and no file) when no row group can hold such rows."""
    file = _fetch(s3, bucket, key, wanted, expected_rows)
    if file is None:
        return False
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.pwrite(descriptor, _MAGIC, 0)
        for offset, data in file.pieces():
            os.pwrite(descriptor, data, offset)
        os.ftruncate(descriptor, file.size)
    finally:
        os.close(descriptor)
    return True


def _get_range(s3: Any, bucket: str, key: str, start: int, end: int) -> bytes:
    """Bytes [start, end) of the object."""
    return s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}")["Body"].read()


def _byte_span(group: Any) -> tuple[int, int]:
    starts, ends = [], []
    for index in range(group.num_columns):
        column = group.column(index)
        first = column.data_page_offset
        if column.has_dictionary_page and column.dictionary_page_offset is not None:
            first = min(first, column.dictionary_page_offset)
        starts.append(first)
        ends.append(first + column.total_compressed_size)
    return min(starts), max(ends)


def _may_hold(group: Any, wanted: KeyRange) -> bool:
    bounds = _min_max(group)
    first, second = bounds.get(wanted.first), bounds.get(wanted.second)
    if first is not None and (first[1] < wanted.first_low or first[0] > wanted.first_high):
        return False
    if second is not None:
        if wanted.second_from is not None and second[1] < wanted.second_from:
            return False
        if wanted.second_before is not None and second[0] >= wanted.second_before:
            return False
    return True


def _min_max(group: Any) -> dict[str, tuple[str, str]]:
    """Column → (min, max) where the writer recorded exact statistics."""
    bounds: dict[str, tuple[str, str]] = {}
    for index in range(group.num_columns):
        column = group.column(index)
        statistics = column.statistics
        if statistics is None or not statistics.has_min_max:
            continue
        if getattr(statistics, "is_min_value_exact", True) and getattr(statistics, "is_max_value_exact", True):
            bounds[column.path_in_schema] = (statistics.min, statistics.max)
    return bounds
