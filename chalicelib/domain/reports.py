"""Report values: types, statuses, the create request and its validation, the duplicate key."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import Any

from chalicelib.domain.errors import InvalidRequest, ReportErrorCode
from chalicelib.domain.messages import RunLease
from chalicelib.domain.periods import BillingPeriod, parse_strict_date, utc_today
from chalicelib.domain.report_columns import MAX_COLUMNS, column_problems
from chalicelib.domain.report_formats import ReportFormat
from chalicelib.domain.report_kinds import POINT_IN_TIME_TYPES, ReportCategory, ReportType
from chalicelib.domain.timestamps import iso_millis

MAX_ORG_ID_LENGTH = 200


class ReportStatus(str, Enum):
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


def parse_enum(enum_type: type[Enum], field_name: str, value: object) -> Any:
    allowed = [member.value for member in enum_type]
    if value not in allowed:
        raise InvalidRequest(
            f"{field_name} must be one of {', '.join(allowed)}",
            [f"{field_name}: {value!r} is not one of {', '.join(allowed)}"],
        )
    return enum_type(value)


def _optional_enum(body: Mapping[str, Any], field_name: str, default: Enum, problems: list[str]) -> Any:
    """The body's `field_name` as a member of `default`'s enum (`default` when absent or null);
    a value outside the enum is added to `problems` (and `default` returned)."""
    if body.get(field_name) is None:
        return default
    try:
        return parse_enum(type(default), field_name, body[field_name])
    except InvalidRequest as error:
        problems.extend(error.problems)
        return default


# Most customers one report may be asked for (`customerOrgIds`).
MAX_CUSTOMER_ORG_IDS = 100


def _customer_org_ids(value: object, problems: list[str]) -> tuple[str, ...] | None:
    """`customerOrgIds` (absent or null: every customer) as sorted distinct ids; a problem when
    it is not a non-empty list of at most MAX_CUSTOMER_ORG_IDS org id strings."""
    if value is None:
        return None
    if not isinstance(value, list):
        problems.append("customerOrgIds must be a list of customer org ids")
        return None
    if not value:
        problems.append("customerOrgIds must name at least one customer (omit it for every customer)")
        return None
    if len(value) > MAX_CUSTOMER_ORG_IDS:
        problems.append(f"customerOrgIds names {len(value)} customers; at most {MAX_CUSTOMER_ORG_IDS}")
        return None
    bad = [item for item in value if not _is_org_id(item)]
    if bad:
        problems.append(f"customerOrgIds: {json.dumps(bad[0])[:60]} is not a non-empty org id string")
        return None
    return tuple(sorted(set(value)))


def _columns(
    value: object, report_type: ReportType, category: ReportCategory, problems: list[str]
) -> tuple[str, ...] | None:
    """`columns` (absent or null: Webex's) as given; its problems named (report_columns)."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > 2 * MAX_COLUMNS or not all(isinstance(item, str) for item in value):
        problems.append("columns must be a list of column names")
        return None
    found = column_problems(value, report_type, category)
    problems.extend(found)
    return None if found else tuple(value)


def _is_org_id(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= MAX_ORG_ID_LENGTH


@dataclass(frozen=True)
class ReportRequest:
    """A validated create request. Equal requests (per partner) are duplicates."""

    period: BillingPeriod
    report_type: ReportType
    sub_partner_org_id: str | None
    internal: bool
    category: ReportCategory = ReportCategory.RECONCILIATION
    # POINT_IN_TIME: the instant the allocations are counted at (the create time, ARCHITECTURE.md §3).
    as_of: datetime | None = None
    # The file's format (an extension; Webex clients never send it and get CSV).
    file_format: ReportFormat = ReportFormat.CSV
    # Extensions (DESIGN §3): a report of these customers only (sorted, each once; None: all),
    # and the file's columns in the order asked (None: Webex's columns of the type).
    customer_org_ids: tuple[str, ...] | None = None
    columns: tuple[str, ...] | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any], now: datetime) -> ReportRequest:
        """Validate a create body received at `now`; every problem is named. Unknown fields are
        ignored."""
        problems: list[str] = []
        dates: dict[str, date] = {}
        category = _optional_enum(body, "category", ReportCategory.RECONCILIATION, problems)
        point_in_time = category is ReportCategory.POINT_IN_TIME
        for name in ("billingStartDate", "billingEndDate"):
            if name not in body or body[name] is None:
                if not point_in_time:  # a snapshot's dates are optional, and ignored
                    problems.append(f"{name} is required")
                continue
            try:
                dates[name] = parse_strict_date(name, body[name])
            except InvalidRequest as error:
                problems.extend(error.problems)
        report_type = _optional_enum(body, "type", ReportType.PARTNER, problems)
        file_format = _optional_enum(body, "format", ReportFormat.CSV, problems)
        if point_in_time and report_type not in POINT_IN_TIME_TYPES:
            allowed = " or ".join(member.value for member in POINT_IN_TIME_TYPES)
            problems.append(f"type: a POINT_IN_TIME report counts allocations per customer or per user: use {allowed}")
        internal = body.get("internal", False)
        if internal is None:
            internal = False
        if not isinstance(internal, bool):
            problems.append(f"internal must be true or false, got {internal!r}")
        sub_partner = body.get("subPartnerOrgId")
        if sub_partner is not None and not _is_org_id(sub_partner):
            problems.append("subPartnerOrgId must be a non-empty org id string")
        customer_org_ids = _customer_org_ids(body.get("customerOrgIds"), problems)
        columns = _columns(body.get("columns"), report_type, category, problems)
        as_of = None
        if point_in_time:
            as_of = now.astimezone(timezone.utc)
            period = BillingPeriod(as_of.date(), as_of.date())  # echoed as both billing dates
        elif len(dates) == 2:
            try:
                period = BillingPeriod.validated(dates["billingStartDate"], dates["billingEndDate"], utc_today(now))
            except InvalidRequest as error:
                problems.extend(error.problems)
        if problems:
            raise InvalidRequest(problems[0], problems)
        return cls(
            period,
            report_type,
            sub_partner or None,
            bool(internal),
            category,
            as_of,
            file_format,
            customer_org_ids,
            columns,
        )

    @property
    def point_in_time(self) -> bool:
        return self.category is ReportCategory.POINT_IN_TIME

    def duplicate_key(self) -> str | None:
        """Identity of a report among one partner's reports (ARCHITECTURE.md §2 duplicate rule); None for
        a point-in-time report, which is never a duplicate of another (each is its own snapshot)."""
        if self.point_in_time:
            return None
        # JSON keeps the parts apart whatever characters an org id holds. The format joins the
        # key only when it is not the default, so the keys of CSV reports stay as they were.
        parts: list[object] = [
            self.report_type.value,
            self.sub_partner_org_id,
            self.period.start.isoformat(),
            self.period.end.isoformat(),
            self.internal,
        ]
        if not self.file_format.is_default:
            parts.append(self.file_format.value)
        # The extensions join it only when given (tagged, so no part is read as another).
        if self.customer_org_ids is not None:
            parts.append({"customerOrgIds": list(self.customer_org_ids)})
        if self.columns is not None:
            parts.append({"columns": list(self.columns)})
        return json.dumps(parts, separators=(",", ":"))

    def extension_json(self) -> dict[str, Any]:
        """`customerOrgIds` and `columns` when the request gave them (every answer echoes them)."""
        body: dict[str, Any] = {}
        if self.customer_org_ids is not None:
            body["customerOrgIds"] = list(self.customer_org_ids)
        if self.columns is not None:
            body["columns"] = list(self.columns)
        return body


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
    size: int | None = None  # bytes of the file (reports completed before sizes were kept: None)
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
        """The fields of a list item (ARCHITECTURE.md §2): `internal` and `subPartnerOrgId` when set, so
        such reports can be told apart from the others of the same period; `asOf` of a snapshot."""
        body: dict[str, Any] = {
            "id": self.report_id,
            "billingStartDate": self.period.start.isoformat(),
            "billingEndDate": self.period.end.isoformat(),
            "type": self.report_type.value,
            "status": self.status.value,
            "category": self.request.category.value,
            "created": iso_millis(self.created),
            "createdBy": self.created_by,
        }
        if self.request.internal:
            body["internal"] = True
        if self.request.sub_partner_org_id:
            body["subPartnerOrgId"] = self.request.sub_partner_org_id
        if self.request.as_of is not None:
            body["asOf"] = iso_millis(self.request.as_of)
        if not self.request.file_format.is_default:
            body["format"] = self.request.file_format.value
        body.update(self.request.extension_json())
        return body

    def gives_up_waiting_at(self, data_wait: timedelta) -> datetime:
        """A report whose usage days are not all published waits `data_wait` (DATA_WAIT_HOURS)
        from its creation, then FAILS with DATA_NOT_AVAILABLE (1001)."""
        return self.created + data_wait

    def detail_json(self, temp_download_url: str | None = None, data_wait: timedelta | None = None) -> dict[str, Any]:
        """The body of GET /{id}; `temp_download_url` only for COMPLETED reports; a report that
        waits for usage says for which day (`waitingFor`) and, given `data_wait`, until when."""
        body = self.summary_json()
        body["internal"] = self.request.internal
        body["revision"] = self.revision
        body["format"] = self.request.file_format.value
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
            if data_wait is not None:
                body["waitingUntil"] = iso_millis(self.gives_up_waiting_at(data_wait))
        return body

    def created_json(self) -> dict[str, Any]:
        """The body of the 200 answer to create: Webex's `ReportId` (id, dates, type, category)
        and `internal`, a Webex field since 2025; `asOf` of a snapshot as an extension."""
        body = {
            "id": self.report_id,
            "billingStartDate": self.period.start.isoformat(),
            "billingEndDate": self.period.end.isoformat(),
            "type": self.report_type.value,
            "category": self.request.category.value,
            "internal": self.request.internal,
        }
        if self.request.as_of is not None:
            body["asOf"] = iso_millis(self.request.as_of)
        if not self.request.file_format.is_default:
            body["format"] = self.request.file_format.value
        body.update(self.request.extension_json())
        return body

    def download_filename(self) -> str:
        extension = self.request.file_format.extension
        if self.request.as_of is not None:
            stamp = self.request.as_of.astimezone(timezone.utc).strftime("%Y-%m-%dT%H%M%SZ")
            return f"wholesale-billing_{self.report_type.value}_POINT_IN_TIME_{stamp}.{extension}"
        return (
            f"wholesale-billing_{self.report_type.value}_"
            f"{self.period.start.isoformat()}_{self.period.end.isoformat()}.{extension}"
        )


