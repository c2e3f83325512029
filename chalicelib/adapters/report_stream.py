"""The reports table's stream (NEW_AND_OLD_IMAGES), typed at the edge (ARCHITECTURE.md §6): a
report that settled becomes a `ReportSettled`; lock and counter items, parking, leases, removals
and every other change are None."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from chalicelib.domain.messages import ReportSettled
from chalicelib.domain.webhooks import settled_event

from .dynamo_codec import from_item
from .dynamo_report_table import is_report_key


def settled_of_stream_record(record: dict[str, Any]) -> ReportSettled | None:
    """What a reports-table stream record announces, if anything (domain/webhooks.py
    `settled_event` says which transitions are events)."""
    if record.get("eventName") != "MODIFY":
        return None
    change = record.get("dynamodb", {})
    new = from_item(change.get("NewImage") or {})
    old = from_item(change.get("OldImage") or {})
    report_id = str(new.get("reportId", ""))
    if not report_id or not is_report_key(report_id) or "status" not in new or "partnerOrgId" not in new:
        return None
    revision = int(new.get("revision", 1))
    event = settled_event(old.get("status"), int(old.get("revision", 1)), new.get("status"), revision)
    if event is None:
        return None
    summary = json.loads(new["listing"]) if new.get("listing") else {"id": report_id, "status": new["status"]}
    return ReportSettled(
        partner_org_id=str(new["partnerOrgId"]),
        report_id=report_id,
        event=event.value,
        revision=revision,
        at=_changed_at(change.get("ApproximateCreationDateTime")),
        summary=summary,
    )


def _changed_at(value: Any) -> datetime:
    """When the change was made: Lambda gives epoch seconds, boto3 (wbr dev) a datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return datetime.now(timezone.utc)
