"""What the report workflow is asked to do, as frozen values (cosmicpython's `commands`).

A generation run travels between processes as JSON (the input of a Step Functions execution,
``$.job`` in every state). The edges that receive it (the Lambda handlers of api/worker.py, the
local runner and the `Workflow` adapters) translate that JSON into a `GenerationJob` and back;
services never index the raw dict. A Task that failed reaches MarkFailed as a `StepFailure`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.regeneration import run_name
from chalicelib.domain.reports import Report


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
