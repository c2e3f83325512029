"""The vector screen (`screen_wire`, adapters/event_screen.py, Arrow) against the rule
(`validate_event`, domain/events.py), line by line: a property (hypothesis) that whatever the
screen approves the rule accepts with the same record, and that it approves the everyday
assignment; and, through ingestion, the same chunk as bytes lines (screened in Arrow) and as text
lines (never screened in Arrow, every line through the validator) gives the same records,
digests, rejections and counts."""

from __future__ import annotations

import io
import json
import time

import pyarrow as pa
import pyarrow.json as pj
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters.event_chunks import validate_chunk
from chalicelib.adapters.event_screen import (
    WIRE_SCHEMA,
    assignment_records,
    record_digests,
    screen_wire,
    subject_keys_all_valued,
)
from chalicelib.domain.events import (
    ASSIGNMENT_TYPES,
    MAX_AGE_SECONDS,
    MAX_FUTURE_SECONDS,
    MAX_ID_LENGTH,
    EventType,
    InvalidEvent,
    validate_event,
)
from chalicelib.services.ingestion import IngestionService

NOW = int(time.time())
STAMP = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW - 86_400))
USER = {"type": "USER", "userId": "u-1", "subscriberId": "s-1"}


def assignment(number: int, **changes) -> dict:
    event = {
        "eventId": f"e-{number}",
        "eventType": "PACKAGE_ASSIGNED",
        "occurredAt": STAMP,
        "partnerOrgId": "p-1",
        "customerOrgId": "c-1",
        "locationId": "l-1",
        "subscriptionId": "sub-1",
        "sku": "WXC-WHL-PRO",
        "subject": {**USER, "userId": f"u-{number}"},
    }
    return {**event, **changes}


ODD_LINES = [
    json.dumps(assignment(1, subject={**USER, "workspaceId": None})),  # a null key the contract refuses
    json.dumps(assignment(2, subject={"type": "WORKSPACE", "workspaceId": "w", "userId": None})),
    json.dumps(assignment(3, occurredAt=STAMP[:8] + "30T00:00:00Z")),  # maybe not a real day
    json.dumps(assignment(4, occurredAt=STAMP[:17] + "60Z")),
    json.dumps(assignment(5, occurredAt=STAMP[:-1] + "+00:00")),
    json.dumps(assignment(6, occurredAt=STAMP[:-1] + ".250Z")),
    json.dumps(assignment(7, eventId=" e-7")),
    json.dumps(assignment(8, partnerOrgId="p" * 201)),
    json.dumps(assignment(9, sku="")),
    json.dumps(assignment(10, eventId=10)),
    json.dumps(assignment(11, unknownField=[1, 2])),
    json.dumps(assignment(12, occurredAt=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW + 3600)))),
    json.dumps(assignment(13, occurredAt="2001-01-01T00:00:00Z")),
    json.dumps(
        {
            "eventType": "PARTNER_UPSERTED",
            "eventId": "d-1",
            "occurredAt": STAMP,
            "partnerOrgId": "p-1",
            "name": "Société Générale",
            "parentPartnerOrgId": None,
        }
    ),
    json.dumps(
        {
            "eventType": "CUSTOMER_UPSERTED",
            "eventId": "d-2",
            "occurredAt": STAMP,
            "customerOrgId": "c-1",
            "partnerOrgId": "p-1",
            "internal": "yes",
        }
    ),
    json.dumps({"eventType": "SKU_UPSERTED", "eventId": "d-3", "occurredAt": STAMP, "sku": "X", "serviceName": "S"}),
    json.dumps(assignment(14, subject={**USER, "note": 'has a "workspaceId" inside'})),
    json.dumps(assignment(15, name="ignored on an assignment", internal=True)),
    '{"eventId":"e-16","eventId":"e-16b","eventType":"PACKAGE_ASSIGNED"}',
    '{"eventId":"e-17","eventType":"PACKAGE_ASSIGNED","n":NaN}',
    "\ufeff" + json.dumps(assignment(18)),
    json.dumps(assignment(19)) + json.dumps(assignment(20)),
    "",
    "   ",
    "not json",
    "[1, 2]",
    json.dumps(assignment(21, subject="USER")),
    json.dumps(assignment(22, eventType="PACKAGE_MOVED")),
    json.dumps(assignment(100), sort_keys=True, indent=None, separators=(", ", ": ")),  # e-100 again, respelt
    json.dumps(assignment(101, sku="OTHER")),  # e-101 again, other content: a conflict
    json.dumps(
        {
            "eventId": "e-23",
            "eventType": "PACKAGE_UNASSIGNED",
            "occurredAt": STAMP,
            "partnerOrgId": "p",
            "customerOrgId": "c",
            "locationId": "l",
            "subscriptionId": "s",
            "sku": "k",
            "subject": {"type": "WORKSPACE", "workspaceId": "w-23"},
        }
    ),
]


