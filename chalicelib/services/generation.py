"""The steps of report generation (DESIGN §6), as plain functions over JSON-able state.

Each step takes the state the workflow carries and returns what it adds, so the same code runs
as a Lambda task of the Step Functions state machine and in the local in-process runner.
State: ``{"job": {partnerOrgId, reportId, revision, trackingId}, ...}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from chalicelib.domain.errors import (
    REPORT_ERROR_DESCRIPTIONS,
    DataNotAvailable,
    ReportErrorCode,
    ReportGone,
)
from chalicelib.domain.partners import PartnerTree
from chalicelib.domain.report_rows import CsvRenderer, CustomerInfo, PartnerInfo, RowContext
from chalicelib.domain.reports import Report, ReportError, ReportStatus, report_object_key, report_parts_prefix
from chalicelib.services.ports import BlobStore, Directory, ReportStore, UsageCalendar, UsageLake, UsageSlice
from chalicelib.services.reports import parts_prefix

_RENDER_BATCH_ROWS = 10_000
# Step Functions error names (exception class names) → the code a FAILED report carries.
ERROR_CODES: dict[str, ReportErrorCode] = {DataNotAvailable.__name__: ReportErrorCode.DATA_NOT_AVAILABLE}


@dataclass(frozen=True)
class GenerationPolicy:
    data_wait_hours: int
    data_poll_seconds: int
    shard_customers: int


class GenerationSteps:
    def __init__(
        self,
        store: ReportStore,
        blobs: BlobStore,
        directory: Directory,
        calendar: UsageCalendar,
        lake: UsageLake,
        policy: GenerationPolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._directory = directory
        self._calendar = calendar
        self._lake = lake
        self._policy = policy
        self._clock = clock

    # ---- Plan ---------------------------------------------------------------------------

    def plan(self, state: dict[str, Any]) -> dict[str, Any]:
        """Check data readiness and split the report's customers into shards.

        Returns ``{"job", "gone"}``; ``"ready": False`` with ``"waitSeconds"`` while some day is
        unpublished; or ``"ready": True`` with ``"dayVersions"`` (pinned) and ``"shards"``."""
        job = state["job"]
        report = self._store.get(job["partnerOrgId"], job["reportId"])
        if report is None or report.revision != job["revision"] or report.status is not ReportStatus.IN_PROGRESS:
            return {"job": job, "gone": True, "ready": False}
        days = list(report.period.days())
        versions = self._calendar.published_versions(days)
        missing = [day for day in days if day not in versions]
        if missing:
            waited = self._clock() - report.created
            if waited >= timedelta(hours=self._policy.data_wait_hours):
                raise DataNotAvailable(
                    f"Usage for {len(missing)} day(s) of the period, first {missing[0].isoformat()}, "
                    f"was not published within {self._policy.data_wait_hours} hours"
                )
            return {"job": job, "gone": False, "ready": False, "waitSeconds": self._policy.data_poll_seconds}
        # Shards are consecutive ranges of customer ids that together cover every id (usage of a
        # customer the directory does not know yet is counted too, and no customer twice).
        _, _, in_scope, _ = self._scope(report)
        customers = sorted({customer.org_id for customer in in_scope})
        size = self._policy.shard_customers
        if report.report_type.value == "PARTNER":
            size = max(len(customers), 1)  # PARTNER rows sum across customers: one shard
        bounds = customers[size::size]
        starts = [None, *bounds]
        shards = [
            {
                "index": index,
                "customersFrom": start,
                "customersBefore": (bounds[index] if index < len(bounds) else None),
            }
            for index, start in enumerate(starts)
        ]
        return {
            "job": job,
            "gone": False,
            "ready": True,
            "dayVersions": {day.isoformat(): version for day, version in sorted(versions.items())},
            "shards": shards,
        }

    # ---- Aggregate (one shard) ----------------------------------------------------------

    def aggregate_shard(self, state: dict[str, Any]) -> dict[str, Any]:
        """Aggregate one shard's slice of the lake into a CSV part (no header) in S3."""
        job, shard = state["job"], state["shard"]
        report = self._require(job)
        low, high = shard["customersFrom"], shard["customersBefore"]
        partner, tree, in_scope, internal = self._scope(report)
        customers = [
            customer
            for customer in in_scope
            if (low is None or customer.org_id >= low) and (high is None or customer.org_id < high)
        ]
        context = RowContext(
            report_type=report.report_type,
            partner=partner,
            customers={customer.org_id: customer for customer in customers},
            skus={sku.sku: sku for sku in self._directory.skus()},
        )
        usage = UsageSlice(
            day_versions={date.fromisoformat(day): version for day, version in state["dayVersions"].items()},
            partner_org_ids=tuple(tree),
            customers_from=low,
            customers_before=high,
            excluded_customer_ids=tuple(sorted(internal)),
        )
        renderer = CsvRenderer()
        chunks: list[str] = []
        batch: list[list[str]] = []
        rows = 0
        for row in self._lake.aggregate(report.report_type, usage):
            batch.append(context.cells(row))
            rows += 1
            if len(batch) >= _RENDER_BATCH_ROWS:
                chunks.append(renderer.render(batch))
                batch = []
        chunks.append(renderer.render(batch))
        part_key = f"{parts_prefix(report)}part-{shard['index']:05d}.csv"
        self._blobs.put_text(part_key, "".join(chunks))
        return {"partKey": part_key, "rows": rows}

    # ---- Assemble -----------------------------------------------------------------------

    def assemble(self, state: dict[str, Any]) -> dict[str, Any]:
        """Join header + parts in shard order into the report object; count rows, hash bytes."""
        job = state["job"]
        report = self._require(job)
        parts = sorted(state["parts"], key=lambda part: part["partKey"])
        key = report_object_key(report.partner_org_id, report.report_id, report.revision)
        header = CsvRenderer().header(report.report_type).encode("utf-8")
        _, sha256 = self._blobs.concatenate(key, header, [part["partKey"] for part in parts])
        self._blobs.delete([part["partKey"] for part in parts])
        return {"s3Key": key, "rowCount": sum(part["rows"] for part in parts), "sha256": sha256}

    # ---- Finalize -----------------------------------------------------------------------

    def finalize(self, state: dict[str, Any]) -> dict[str, Any]:
        """IN_PROGRESS → COMPLETED if the report still exists at this revision, else clean up."""
        job, file = state["job"], state["file"]
        report = self._store.get(job["partnerOrgId"], job["reportId"])
        completed = (
            report is not None
            and report.revision == job["revision"]
            and self._store.complete(report, file["s3Key"], file["rowCount"], file["sha256"], self._clock())
        )
        if not completed:
            self._blobs.delete([file["s3Key"]])  # never resurrect a deleted report
        return {"completed": completed}

    # ---- MarkFailed ---------------------------------------------------------------------

    def mark_failed(self, state: dict[str, Any]) -> dict[str, Any]:
        """Any failure: status FAILED with errors[{code, description}], parts removed."""
        job = state["job"]
        error = state.get("error") or {}
        code = ERROR_CODES.get(error.get("Error", ""), ReportErrorCode.GENERATION_FAILED)
        description = REPORT_ERROR_DESCRIPTIONS[code]
        if code is ReportErrorCode.DATA_NOT_AVAILABLE and error.get("Cause"):
            description = f"{description} {_cause_message(error['Cause'])}"
        report = self._store.get(job["partnerOrgId"], job["reportId"])
        failed = False
        if report is not None and report.revision == job["revision"]:
            failed = self._store.fail(report, [ReportError(code, description)])
        prefix = report_parts_prefix(job["partnerOrgId"], job["reportId"], job["revision"])
        self._blobs.delete(self._blobs.list_keys(prefix))
        return {"failed": failed, "code": int(code)}

    # ---- helpers ------------------------------------------------------------------------

    def _require(self, job: dict[str, Any]) -> Report:
        report = self._store.get(job["partnerOrgId"], job["reportId"])
        if report is None or report.revision != job["revision"] or report.status is not ReportStatus.IN_PROGRESS:
            raise ReportGone(job["reportId"])
        return report

    def _scope(self, report: Report) -> tuple[PartnerInfo, list[str], list[CustomerInfo], set[str]]:
        """Read from the directory once: the partner the report names, the org ids it covers, its
        customers (internal ones only with `internal: true`) and the internal ids it leaves out."""
        tree = PartnerTree(self._directory.partners())
        partner = tree.report_scope(report.partner_org_id, report.request.sub_partner_org_id)
        org_ids = tree.subtree(partner.org_id)
        customers = self._directory.customers_of(org_ids)
        if report.request.internal:
            return partner, org_ids, customers, set()
        left_out = {customer.org_id for customer in customers if customer.internal}
        return partner, org_ids, [customer for customer in customers if not customer.internal], left_out


def job_of(report: Report) -> dict[str, Any]:
    """The workflow input that names one generation run of `report`."""
    return {
        "partnerOrgId": report.partner_org_id,
        "reportId": report.report_id,
        "revision": report.revision,
        "trackingId": report.tracking_id,
    }


def _cause_message(cause: Any) -> str:
    """Step Functions passes a Lambda error's cause as JSON text with an errorMessage."""
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
            if isinstance(parsed, dict) and "errorMessage" in parsed:
                return str(parsed["errorMessage"])
        except ValueError:
            return cause
    return str(cause)
