"""How instants are written: the API's ISO-8601 UTC with milliseconds (`created`, `asOf`, …; the
report store keeps the same text), and whole seconds as events give `occurredAt`."""

from __future__ import annotations

from datetime import datetime, timezone


def iso_millis(moment: datetime) -> str:
    """`2026-11-24T10:15:30.123Z`."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def epoch_millis(epoch: int, millis: int = 0) -> str:
    """`iso_millis` of an epoch second (and `millis`): `2023-02-16T14:10:18.855Z`."""
    return iso_millis(datetime.fromtimestamp(epoch, tz=timezone.utc).replace(microsecond=millis * 1000))


def iso_seconds(epoch: int) -> str:
    """`2026-10-01T08:30:00Z`, as events give `occurredAt`."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    """The instant an ISO-8601 text names (`Z` or an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
