"""Report values: types, statuses, the create request and its validation, the duplicate key."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from enum import Enum
from typing import Any

from chalicelib.domain.errors import InvalidRequest, ReportErrorCode
from chalicelib.domain.messages import RunLease
from chalicelib.domain.periods import BillingPeriod, parse_strict_date

CATEGORY = "RECONCILIATION"
MAX_ORG_ID_LENGTH = 200


class ReportType(str, Enum):
    PARTNER = "PARTNER"
    CUSTOMER = "CUSTOMER"
    USER = "USER"


class ReportStatus(str, Enum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


def parse_enum(enum_type: type[Enum], field_name: str, value: object) -> Any:
    allowed = [member.value for member in enum_type]  # type: ignore[attr-defined]
    if value not in allowed:
        raise InvalidRequest(
            f"{field_name} must be one of {', '.join(allowed)}",
            [f"{field_name}: {value!r} is not one of {', '.join(allowed)}"],
        )
    return enum_type(value)


def iso_millis(moment: datetime) -> str:
    """`2026-11-24T10:15:30.123Z`."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class ReportRequest:
    """A validated create request. Equal requests (per partner) are duplicates."""

    period: BillingPeriod
    report_type: ReportType
    sub_partner_org_id: str | None
    internal: bool

    @classmethod
    def from_body(cls, body: Mapping[str, Any], today: date) -> ReportRequest:
        """Validate a create body; every problem is named. Unknown fields are ignored."""
        problems: list[str] = []
        dates: dict[str, date] = {}
        for name in ("billingStartDate", "billingEndDate"):
            if name not in body or body[name] is None:
                problems.append(f"{name} is required")
                continue
            try:
                dates[name] = parse_strict_date(name, body[name])
            except InvalidRequest as error:
                problems.extend(error.problems)
        report_type = ReportType.PARTNER
        if body.get("type") is not None:
            try:
                report_type = parse_enum(ReportType, "type", body["type"])
            except InvalidRequest as error:
                problems.extend(error.problems)
        internal = body.get("internal", False)
        if internal is None:
            internal = False
        if not isinstance(internal, bool):
            problems.append(f"internal must be true or false, got {internal!r}")
        sub_partner = body.get("subPartnerOrgId")
        if sub_partner is not None and (
            not isinstance(sub_partner, str) or not sub_partner.strip() or len(sub_partner) > MAX_ORG_ID_LENGTH
        ):
            problems.append("subPartnerOrgId must be a non-empty org id string")
        if len(dates) == 2:
            try:
                period = BillingPeriod.validated(dates["billingStartDate"], dates["billingEndDate"], today)
            except InvalidRequest as error:
                problems.extend(error.problems)
        if problems:
            raise InvalidRequest(problems[0], problems)
        return cls(period, report_type, sub_partner or None, bool(internal))

    def duplicate_key(self) -> str:
        """Identity of a report among one partner's reports (DESIGN §3 duplicate rule)."""
        # JSON keeps the parts apart whatever characters an org id holds.
        return json.dumps(
            [
                self.report_type.value,
                self.sub_partner_org_id,
                self.period.start.isoformat(),
                self.period.end.isoformat(),
                self.internal,
            ],
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class ReportError:
    code: ReportErrorCode
    description: str

    def to_json(self) -> dict[str, Any]:
        return {"code": int(self.code), "description": self.description}


@dataclass(frozen=True)
class Report:
    """A report's metadata, as stored and as served."""

    partner_org_id: str
    report_id: str
    request: ReportRequest
    status: ReportStatus
    created: datetime
    created_by: str
    tracking_id: str
    deadline: datetime
    revision: int = 1
    s3_key: str | None = None
    row_count: int | None = None
    sha256: str | None = None
    completed: datetime | None = None
    errors: tuple[ReportError, ...] = field(default_factory=tuple)
    # The lake version of each day the current file was built from (COMPLETED reports).
    day_versions: dict[date, int] | None = None
    # The first unpublished day an IN_PROGRESS report waits for (its generation is parked).
    waiting_for: date | None = None
    # The run working on the report (first generation, or a COMPLETED report's regeneration).
    run: RunLease | None = None
    resumes: int = 0  # how often a dead first generation was resumed (domain/leases.py)

    @property
    def period(self) -> BillingPeriod:
        return self.request.period

    @property
    def report_type(self) -> ReportType:
        return self.request.report_type

    def summary_json(self) -> dict[str, Any]:
        """The fields of a list item."""
        return {
            "id": self.report_id,
            "billingStartDate": self.period.start.isoformat(),
            "billingEndDate": self.period.end.isoformat(),
            "type": self.report_type.value,
            "status": self.status.value,
            "category": CATEGORY,
            "created": iso_millis(self.created),
            "createdBy": self.created_by,
        }

    def detail_json(self, temp_download_url: str | None = None) -> dict[str, Any]:
        """The body of GET /{id}; `temp_download_url` only for COMPLETED reports."""
        body = self.summary_json()
        body["internal"] = self.request.internal
        if self.request.sub_partner_org_id:
            body["subPartnerOrgId"] = self.request.sub_partner_org_id
        body["revision"] = self.revision
        if self.status is ReportStatus.COMPLETED:
            body["rowCount"] = self.row_count
            body["sha256"] = self.sha256
            if self.completed:
                body["completed"] = iso_millis(self.completed)
            if temp_download_url:
                body["tempDownloadURL"] = temp_download_url
        if self.status is ReportStatus.FAILED:
            body["errors"] = [error.to_json() for error in self.errors]
        if self.status is ReportStatus.IN_PROGRESS and self.waiting_for is not None:
            body["waitingFor"] = self.waiting_for.isoformat()  # the first day not published yet
        return body

    def accepted_json(self) -> dict[str, Any]:
        """The body of the 202 answer to create."""
        return {
            "id": self.report_id,
            "billingStartDate": self.period.start.isoformat(),
            "billingEndDate": self.period.end.isoformat(),
            "type": self.report_type.value,
            "internal": self.request.internal,
        }

    def download_filename(self) -> str:
        return (
            f"wholesale-billing_{self.report_type.value}_"
            f"{self.period.start.isoformat()}_{self.period.end.isoformat()}.csv"
        )


def report_object_key(partner_org_id: str, report_id: str, revision: int) -> str:
    """Where a report's CSV lives (DESIGN §4)."""
    return f"reports/{partner_org_id}/{report_id}/r{revision}.csv"


def report_parts_prefix(partner_org_id: str, report_id: str, revision: int) -> str:
    """Where a generation run of a report revision keeps its CSV parts."""
    return f"parts/{partner_org_id}/{report_id}/r{revision}/"
