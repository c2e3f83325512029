"""Reports ⇄ items of the reports table (plain values; `dynamo_codec` types them for DynamoDB).

Besides the report's fields an item holds the sort attributes of the list indexes
(dynamo_report_table.SORT_INDEXES) and its list item as one `listing` attribute.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

from chalicelib.domain.errors import ReportErrorCode
from chalicelib.domain.messages import RunLease
from chalicelib.domain.periods import BillingPeriod
from chalicelib.domain.report_formats import ReportFormat
from chalicelib.domain.reports import (
    Report,
    ReportCategory,
    ReportError,
    ReportRequest,
    ReportStatus,
    ReportType,
    by_day_from_json,
    by_day_json,
)
from chalicelib.domain.timestamps import iso_millis as iso
from chalicelib.domain.timestamps import parse_iso
from chalicelib.services.ports import ReportFile

# The attributes of a run's lease on a report (removed when the run gives it back).
LEASE_ATTRIBUTES = ("runName", "runSince")


def report_item(report: Report) -> dict[str, Any]:
    request = report.request
    return {
        "partnerOrgId": report.partner_org_id,
        "reportId": report.report_id,
        "type": request.report_type.value,
        "billingStartDate": request.period.start.isoformat(),
        "billingEndDate": request.period.end.isoformat(),
        "subPartnerOrgId": request.sub_partner_org_id,
        "internal": request.internal,
        "status": report.status.value,
        "created": iso(report.created),
        "createdBy": report.created_by,
        "trackingId": report.tracking_id,
        "deadline": int(report.deadline.timestamp()),
        "revision": report.revision,
        "s3Key": report.s3_key,
        "rowCount": report.row_count,
        "sha256": report.sha256,
        "completed": iso(report.completed) if report.completed else None,
        "errors": [error.to_json() for error in report.errors] or None,
        "sortStart": f"{request.period.start.isoformat()}#{report.report_id}",
        "sortEnd": f"{request.period.end.isoformat()}#{report.report_id}",
        "sortStatus": sort_status(report.status, report.report_id),
        "dayVersions": versions_attribute(report.day_versions) if report.day_versions else None,
        "waitingFor": report.waiting_for.isoformat() if report.waiting_for else None,
        "runName": report.run.run if report.run else None,
        "runSince": iso(report.run.since) if report.run else None,
        "runResumes": report.resumes or None,
        "category": request.category.value,
        "asOf": iso(request.as_of) if request.as_of else None,
        "format": None if request.file_format.is_default else request.file_format.value,
        "sizeBytes": report.size,
        "customerOrgIds": list(request.customer_org_ids) if request.customer_org_ids is not None else None,
        "columns": list(request.columns) if request.columns is not None else None,
        "listing": listing(report),
    }


def report_from(item: Mapping[str, Any]) -> Report:
    request = ReportRequest(
        period=BillingPeriod(date.fromisoformat(item["billingStartDate"]), date.fromisoformat(item["billingEndDate"])),
        report_type=ReportType(item["type"]),
        sub_partner_org_id=item.get("subPartnerOrgId"),
        internal=bool(item.get("internal", False)),
        category=ReportCategory(item.get("category") or ReportCategory.RECONCILIATION.value),
        as_of=parse_iso(item["asOf"]) if item.get("asOf") else None,
        file_format=ReportFormat(item.get("format") or ReportFormat.CSV.value),
        customer_org_ids=tuple(item["customerOrgIds"]) if item.get("customerOrgIds") else None,
        columns=tuple(item["columns"]) if item.get("columns") else None,
    )
    return Report(
        partner_org_id=item["partnerOrgId"],
        report_id=item["reportId"],
        request=request,
        status=ReportStatus(item["status"]),
        created=parse_iso(item["created"]),
        created_by=item.get("createdBy", ""),
        tracking_id=item.get("trackingId", ""),
        deadline=datetime.fromtimestamp(int(item["deadline"]), tz=timezone.utc),
        revision=int(item.get("revision", 1)),
        s3_key=item.get("s3Key"),
        row_count=item.get("rowCount"),
        sha256=item.get("sha256"),
        size=int(item["sizeBytes"]) if item.get("sizeBytes") is not None else None,
        completed=parse_iso(item["completed"]) if item.get("completed") else None,
        errors=tuple(
            ReportError(ReportErrorCode(int(error["code"])), str(error["description"]))
            for error in item.get("errors") or []
        ),
        day_versions=versions_from(item["dayVersions"]) if item.get("dayVersions") else None,
        waiting_for=date.fromisoformat(item["waitingFor"]) if item.get("waitingFor") else None,
        run=RunLease(item["runName"], parse_iso(item["runSince"])) if item.get("runName") else None,
        resumes=int(item.get("runResumes") or 0),
    )


def listing(report: Report) -> str:
    """A report's list item as one attribute: a list page is read and served as it is stored."""
    return json.dumps(report.summary_json(), separators=(",", ":"))


def sort_status(status: ReportStatus, report_id: str) -> str:
    """The sort attribute of the status order."""
    return f"{status.value}#{report_id}"


def file_attributes(file: ReportFile) -> dict[str, Any]:
    """The attributes a report file sets (on completion, and on each regeneration)."""
    attributes: dict[str, Any] = {
        "s3Key": file.s3_key,
        "rowCount": file.row_count,
        "sha256": file.sha256,
        "dayVersions": versions_attribute(file.day_versions),
    }
    if file.size is not None:
        attributes["sizeBytes"] = file.size
    return attributes


# `dayVersions` as stored: the lake version by ISO day, in day order (as the workflow carries it)
versions_attribute = by_day_json
versions_from = by_day_from_json
