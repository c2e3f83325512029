"""Webex-style report ids: base64url("ciscospark://us/BILLING_REPORT/<uuid4>") without padding."""

from __future__ import annotations

import base64
import binascii
import uuid

_URI_PREFIX = "ciscospark://us/BILLING_REPORT/"
# The first 30 bytes of the URI encode to 40 fixed base64 characters: every report id starts so.
REPORT_ID_PREFIX = base64.urlsafe_b64encode(_URI_PREFIX[:30].encode()).decode()


def new_report_id(report_uuid: uuid.UUID | None = None) -> str:
    """A new report id; pass `report_uuid` for a deterministic id."""
    value = report_uuid or uuid.uuid4()
    raw = (_URI_PREFIX + str(value)).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def is_report_id(candidate: str) -> bool:
    """True when `candidate` decodes to a billing report URI holding a UUID."""
    if not candidate or len(candidate) > 200 or not candidate.isascii():
        return False
    padded = candidate + "=" * (-len(candidate) % 4)
    try:
        decoded = base64.urlsafe_b64decode(padded.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False
    if not decoded.startswith(_URI_PREFIX):
        return False
    try:
        uuid.UUID(decoded[len(_URI_PREFIX) :])
    except ValueError:
        return False
    return new_report_id(uuid.UUID(decoded[len(_URI_PREFIX) :])) == candidate
