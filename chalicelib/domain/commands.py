"""What the report workflow is asked to do, as frozen values (cosmicpython's `commands`).

A generation run travels between processes as JSON (the input of a Step Functions execution,
``$.job`` in every state). The edges that receive it (runtime/workflow_edge.py for the Lambda
handlers of api/worker.py and the local runner, and the `Workflow` adapters) translate that
JSON into a `GenerationJob` and back (`to_json`/`from_json`); services never index the raw dict.
A Task that failed reaches MarkFailed as a `StepFailure` (`from_json` of the caught ``$.error``).
What each step takes and returns beside the job: domain/workflow_messages.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.regeneration import run_name
from chalicelib.domain.report_formats import ReportFormat
from chalicelib.domain.reports import Report, ReportStatus, report_object_key, report_parts_prefix


@dataclass(frozen=True)
class GenerationJob:
    """One generation run of a report at `revision`: its first generation, or (`base_revision`
    set) a regeneration that rebuilds the COMPLETED report at `base_revision` as `revision`.
    `trigger` says what started it (``create``, a publication, a sweep, a resume)."""

    partner_org_id: str
    report_id: str
    revision: int
    tracking_id: str
    trigger: str = "create"
    base_revision: int | None = None

    @property
    def is_regeneration(self) -> bool:
        return self.base_revision is not None

    @property
    def run_name(self) -> str:
        """The run's name (its lease, its execution): one run per revision and trigger."""
        return run_name(self.report_id, self.revision, self.trigger)

    @property
    def parts_prefix(self) -> str:
        """Where the run keeps its parts and shard list (removed by Finalize and MarkFailed)."""
        return report_parts_prefix(self.partner_org_id, self.report_id, self.revision)

    def object_key(self, file_format: ReportFormat) -> str:
        """The run's report file in `file_format`."""
        return report_object_key(self.partner_org_id, self.report_id, self.revision, file_format)

    def object_keys(self) -> list[str]:
        """The run's file in every format: what a failed run removes (its report may be gone)."""
        return [self.object_key(file_format) for file_format in ReportFormat]

    def is_run_of(self, report: Report | None) -> bool:
        """Does this job still describe what `report` wants? A first generation needs the report
        IN_PROGRESS at the job's revision; a regeneration needs it COMPLETED at the base revision."""
        if report is None:
            return False
        if self.is_regeneration:
            return report.status is ReportStatus.COMPLETED and report.revision == self.base_revision
        return report.status is ReportStatus.IN_PROGRESS and report.revision == self.revision

    def already_published(self, report: Report | None, s3_key: str, sha256: str) -> bool:
        """`report` already holds this very file at this run's revision (Finalize ran before and
        its answer was lost)."""
        return (
            report is not None
            and report.status is ReportStatus.COMPLETED
            and report.revision == self.revision
            and report.s3_key == s3_key
            and report.sha256 == sha256
        )

    def to_json(self) -> dict[str, Any]:
        """The workflow's ``$.job``: the keys and their order as every execution carried them."""
        data: dict[str, Any] = {
            "partnerOrgId": self.partner_org_id,
            "reportId": self.report_id,
            "revision": self.revision,
            "trackingId": self.tracking_id,
            "trigger": self.trigger,
        }
        if self.base_revision is not None:
            data["baseRevision"] = self.base_revision
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GenerationJob:
        """A ``$.job``, also one written before `trigger` existed (a first generation's)."""
        return cls(
            partner_org_id=data["partnerOrgId"],
            report_id=data["reportId"],
            revision=data["revision"],
            tracking_id=data.get("trackingId", ""),
            trigger=data.get("trigger", "create"),
            base_revision=data.get("baseRevision"),
        )


def job_of(report: Report, trigger: str = "create") -> GenerationJob:
    """The run that generates `report` at its revision."""
    return GenerationJob(report.partner_org_id, report.report_id, report.revision, report.tracking_id, trigger)


def regeneration_job_of(report: Report, trigger: str) -> GenerationJob:
    """A run that rebuilds a COMPLETED report as its next revision."""
    return GenerationJob(
        report.partner_org_id,
        report.report_id,
        report.revision + 1,
        report.tracking_id,
        trigger,
        base_revision=report.revision,
    )


@dataclass(frozen=True)
class StepFailure:
    """Why a Task failed, as MarkFailed is told: `error` names the error (an exception's class
    name, or a Step Functions one such as ``States.Timeout``); `message` is its message, if any."""

    error: str
    message: str | None = None

    @classmethod
    def from_json(cls, error: Mapping[str, Any]) -> StepFailure:
        """A caught ``$.error`` (``Error``, ``Cause``): the error's name and, from the Cause (for
        a Lambda error, JSON text with an ``errorMessage``; for a Step Functions error, text), its
        message."""
        cause = error.get("Cause")
        return cls(str(error.get("Error", "")), _cause_message(cause) if cause else None)


def _cause_message(cause: Any) -> str:
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
            if isinstance(parsed, dict) and "errorMessage" in parsed:
                return str(parsed["errorMessage"])
        except ValueError:
            return cause
    return str(cause)
