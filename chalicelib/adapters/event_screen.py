"""Events as the ingester reads them (ARCHITECTURE.md §4, §4.1): one NDJSON line at a time
(`parse_event_line`, orjson), or a whole chunk of lines at once (`screen_wire`, Arrow); and the
event log's records as Arrow tables (`EVENT_SCHEMA`, `record_digests`, `conform_records`).

The rules are the domain's (`validate_event`, domain/events.py): the screen approves a strict
subset of what they accept and hands the rest back to them, line by line;
tests/unit/test_event_screen.py holds the two together.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from chalicelib.domain.events import (
    ADDED_FIELDS,
    ASSIGNMENT_TYPES,
    EVENT_FIELDS,
    FIELDS_BY_TYPE,
    MAX_AGE_SECONDS,
    MAX_FUTURE_SECONDS,
    MAX_ID_LENGTH,
    WIRE_NAMES,
    EventType,
    InvalidEvent,
    validate_event,
)


def parse_event_line(line: str | bytes, now_epoch: int) -> dict[str, Any]:
    """One NDJSON line → a flat record of EVENT_FIELDS; raises InvalidEvent."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise InvalidEvent("not valid JSON") from None
    if not isinstance(event, dict):
        raise InvalidEvent("not a JSON object")
    return validate_event(event, now_epoch)


# ---- the vector screen: a whole chunk of lines at once (ARCHITECTURE.md §4.1) ---------------
#
# Arrow's JSON reader turns a chunk into typed columns; `screen_wire` approves, row by row, the
# everyday assignment event on checks that accept a strict subset of what `validate_event` accepts
# (the rows it cannot approve go through `validate_event`, line by line). Everything here is
# computation over Arrow arrays: no I/O.

# Every field of the contract as Arrow reads it off the wire. A line with any other field, a value
# of another JSON type, or a key given twice makes the reader fail; the ingester then falls back to
# smaller pieces and, at the end, to `validate_event`.
WIRE_SCHEMA = pa.schema(
    [
        (wire, pa.bool_() if wire == "internal" else pa.string())
        for wire in WIRE_NAMES.values()
        if "." not in wire and wire != "occurredAt"
    ]
    + [("occurredAt", pa.string())]
    + [("subject", pa.struct([(wire.split(".")[1], pa.string()) for wire in WIRE_NAMES.values() if "." in wire]))]
)
# The event log's columns (EVENT_FIELDS): epoch seconds, flags, and texts ("" when absent).
EVENT_SCHEMA = pa.schema(
    [
        (name, pa.int64() if name == "occurred_at" else pa.bool_() if name == "internal" else pa.string())
        for name in EVENT_FIELDS
    ]
)
_WIRE_TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"
_PLAIN_ID = "^[\x21-\x7e]"  # printable ASCII, not a space: never what `str.isspace` calls whitespace


def _wire(wire: pa.Table, name: str) -> pa.ChunkedArray:
    if "." in name:
        parent, child = name.split(".")
        return pc.struct_field(wire[parent], child)
    return wire[name]