def _service() -> IngestionService:
    return IngestionService(None, None, None, None, None, validate_chunk, clock=lambda: NOW)  # type: ignore[arg-type]


def _outcome(chunk: list) -> tuple:
    validated = _service()._validate(chunk)
    records = validated.records.to_pylist()
    order = sorted(range(len(records)), key=lambda row: validated.positions[row])
    return (
        [records[row] for row in order],
        [validated.digests[row] for row in order],
        sorted(validated.rejected),
        dict(validated.report.rejections),
        validated.report.lines,
        validated.report.duplicates_in_batch,
        sorted(record["event_id"] for record in validated.directory_records),
    )


@pytest.mark.parametrize("where", [0, 700, 1500, 2999])
def test_the_vector_screen_decides_every_line_as_the_validator_does(where, monkeypatch):
    import chalicelib.adapters.event_chunks as validation

    good = [json.dumps(assignment(number)) for number in range(100, 3100)]
    text = good[:where] + ODD_LINES + good[where:]
    as_bytes = [(line + "\n").encode() for line in text]
    validated_alone = []
    original = validation.parse_event_line

    def counted(line, now):
        validated_alone.append(line)
        return original(line, now)

    monkeypatch.setattr(validation, "parse_event_line", counted)
    vector = _outcome(as_bytes)
    # the odd lines and the pieces of at most 512 lines around them, not the chunk
    assert len(validated_alone) <= 3 * 512, "the vector screen approved too few lines"
    monkeypatch.undo()
    line_by_line = _outcome(text)
    assert vector == line_by_line
    records, digests, rejected, kinds, lines, repeated, directory = vector
    assert lines == len(text)  # blank lines too: counted (and skipped), never dropped unseen
    assert repeated == 1 and any("e-101" in reason for _, reason in rejected)
    assert directory == ["d-1", "d-3"]  # d-2's internal is not a boolean
    assert len(records) > 3000 - 2


def test_the_last_line_may_lack_its_newline_and_text_lines_work_too():
    good = [json.dumps(assignment(number)) for number in range(2000)]
    as_bytes = [(line + "\n").encode() for line in good]
    as_bytes[-1] = as_bytes[-1].rstrip(b"\n")
    assert _outcome(as_bytes) == _outcome(good)


def test_a_record_digest_ignores_spelling_not_content():
    service = _service()
    first = service._validate([json.dumps(assignment(1)).encode()])
    respelt = service._validate([json.dumps(assignment(1), sort_keys=True, indent=2).replace("\n", " ").encode()])
    other = service._validate([json.dumps(assignment(1, sku="OTHER")).encode()])
    assert first.digests == respelt.digests != other.digests
    assert record_digests(first.records) == first.digests


def _digest_before_the_added_fields(record: dict) -> bytes:
    """The digest as record_digests computed it before ADDED_FIELDS existed (over the fields of
    that time, joined by the separator)."""
    import hashlib

    from chalicelib.domain.events import ADDED_FIELDS, EVENT_FIELDS

    fields = EVENT_FIELDS[: -len(ADDED_FIELDS)]
    texts = [str(record[name]).lower() if name == "internal" else str(record[name]) for name in fields]  # Arrow's
    return hashlib.blake2b("\x1f".join(texts).encode(), digest_size=12).digest()


