"""The provisioning event contract (ARCHITECTURE.md §4) and its validation, one event at a time.

`validate_event` turns one decoded event (a JSON object) into a flat record of EVENT_FIELDS or
raises `InvalidEvent` with a reason a person can act on: the one statement of the rules.
Timestamps are UTC, kept in whole seconds. Reading lines (JSON) and the vector screen of a whole
chunk (Arrow) are adapters/event_screen.py's.
"""

from __future__ import annotations

import re
from calendar import timegm
from dataclasses import dataclass
from enum import Enum
from typing import Any

from chalicelib.domain.periods import LOOKBACK_YEARS
from chalicelib.domain.timestamps import epoch_millis

MAX_ID_LENGTH = 200
MAX_TEXT_LENGTH = 1000
# Ingestion's time window (ARCHITECTURE.md §4): an event a report can never cover, or one from the future
# (a clock gone wrong), is dead-lettered with its reason instead of re-rating years of days.
MAX_FUTURE_SECONDS = 5 * 60
AGE_MARGIN_DAYS = 31
MAX_AGE_SECONDS = (LOOKBACK_YEARS * 366 + AGE_MARGIN_DAYS) * 86_400


class EventType(str, Enum):
    PACKAGE_ASSIGNED = "PACKAGE_ASSIGNED"
    PACKAGE_UNASSIGNED = "PACKAGE_UNASSIGNED"
    PARTNER_UPSERTED = "PARTNER_UPSERTED"
    CUSTOMER_UPSERTED = "CUSTOMER_UPSERTED"
    SKU_UPSERTED = "SKU_UPSERTED"
    LOCATION_UPSERTED = "LOCATION_UPSERTED"


ASSIGNMENT_TYPES = frozenset({EventType.PACKAGE_ASSIGNED.value, EventType.PACKAGE_UNASSIGNED.value})
_EVENT_TYPES = frozenset(member.value for member in EventType)

# The usage key of an assignment event; also the columns of a rating state snapshot.
KEY_FIELDS: tuple[str, ...] = (
    "partner_org_id",
    "customer_org_id",
    "location_id",
    "subscription_id",
    "sku",
    "subject_type",
    "user_id",
    "subscriber_id",
    "workspace_id",
)
Key = tuple[str, ...]  # a usage key: the values of KEY_FIELDS, in that order
# Fields added to the contract after events were logged (PARTNER_UPSERTED's provisioning facts, as
# Webex's sub-partner list answers them): last in EVENT_FIELDS, filled with "" in a log object
# written before them (`conform_records`), and in a record's digest only when one has a value, so
# an event that has none keeps the digest it always had (`record_digests`; both in
# adapters/event_screen.py).
ADDED_FIELDS: tuple[str, ...] = ("provisioning_state", "created", "billing_start_date")
PROVISIONING_STATES = ("active", "suspended")
# Every event, flattened (absent strings are "", absent flags False); the event log's columns.
EVENT_FIELDS: tuple[str, ...] = (
    "event_id",
    "event_type",
    "occurred_at",  # epoch seconds, UTC
    *KEY_FIELDS,
    "name",
    "parent_partner_org_id",
    "external_id",
    "internal",
    "service_name",
    "description",
    *ADDED_FIELDS,
)

# Where each field of a record is on the wire ("subject.x": inside the subject object).
WIRE_NAMES: dict[str, str] = {
    "event_id": "eventId",
    "event_type": "eventType",
    "occurred_at": "occurredAt",
    "partner_org_id": "partnerOrgId",
    "customer_org_id": "customerOrgId",
    "location_id": "locationId",
    "subscription_id": "subscriptionId",
    "sku": "sku",
    "subject_type": "subject.type",
    "user_id": "subject.userId",
    "subscriber_id": "subject.subscriberId",
    "workspace_id": "subject.workspaceId",
    "name": "name",
    "parent_partner_org_id": "parentPartnerOrgId",
    "external_id": "externalId",
    "internal": "internal",
    "service_name": "serviceName",
    "description": "description",
    "provisioning_state": "provisioningState",
    "created": "created",
    "billing_start_date": "billingStartDate",
}
# The fields each event type carries besides event_id, event_type and occurred_at.
FIELDS_BY_TYPE: dict[str, frozenset[str]] = {
    EventType.PACKAGE_ASSIGNED.value: frozenset(KEY_FIELDS),
    EventType.PACKAGE_UNASSIGNED.value: frozenset(KEY_FIELDS),
    EventType.PARTNER_UPSERTED.value: frozenset(
        {"partner_org_id", "name", "parent_partner_org_id", "subscription_id", *ADDED_FIELDS}
    ),
    EventType.CUSTOMER_UPSERTED.value: frozenset(
        {"customer_org_id", "partner_org_id", "external_id", "internal", "name"}
    ),
    EventType.SKU_UPSERTED.value: frozenset({"sku", "service_name", "description"}),
    EventType.LOCATION_UPSERTED.value: frozenset({"partner_org_id", "customer_org_id", "location_id", "name"}),
}
_ASSIGNMENT_FIELDS = (
    ("partner_org_id", "partnerOrgId"),
    ("customer_org_id", "customerOrgId"),
    ("location_id", "locationId"),
    ("subscription_id", "subscriptionId"),
    ("sku", "sku"),
)
_EMPTY_RECORD: dict[str, Any] = {name: "" for name in EVENT_FIELDS} | {"internal": False}
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,9})?(?:Z|\+00:00)"
)


