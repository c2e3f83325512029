"""The duplicate locks and the in-progress counter of the reports table, and the actions a
report's move writes to them in the same transaction (the rules: domain/lifecycle.py)."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.lifecycle import LockEffect, counter_delta, lock_effect
from chalicelib.domain.reports import Report, ReportStatus

from .dynamo_codec import to_item
from .dynamo_report_table import COUNTER_SK, LOCK_PREFIX, item_key, lock_key, put_new


def lock_item(report: Report, duplicate_key: str) -> dict[str, Any]:
    """The duplicate lock `duplicate_key`, naming the report that holds it."""
    return {
        "partnerOrgId": report.partner_org_id,
        "reportId": LOCK_PREFIX + duplicate_key,
        "lockedReportId": report.report_id,
    }


def move_actions(
    table: str, report: Report, from_status: ReportStatus | None, to_status: ReportStatus | None, cap: int | None
) -> dict[str, dict[str, Any]]:
    """The actions, by name ("lock", "counter"), that a move of `report` from `from_status` to
    `to_status` (None: no report) writes besides the report: its lock taken (only if no report
    holds it) or released (if it still names the report) as lifecycle.lock_effect says, the
    counter changed by lifecycle.counter_delta (an increment refused at `cap`, when given)."""
    actions: dict[str, dict[str, Any]] = {}
    key = report.request.duplicate_key()
    effect = lock_effect(from_status, to_status, report.request)
    if effect is LockEffect.TAKE and key is not None:
        actions["lock"] = put_new(table, lock_item(report, key))
    elif effect is LockEffect.RELEASE and key is not None:
        actions["lock"] = {"Delete": lock_delete(table, report.partner_org_id, key, report.report_id)}
    delta = counter_delta(from_status, to_status)
    if delta:
        actions["counter"] = {"Update": counter_update(table, report.partner_org_id, delta, cap if delta > 0 else None)}
    return actions


def lock_delete(table: str, partner_org_id: str, duplicate_key: str, report_id: str) -> dict[str, Any]:
    """Remove the lock `duplicate_key` if it still names `report_id`."""
    return {
        "TableName": table,
        "Key": lock_key(partner_org_id, duplicate_key),
        "ConditionExpression": "lockedReportId = :locked",
        "ExpressionAttributeValues": to_item({":locked": report_id}),
    }


def counter_update(table: str, partner_org_id: str, delta: int, cap: int | None) -> dict[str, Any]:
    """Add `delta` to the partner's in-progress counter; refused if it is at `cap` (when given)."""
    update: dict[str, Any] = {
        "TableName": table,
        "Key": item_key(partner_org_id, COUNTER_SK),
        "UpdateExpression": "ADD inProgress :delta",
        "ExpressionAttributeValues": to_item({":delta": delta}),
    }
    if cap is not None:
        update["ConditionExpression"] = "attribute_not_exists(inProgress) OR inProgress < :cap"
        update["ExpressionAttributeValues"].update(to_item({":cap": cap}))
    return update