def test_events_without_the_added_fields_keep_their_digests_and_with_them_differ():
    """An event logged before the sub-partner facts were added, sent again, is still a duplicate
    (not a conflict); a partner upsert that states a fact is another event than one that does not."""
    partner = {"eventId": "d-1", "eventType": "PARTNER_UPSERTED", "occurredAt": STAMP, "partnerOrgId": "p-9",
               "name": "Nine"}
    lines = [json.dumps(assignment(1)), json.dumps(partner),
             json.dumps({**partner, "eventId": "d-2", "provisioningState": "suspended"}),
             json.dumps({**partner, "eventId": "d-3", "created": "2020-01-01T00:00:00Z"})]
    screened = _service()._validate([line.encode() for line in lines])
    records = screened.records.to_pylist()
    assert len(records) == 4 and record_digests(screened.records) == screened.digests
    kept = {record["event_id"]: digest == _digest_before_the_added_fields(record)
            for record, digest in zip(records, screened.digests, strict=True)}
    assert kept == {"e-1": True, "d-1": True, "d-2": False, "d-3": False}


def test_a_log_object_from_before_the_added_fields_reads_as_records_of_today():
    import pyarrow as pa

    from chalicelib.adapters.event_screen import conform_records
    from chalicelib.domain.events import ADDED_FIELDS, EVENT_FIELDS

    screened = _service()._validate([json.dumps(assignment(n)).encode() for n in range(3)])
    old = screened.records.drop_columns(list(ADDED_FIELDS))  # as an object written before them
    conformed = conform_records(old)
    assert conformed.column_names == list(EVENT_FIELDS) and conformed.equals(screened.records)
    assert conform_records(pa.Table.from_pylist([], schema=old.schema)).num_rows == 0
@pytest.mark.parametrize("as_bytes", [True, False])
def test_a_blank_line_is_counted_as_skipped_never_dropped_unseen(as_bytes):
    good = [json.dumps(assignment(number)) for number in range(1200)]
    text = good[:600] + ["", "   ", "\t"] + good[600:] + [""]
    chunk = [(line + "\n").encode() for line in text] if as_bytes else text
    report = _service()._validate(chunk).report
    assert report.blank_lines == 4
    assert report.lines == len(text) == len(good) + report.blank_lines + report.rejected


# ---- the property: `screen_wire` approves only what `validate_event` accepts, as it accepts it ----

SCREEN_NOW = 1_790_000_000  # 2026-09-21T...Z
_WIRE_READ = pj.ParseOptions(explicit_schema=WIRE_SCHEMA, unexpected_field_behavior="error")
_plain_ids = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)
_odd_ids = st.one_of(
    st.just(""),
    st.just("x" * MAX_ID_LENGTH),
    st.just("x" * (MAX_ID_LENGTH + 1)),
    st.builds(lambda lead, rest: lead + rest, st.sampled_from([" ", "\t", "\x1f", "\x85", "é", "\u3000"]), _plain_ids),
    st.text(max_size=6),
    st.none(),
    st.integers(0, 9),
)
_ids = _plain_ids | _odd_ids


def _stamp(epoch: int, spelling: str) -> str:
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return {
        "Z": text + "Z",
        "offset": text + "+00:00",
        "fraction": text + ".250Z",
        "day 30": text[:8] + "30" + text[10:] + "Z",
        "second 60": text[:17] + "60Z",
        "no zone": text,
    }[spelling]


_edges = [SCREEN_NOW - MAX_AGE_SECONDS, SCREEN_NOW + MAX_FUTURE_SECONDS]
_epochs = st.one_of(  # the window's edges, a second either side, first
    st.builds(lambda edge, step: edge + step, st.sampled_from(_edges), st.sampled_from([-1, 1, 0, -2, 2])),
    st.integers(SCREEN_NOW - 400 * 86_400, SCREEN_NOW),
)
_stamps = st.builds(_stamp, _epochs, st.just("Z")) | st.builds(
    _stamp, _epochs, st.sampled_from(["offset", "fraction", "day 30", "second 60", "no zone"])
)