class InvalidEvent(ValueError):
    """A line that is not a valid event; `reason` says why. `kind` is the reason without the
    line's own values (what `wbr ingest` counts lines by); a reason without values is its kind."""

    def __init__(self, reason: str, event_id: str | None = None, kind: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id
        self.kind = kind or reason


_NOT_A_TIMESTAMP = "occurredAt is not an ISO-8601 UTC timestamp"
_NOT_A_REAL_TIME = "occurredAt is not a real date and time"


_day_epochs: dict[str, int] = {}


def parse_timestamp(value: Any) -> int:
    """Strict ISO-8601 UTC (`2026-10-01T08:30:00Z`, fractions allowed) → epoch seconds."""
    if not isinstance(value, str):
        raise InvalidEvent(
            f"occurredAt must be an ISO-8601 UTC timestamp string, got {type(value).__name__}", kind=_NOT_A_TIMESTAMP
        )
    match = _TIMESTAMP.fullmatch(value)
    if not match:
        raise InvalidEvent(
            f"occurredAt {value[:60]!r} is not an ISO-8601 UTC timestamp like 2026-10-01T08:30:00Z",
            kind=_NOT_A_TIMESTAMP,
        )
    hour, minute, second = int(match.group(4)), int(match.group(5)), int(match.group(6))
    day_epoch = _day_epochs.get(value[:10])
    if day_epoch is None:
        year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
        if not (1 <= year and 1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
            raise InvalidEvent(f"occurredAt {value!r} is not a real date and time", kind=_NOT_A_REAL_TIME)
        day_epoch = timegm((year, month, day, 0, 0, 0))
        if len(_day_epochs) < 100_000:  # days seen recur in every batch; keep them
            _day_epochs[value[:10]] = day_epoch
    if hour >= 24 or minute >= 60 or second >= 60:
        raise InvalidEvent(f"occurredAt {value!r} is not a real date and time", kind=_NOT_A_REAL_TIME)
    return day_epoch + hour * 3600 + minute * 60 + second


def _optional_instant(event: dict[str, Any], name: str) -> str:
    """An optional ISO-8601 UTC timestamp field, as `2023-02-16T14:10:18.855Z` (milliseconds, as
    Webex writes them); "" when absent."""
    value = event.get(name)
    if value is None:
        return ""
    try:
        epoch = parse_timestamp(value)
    except InvalidEvent:
        kind = f"{name} is not an ISO-8601 UTC timestamp"
        raise InvalidEvent(f"{kind} like 2023-02-16T14:10:18.855Z", _event_id(event), kind) from None
    fraction = re.match(r"[0-9]*", value[20:]) if value[19:20] == "." else None
    return epoch_millis(epoch, int(((fraction.group(0) if fraction else "") + "000")[:3]))


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _text(event: dict[str, Any], name: str, limit: int = MAX_ID_LENGTH, required: bool = True) -> str:
    value = event.get(name)
    if type(value) is str and 0 < len(value) <= limit and not value[0].isspace():
        return value  # the common case, decided cheaply
    if value is None:
        if required:
            raise InvalidEvent(f"missing field {name}", _event_id(event))
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise InvalidEvent(f"{name} must be a non-empty string", _event_id(event))
    if len(value) > limit:
        raise InvalidEvent(f"{name} is longer than {limit} characters", _event_id(event))
    return value


def _event_id(event: dict[str, Any]) -> str | None:
    event_id = event.get("eventId")
    return event_id if isinstance(event_id, str) else None


def validate_event(event: dict[str, Any], now_epoch: int) -> dict[str, Any]:
    event_type = event.get("eventType")
    if event_type is None:
        raise InvalidEvent("missing field eventType", _event_id(event))
    if type(event_type) is not str or event_type not in _EVENT_TYPES:
        raise InvalidEvent(f"unknown eventType {str(event_type)[:60]!r}", kind="unknown eventType")
    event_id = _text(event, "eventId")
    if "occurredAt" not in event:
        raise InvalidEvent("missing field occurredAt", event_id)
    occurred_at = parse_timestamp(event["occurredAt"])
    if occurred_at > now_epoch + MAX_FUTURE_SECONDS:
        raise InvalidEvent(
            f"occurredAt is in the future (more than {MAX_FUTURE_SECONDS // 60} minutes after now)", event_id
        )
    if occurred_at < now_epoch - MAX_AGE_SECONDS:
        raise InvalidEvent(
            f"occurredAt is older than the report window ({LOOKBACK_YEARS} years) plus {AGE_MARGIN_DAYS} days",
            event_id,
        )
    record: dict[str, Any] = dict(_EMPTY_RECORD, event_id=event_id, event_type=event_type, occurred_at=occurred_at)
    if event_type in ASSIGNMENT_TYPES:
        for field, name in _ASSIGNMENT_FIELDS:
            value = event.get(name)
            # the common case inline (this loop runs for every event); anything odd → _text
            record[field] = (
                value
                if type(value) is str and 0 < len(value) <= MAX_ID_LENGTH and not value[0].isspace()
                else _text(event, name)
            )
        _subject(event, record)
    elif event_type == EventType.PARTNER_UPSERTED.value:
        record["partner_org_id"] = _text(event, "partnerOrgId")
        record["name"] = _text(event, "name", MAX_TEXT_LENGTH)
        record["parent_partner_org_id"] = _text(event, "parentPartnerOrgId", required=False)
        if record["parent_partner_org_id"] == record["partner_org_id"]:
            raise InvalidEvent("a partner cannot be its own parent", record["event_id"])
        record["subscription_id"] = _text(event, "subscriptionId", required=False)
        state = event.get("provisioningState")
        if state is not None and state not in PROVISIONING_STATES:
            raise InvalidEvent(
                f"provisioningState must be one of {', '.join(PROVISIONING_STATES)}",
                record["event_id"],
            )
        record["provisioning_state"] = state or ""
        record["created"] = _optional_instant(event, "created")
        record["billing_start_date"] = _optional_instant(event, "billingStartDate")
    elif event_type == EventType.CUSTOMER_UPSERTED.value:
        record["customer_org_id"] = _text(event, "customerOrgId")
        record["partner_org_id"] = _text(event, "partnerOrgId")
        record["external_id"] = _text(event, "externalId", required=False)
        record["name"] = _text(event, "name", MAX_TEXT_LENGTH, required=False)
        internal = event.get("internal", False)
        if not isinstance(internal, bool):
            raise InvalidEvent("internal must be true or false", record["event_id"])
        record["internal"] = internal
        record["name"] = _text(event, "name", MAX_TEXT_LENGTH, required=False)
    elif event_type == EventType.LOCATION_UPSERTED.value:
        record["partner_org_id"] = _text(event, "partnerOrgId")
        record["customer_org_id"] = _text(event, "customerOrgId")
        record["location_id"] = _text(event, "locationId")
        record["name"] = _text(event, "name", MAX_TEXT_LENGTH)
        if "\x00" in record["customer_org_id"]:
            raise InvalidEvent("customerOrgId must not hold a NUL character", record["event_id"])
    else:
        record["sku"] = _text(event, "sku")
        record["service_name"] = _text(event, "serviceName")
        record["description"] = _text(event, "description", MAX_TEXT_LENGTH, required=False)
    return record


def _subject(event: dict[str, Any], record: dict[str, Any]) -> None:
    subject = event.get("subject")
    if not isinstance(subject, dict):
        raise InvalidEvent("subject must be an object with a type of USER or WORKSPACE", record["event_id"])
    kind = subject.get("type")
    if kind == "USER":
        if "workspaceId" in subject:
            raise InvalidEvent("a USER subject has userId and subscriberId, not workspaceId", record["event_id"])
        record["subject_type"] = "USER"
        record["user_id"] = _subject_text(subject, "userId", record["event_id"])
        record["subscriber_id"] = _subject_text(subject, "subscriberId", record["event_id"])
    elif kind == "WORKSPACE":
        if "userId" in subject or "subscriberId" in subject:
            raise InvalidEvent("a WORKSPACE subject has workspaceId only", record["event_id"])
        record["subject_type"] = "WORKSPACE"
        record["workspace_id"] = _subject_text(subject, "workspaceId", record["event_id"])
    else:
        raise InvalidEvent(
            f"subject.type must be USER or WORKSPACE, got {str(kind)[:40]!r}",
            record["event_id"],
            kind="subject.type must be USER or WORKSPACE",
        )


def _subject_text(subject: dict[str, Any], name: str, event_id: str) -> str:
    try:
        return _text(subject, name)
    except InvalidEvent as error:
        raise InvalidEvent(
            error.reason.replace(name, f"subject.{name}", 1), event_id, error.kind.replace(name, f"subject.{name}", 1)
        ) from None


class Verdict(str, Enum):
    """What ingestion does with an event, given every event ever ingested (ARCHITECTURE.md §4)."""

    NEW = "new"  # land it
    DUPLICATE = "duplicate"  # the same event already landed: ignore it
    CONFLICT = "conflict"  # its id was ingested with other content: dead-letter it


@dataclass(frozen=True)
class Registered:
    verdict: Verdict
    landed_in: str | None = None  # for a conflict: where the first event with the id landed


@dataclass(frozen=True)
class Registrations:
    """The verdicts of rows registered together (`EventIdIndex.register_rows`)."""

    verdicts: list[Verdict]  # one per row
    landed_in: dict[int, str]  # row of a conflict → where the first event with its id landed

    def registered(self, row: int) -> Registered:
        return Registered(self.verdicts[row], self.landed_in.get(row))
