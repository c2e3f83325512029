"""Webex-style ids: base64url("ciscospark://us/<KIND>/<uuid4>") without padding — reports
(`BILLING_REPORT`, as Webex), webhooks and schedules (extensions) alike."""

from __future__ import annotations

import binascii
import uuid

from chalicelib.domain import base64url

_URI_PREFIX = "ciscospark://us/BILLING_REPORT/"
# The first 30 bytes of the URI encode to 40 fixed base64 characters: every report id starts so.
REPORT_ID_PREFIX = base64url.encode(_URI_PREFIX[:30].encode())


def new_webex_id(kind: str, value: uuid.UUID | None = None) -> str:
    """A new id of `kind` (`BILLING_REPORT`, `WEBHOOK`, …); pass `value` for a deterministic id."""
    raw = f"ciscospark://us/{kind}/{value or uuid.uuid4()}".encode()
    return base64url.encode(raw)


def is_webex_id(kind: str, candidate: str) -> bool:
    """True when `candidate` is exactly what `new_webex_id(kind, …)` writes for some UUID."""
    if not candidate or len(candidate) > 200 or not candidate.isascii():
        return False
    prefix = f"ciscospark://us/{kind}/"
    try:
        decoded = base64url.decode(candidate).decode()
        return decoded.startswith(prefix) and new_webex_id(kind, uuid.UUID(decoded[len(prefix) :])) == candidate
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return False


def new_report_id(report_uuid: uuid.UUID | None = None) -> str:
    """A new report id; pass `report_uuid` for a deterministic id."""
    return new_webex_id("BILLING_REPORT", report_uuid)


def is_report_id(candidate: str) -> bool:
    """True when `candidate` decodes to a billing report URI holding a UUID."""
    return is_webex_id("BILLING_REPORT", candidate)
