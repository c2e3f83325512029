"""One chunk of an ingest validated (services/ingestion.py, through its `ChunkValidator` port): screened in Arrow, the lines the
screen cannot approve parsed one by one (`parse_event_line`, the one statement of the rules),
then one record per eventId (a repeat with the same content is counted, one with other content is
a conflict). What is rejected keeps its line and reason for the dead letters."""

from __future__ import annotations

import io
import itertools
import time
from dataclasses import dataclass, field
from typing import cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from chalicelib.adapters.event_screen import (
    EVENT_SCHEMA,
    WIRE_SCHEMA,
    assignment_records,
    parse_event_line,
    record_digests,
    screen_wire,
    subject_keys_all_valued,
)
from chalicelib.domain.events import ASSIGNMENT_TYPES, InvalidEvent
from chalicelib.services.ingest_ports import CONFLICT_KIND, IngestSummary, ValidatedChunk, conflict_reason

_LINE_BY_LINE = 512  # a piece of a chunk this small that Arrow cannot screen goes line by line
_WIRE_OPTIONS = pj.ParseOptions(explicit_schema=WIRE_SCHEMA, unexpected_field_behavior="error")


def _one_object_per_line(chunk: list[str | bytes], start: int, end: int) -> bytes | None:
    """Lines start..end as one ASCII byte string in which every line is exactly one `{…}\\n`
    text per line start (so that Arrow's rows are the lines, in order), or None."""
    if not all(isinstance(line, bytes) for line in chunk[start:end]):
        return None
    lines = cast(list[bytes], chunk[start:end])
    if not all(map(bytes.endswith, lines[:-1], itertools.repeat(b"\n"))):
        return None
    last = lines[-1]
    data = b"".join(lines) if last.endswith(b"\n") else b"".join(lines) + b"\n"
    if not (data.isascii() and data.startswith(b"{")):
        return None
    # every line ends with its only newline, and each next line starts with "{": no blank lines
    if data.count(b"\n") != end - start or data.count(b"\n{") != end - start - 1:
        return None
    return data


@dataclass
class _Screened:
    """A chunk split by the vector screen: record tables (with their lines) and lines left over."""

    tables: list[pa.Table] = field(default_factory=list)
    positions: list[pa.Array] = field(default_factory=list)
    line_by_line: list[int] = field(default_factory=list)


def validate_chunk(chunk: list[str | bytes], now: int) -> ValidatedChunk:
    """Screen the chunk in Arrow (`screen_wire`), the lines it cannot approve one by one
    (`parse_event_line`, the one statement of the rules); then one record per eventId."""
    report = IngestSummary()
    started = time.perf_counter()
    screened = _Screened()
    _screen(chunk, 0, len(chunk), now, screened)
    report.stage_seconds["screen (Arrow)"] += time.perf_counter() - started
    started = time.perf_counter()
    rejected: list[tuple[int, str, str]] = []
    records, positions = [], []
    for position in screened.line_by_line:
        line = chunk[position]
        if not line.strip():
            report.blank_lines += 1
            continue
        try:
            records.append(parse_event_line(line, now))
            positions.append(position)
        except InvalidEvent as error:
            rejected.append((position, error.reason, error.kind))
    if records:
        screened.tables.append(pa.Table.from_pylist(records, schema=EVENT_SCHEMA))
        screened.positions.append(pa.array(positions, pa.int64()))
    report.stage_seconds["validate line by line"] += time.perf_counter() - started
    report.lines = sum(table.num_rows for table in screened.tables) + len(rejected) + report.blank_lines
    started = time.perf_counter()
    table = pa.concat_tables(screened.tables) if screened.tables else EVENT_SCHEMA.empty_table()
    position_of = pa.concat_arrays(screened.positions).to_pylist() if screened.positions else []
    digests = record_digests(table)
    report.stage_seconds["digest"] += time.perf_counter() - started
    started = time.perf_counter()
    keep = _first_of_each_id(table, digests, position_of, report, rejected)
    if keep is not None:
        table = table.take(keep)
        digests = [digests[row] for row in keep]
        position_of = [position_of[row] for row in keep]
    validated = ValidatedChunk(report, table, digests, position_of, chunk)
    for position, reason, kind in sorted(rejected):
        validated.reject(chunk[position], reason, kind)
    directory = pc.invert(pc.is_in(table["event_type"], pa.array(sorted(ASSIGNMENT_TYPES))))
    if pc.any(directory).as_py():
        validated.directory_records = table.filter(directory).to_pylist()
    report.stage_seconds["one record per eventId"] += time.perf_counter() - started
    return validated


def _screen(chunk: list[str | bytes], start: int, end: int, now: int, into: _Screened) -> None:
    """Lines start..end of the chunk through the vector screen, halving a piece Arrow cannot
    read as one row per line (a bad line, a blank one, an unusual spelling) down to
    `_LINE_BY_LINE` lines, which go line by line, as do the rows the screen cannot approve."""
    if end - start <= _LINE_BY_LINE:
        into.line_by_line.extend(range(start, end))
        return
    data = _one_object_per_line(chunk, start, end)
    wire = None
    if data is not None:
        try:
            wire = pj.read_json(io.BytesIO(data), parse_options=_WIRE_OPTIONS)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
            wire = None
        if wire is not None and (wire.num_rows != end - start or not subject_keys_all_valued(data, wire)):
            wire = None
    if wire is None:
        middle = (start + end) // 2
        _screen(chunk, start, middle, now, into)
        _screen(chunk, middle, end, now, into)
        return
    approved_chunks, occurred_at = screen_wire(wire, now)
    approved = approved_chunks.combine_chunks()
    positions = pa.array(range(start, end), pa.int64())
    into.tables.append(assignment_records(wire.filter(approved), occurred_at.filter(approved)))
    into.positions.append(positions.filter(approved))
    if not pc.all(approved).as_py():
        missed = pc.indices_nonzero(pc.invert(approved)).to_pylist()
        into.line_by_line.extend(start + row for row in missed)


def _first_of_each_id(
    table: pa.Table,
    digests: list[bytes],
    position_of: list[int],
    report: IngestSummary,
    rejected: list[tuple[int, str, str]],
) -> list[int] | None:
    """Rows to keep so that each eventId is once (its first line); None when it already is.
    A repeat with the same digest is counted, one with another is a conflict."""
    ids = table["event_id"]
    if len(pc.unique(ids)) == table.num_rows:
        return None
    counts = table.group_by("event_id").aggregate([("event_id", "count")])
    repeated = counts.filter(pc.greater(counts["event_id_count"], 1))["event_id"]
    rows = pc.indices_nonzero(pc.is_in(ids, value_set=repeated)).to_pylist()
    id_of = dict(zip(rows, ids.take(pa.array(rows, pa.int64())).to_pylist(), strict=True))
    first: dict[str, int] = {}
    dropped = set()
    for row in sorted(rows, key=position_of.__getitem__):
        event_id = id_of[row]
        if event_id not in first:
            first[event_id] = row
            continue
        dropped.add(row)
        if digests[first[event_id]] == digests[row]:
            report.duplicates_in_batch += 1
        else:
            rejected.append((position_of[row], conflict_reason(event_id, "this input"), CONFLICT_KIND))
    return [row for row in range(table.num_rows) if row not in dropped]