def by_day_json(by_day: Mapping[date, int]) -> dict[str, int]:
    """A number per day (a lake version, a row count) as the workflow state and the store carry
    it: ISO day → number, in day order (`dayVersions`, `dayRows`)."""
    return {day.isoformat(): int(number) for day, number in sorted(by_day.items())}


def by_day_from_json(by_day: Mapping[str, Any]) -> dict[date, int]:
    """`by_day_json` read back."""
    return {date.fromisoformat(day): int(number) for day, number in by_day.items()}


def report_files_prefix(partner_org_id: str, report_id: str) -> str:
    """Everything a report keeps in S3 (each revision's file, its diffs) is under this prefix,
    removed with the report."""
    return f"reports/{partner_org_id}/{report_id}/"


def report_object_key(
    partner_org_id: str, report_id: str, revision: int, file_format: ReportFormat = ReportFormat.CSV
) -> str:
    """Where revision `revision` of a report's file lives (ARCHITECTURE.md §3); earlier revisions'
    files stay until the report is deleted (a diff reads them)."""
    return f"{report_files_prefix(partner_org_id, report_id)}r{revision}.{file_format.extension}"


def report_parts_prefix(partner_org_id: str, report_id: str, revision: int) -> str:
    """Where a generation run of a report revision keeps its CSV parts."""
    return f"parts/{partner_org_id}/{report_id}/r{revision}/"