def _plain_ids(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Non-null, 1..MAX_ID_LENGTH characters, starting with a printable ASCII character."""
    length = pc.utf8_length(column)
    fits = pc.and_(pc.greater(length, 0), pc.less_equal(length, MAX_ID_LENGTH))
    return pc.fill_null(pc.and_(fits, pc.match_substring_regex(column, _PLAIN_ID)), False)


def screen_wire(wire: pa.Table, now_epoch: int) -> tuple[pa.ChunkedArray, pa.ChunkedArray]:
    """(approved, occurred_at) of each row of a WIRE_SCHEMA table read from ASCII lines: approved
    rows are assignment events `validate_event` accepts as they are; occurred_at is in epoch
    seconds for approved rows (any value elsewhere).

    Arrow reads an absent key and a null alike; `validate_event` refuses a USER subject with a
    `workspaceId` key even if null (and a WORKSPACE one with `userId`/`subscriberId`): the caller
    checks that every such key in the lines carries a value (`subject_keys_all_valued`)."""
    stamp = wire["occurredAt"]
    parsed = pc.strptime(stamp, format=_WIRE_TIMESTAMP, unit="s", error_is_null=True)
    # Arrow's strptime rolls 02-30 over to 03-02 and 23:59:60 to the next minute: a real date and
    # time is one that prints back as it was written
    exact = pc.equal(pc.strftime(parsed, format=_WIRE_TIMESTAMP), stamp)
    occurred_at = pc.cast(parsed, pa.int64())
    in_window = pc.and_(
        pc.greater_equal(occurred_at, now_epoch - MAX_AGE_SECONDS),
        pc.less_equal(occurred_at, now_epoch + MAX_FUTURE_SECONDS),
    )
    kind = _wire(wire, "subject.type")
    user, subscriber, workspace = (
        _wire(wire, name) for name in ("subject.userId", "subject.subscriberId", "subject.workspaceId")
    )
    user_subject = pc.and_(
        pc.and_(pc.equal(kind, "USER"), pc.and_(_plain_ids(user), _plain_ids(subscriber))), pc.is_null(workspace)
    )
    workspace_subject = pc.and_(
        pc.and_(pc.equal(kind, "WORKSPACE"), _plain_ids(workspace)),
        pc.and_(pc.is_null(user), pc.is_null(subscriber)),
    )
    approved = pc.and_(
        pc.is_in(wire["eventType"], pa.array(sorted(ASSIGNMENT_TYPES))),
        pc.and_(pc.fill_null(pc.and_(exact, in_window), False), pc.or_(user_subject, workspace_subject)),
    )
    for name in ("eventId", "partnerOrgId", "customerOrgId", "locationId", "subscriptionId", "sku"):
        approved = pc.and_(approved, _plain_ids(wire[name]))
    return pc.fill_null(approved, False), occurred_at


def assignment_records(wire: pa.Table, occurred_at: pa.ChunkedArray) -> pa.Table:
    """Approved assignment rows of a WIRE_SCHEMA table as event-log records (EVENT_SCHEMA): what
    `validate_event` returns for them, column by column."""
    columns: dict[str, Any] = {}
    for name in EVENT_FIELDS:
        if name == "occurred_at":
            columns[name] = occurred_at
        elif name == "internal":
            columns[name] = pa.repeat(False, wire.num_rows) if wire.num_rows else pa.array([], pa.bool_())
        elif name in FIELDS_BY_TYPE[EventType.PACKAGE_ASSIGNED.value] or name in ("event_id", "event_type"):
            columns[name] = pc.fill_null(_wire(wire, WIRE_NAMES[name]), "")
        else:
            columns[name] = pa.repeat("", wire.num_rows) if wire.num_rows else pa.array([], pa.string())
    return pa.table(columns, schema=EVENT_SCHEMA)


_SEPARATOR = "\x1f"  # whitespace to `str.isspace`: no eventId starts with it
_DIGESTED_ALWAYS = EVENT_FIELDS[: -len(ADDED_FIELDS)]


def record_digests(records: pa.Table) -> list[bytes]:
    """The content digest of each event-log record (EVENT_SCHEMA): the same event, however its
    line was spelled (key order, spacing, `+00:00`, a fraction of a second, an absent optional
    field or a null), has the same digest; the same eventId with another digest is another event
    (a conflict, ARCHITECTURE.md §4). 12 bytes of BLAKE2b over the fields, in EVENT_FIELDS order;
    the ADDED_FIELDS only when one of them has a value (an event without them keeps the digest
    it had before they were added)."""
    if not records.num_rows:
        return []
    texts = {
        name: pc.cast(records[name], pa.string()) if name in ("occurred_at", "internal") else records[name]
        for name in EVENT_FIELDS
    }
    joined = pc.binary_join_element_wise(*(texts[name] for name in _DIGESTED_ALWAYS), _SEPARATOR)
    with_added = pc.not_equal(texts[ADDED_FIELDS[0]], "")
    for name in ADDED_FIELDS[1:]:
        with_added = pc.or_(with_added, pc.not_equal(texts[name], ""))
    added = pc.binary_join_element_wise(*(texts[name] for name in ADDED_FIELDS), _SEPARATOR)
    joined = pc.if_else(with_added, pc.binary_join_element_wise(joined, added, _SEPARATOR), joined)
    separators = pc.if_else(with_added, len(EVENT_FIELDS) - 1, len(_DIGESTED_ALWAYS) - 1)
    digest = hashlib.blake2b
    if pc.all(pc.equal(pc.count_substring(joined, _SEPARATOR), pc.cast(separators, pa.int32()))).as_py():
        return [digest(text.encode(), digest_size=12).digest() for text in joined.to_pylist()]
    # a field holds the separator itself: those rows are digested length-prefixed (starting with
    # the separator, which no joined row does: an eventId never starts with whitespace)
    rows = records.to_pylist()
    digests = []
    for text, row, extended in zip(joined.to_pylist(), rows, with_added.to_pylist(), strict=True):
        fields = EVENT_FIELDS if extended else _DIGESTED_ALWAYS
        if text.count(_SEPARATOR) != len(fields) - 1:
            values = [str(row[name]) for name in fields]
            text = _SEPARATOR + "".join(f"{len(value)}:{value}" for value in values)
        digests.append(digest(text.encode(), digest_size=12).digest())
    return digests


def conform_records(table: pa.Table) -> pa.Table:
    """Event-log records as EVENT_SCHEMA, however old the object they were read from: a field
    added since (ADDED_FIELDS) is "" in each of its rows."""
    for name in ADDED_FIELDS:
        if name not in table.column_names:
            table = table.append_column(name, pa.array([""] * table.num_rows, pa.string()))
    return table.select(list(EVENT_FIELDS)).cast(EVENT_SCHEMA)


SUBJECT_KEYS = ("userId", "subscriberId", "workspaceId")


def subject_keys_all_valued(lines: bytes, wire: pa.Table) -> bool:
    """True if each subject key written in `lines` (the bytes `wire` was read from) has a
    non-null value: its occurrences equal the rows that have a value for it (a key named inside a
    string, or spelt with escapes, makes them differ: then the caller screens line by line)."""
    return all(
        lines.count(f'"{name}"'.encode()) == (pc.sum(pc.is_valid(_wire(wire, f"subject.{name}"))).as_py() or 0)
        for name in SUBJECT_KEYS
    )
