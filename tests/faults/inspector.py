"""`Inspector`: reads the reports table and the reports bucket as they are (no service logic):
every report, every object, the duplicate locks and the in-progress counters, and what breaks
"COMPLETED with its file or FAILED with errors, nothing else"."""

from __future__ import annotations

import hashlib
from typing import Any

from chalicelib.adapters.dynamo_codec import from_item
from chalicelib.adapters.dynamo_report_store import COUNTER_SK, LOCK_PREFIX
from chalicelib.domain.reports import Report, ReportStatus


class Inspector:
    def __init__(self, container: Any) -> None:
        self._container = container

    def _items(self) -> list[dict[str, Any]]:
        container = self._container
        items: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {"TableName": container.settings.reports_table, "ConsistentRead": True}
        while True:
            page = container.dynamodb.scan(**arguments)
            items.extend(from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def reports(self) -> list[Report]:
        store = self._container.report_store
        found = []
        for item in self._items():
            if item["reportId"].startswith((LOCK_PREFIX, COUNTER_SK)):
                continue
            report = store.get(item["partnerOrgId"], item["reportId"])
            if report is not None:
                found.append(report)
        return found

    def locks(self) -> dict[str, str]:
        """duplicate-lock sort key → the report id it names."""
        return {
            item["reportId"]: item.get("lockedReportId", "")
            for item in self._items()
            if item["reportId"].startswith(LOCK_PREFIX)
        }

    def in_progress(self, partner_org_id: str) -> int:
        for item in self._items():
            if item["partnerOrgId"] == partner_org_id and item["reportId"] == COUNTER_SK:
                return int(item.get("inProgress", 0))
        return 0

    def objects(self) -> set[str]:
        """Every object in the reports bucket (final files, parts, anything)."""
        return set(self._container.blobs.list_keys(""))

    def settled_problems(self, partner_org_id: str) -> list[str]:
        """Everything that breaks "COMPLETED with its file or FAILED with errors, nothing else"."""
        problems: list[str] = []
        reports = self.reports()
        objects = self.objects()
        for report in reports:
            tag = f"report …{report.report_id[-8:]} r{report.revision}"
            if report.status is ReportStatus.IN_PROGRESS:
                problems.append(f"{tag} is still IN_PROGRESS")
            elif report.status is ReportStatus.FAILED:
                errors = report.detail_json().get("errors") or []
                if not errors:
                    problems.append(f"{tag} is FAILED without errors")
                for error in errors:
                    if type(error.get("code")) is not int or not str(error.get("description") or "").strip():
                        problems.append(f"{tag} has a malformed error {error!r}")
            else:
                if not report.s3_key:
                    problems.append(f"{tag} is COMPLETED without a file key")
                elif report.s3_key not in objects:
                    problems.append(f"{tag} is COMPLETED but its file {report.s3_key} is missing from S3")
                else:
                    body = self._container.s3.get_object(
                        Bucket=self._container.settings.reports_bucket, Key=report.s3_key
                    )["Body"].read()
                    if hashlib.sha256(body).hexdigest() != report.sha256:
                        problems.append(f"{tag} sha256 does not match its file")
        wanted = {report.s3_key for report in reports if report.status is ReportStatus.COMPLETED and report.s3_key}
        for key in sorted(objects - wanted):
            problems.append(f"orphan object in the reports bucket: {key}")
        in_progress = sum(1 for report in reports if report.status is ReportStatus.IN_PROGRESS)
        counter = self.in_progress(partner_org_id)
        if counter != in_progress:
            problems.append(f"in-progress counter is {counter}, but {in_progress} report(s) are IN_PROGRESS")
        holders = {report.report_id for report in reports if report.status is not ReportStatus.FAILED}
        locks = self.locks()
        for key, locked in locks.items():
            if locked not in holders:
                problems.append(f"duplicate lock {key} still names …{locked[-8:]} (not an active/COMPLETED report)")
        for report_id in sorted(holders - set(locks.values())):
            problems.append(f"report …{report_id[-8:]} holds no duplicate lock")
        return problems