@st.composite
def _everyday(draw) -> dict:
    """The everyday assignment: plain ids, a `Z` timestamp in the window, a USER or WORKSPACE subject."""
    workspace = draw(st.booleans())
    subject = (
        {"type": "WORKSPACE", "workspaceId": draw(_plain_ids)}
        if workspace
        else {"type": "USER", "userId": draw(_plain_ids), "subscriberId": draw(_plain_ids)}
    )
    return {
        "eventId": draw(_plain_ids),
        "eventType": draw(st.sampled_from(sorted(ASSIGNMENT_TYPES))),
        "occurredAt": _stamp(draw(st.sampled_from(_edges) | st.integers(SCREEN_NOW - 400 * 86_400, SCREEN_NOW)), "Z"),
        **{name: draw(_plain_ids) for name in ("partnerOrgId", "customerOrgId", "locationId", "subscriptionId", "sku")},
        "subject": subject,
    }


_TOP_IDS = ("eventId", "partnerOrgId", "customerOrgId", "locationId", "subscriptionId", "sku")
_SUBJECT_KEYS = ("userId", "subscriberId", "workspaceId")


@st.composite
def _near_everyday(draw) -> dict:
    """An everyday assignment with one to three things changed, each one the screen must notice
    (or leave to `validate_event`)."""
    event = draw(_everyday())
    for _ in range(draw(st.integers(1, 3))):
        subject = event.get("subject", {})
        change = draw(
            st.sampled_from(["stamp", "id", "subject id", "subject key", "subject type", "type", "drop", "extra"])
        )
        if change == "id":
            event[draw(st.sampled_from(_TOP_IDS))] = draw(_odd_ids)
        elif change == "subject id":
            event["subject"] = {**subject, draw(st.sampled_from(_SUBJECT_KEYS)): draw(_ids)}
        elif change == "subject key":
            dropped = draw(st.sampled_from(_SUBJECT_KEYS))
            event["subject"] = {name: value for name, value in subject.items() if name != dropped}
        elif change == "subject type":
            event["subject"] = {**subject, "type": draw(st.sampled_from(["USER", "WORKSPACE", "user", "ROOM"]))}
        elif change == "type":
            event["eventType"] = draw(st.sampled_from([member.value for member in EventType] + ["PACKAGE_MOVED"]))
        elif change == "stamp":
            event["occurredAt"] = draw(_stamps)
        elif change == "drop":
            event.pop(draw(st.sampled_from(sorted(event))), None)
        else:
            event[draw(st.sampled_from(["name", "description", "internal"]))] = draw(_plain_ids | st.booleans())
    return event


def _screened(event: dict) -> tuple[bool, list[dict]] | None:
    """What the screen does with `event`'s line: (approved, its records), or None where the
    ingester would not screen it (Arrow cannot read it, or a subject key is null)."""
    line = (json.dumps(event) + "\n").encode()
    try:
        wire = pj.read_json(io.BytesIO(line), parse_options=_WIRE_READ)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    if wire.num_rows != 1 or not subject_keys_all_valued(line, wire):
        return None
    approved, occurred_at = screen_wire(wire, SCREEN_NOW)
    approved = approved.combine_chunks()
    return approved[0].as_py(), assignment_records(wire.filter(approved), occurred_at.filter(approved)).to_pylist()


def _validated(event: dict) -> dict | None:
    try:
        return validate_event(event, SCREEN_NOW)
    except InvalidEvent:
        return None


@settings(max_examples=300, deadline=None)
@given(_near_everyday())
def test_screen_wire_approves_only_events_validate_event_accepts_and_records_them_as_it_does(event):
    """The vector screen (`screen_wire` + `assignment_records`) is a strict subset of the rule
    (`validate_event`): whatever it approves, the rule accepts, with the very same record."""
    screened = _screened(event)
    if screened is not None and screened[0]:
        assert screened[1] == [_validated(event)]


@settings(max_examples=100, deadline=None)
@given(_everyday())
def test_screen_wire_approves_every_everyday_assignment_as_validate_event_records_it(event):
    """…and it is not an empty subset: the everyday assignment (plain ids, a `Z` timestamp in the
    window, a USER or WORKSPACE subject) is approved, with `validate_event`'s record."""
    screened = _screened(event)
    assert screened is not None and screened[0]
    assert screened[1] == [_validated(event)] and screened[1][0] is not None
