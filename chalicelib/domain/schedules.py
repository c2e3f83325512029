"""Standing monthly reports (DESIGN §13): the rules, with no I/O.

A partner keeps schedules: the report it wants every month (`type`, `format`, `columns`,
`customerOrgIds`, `subPartnerOrgId`, `internal`) and where it goes besides the webhook event
`report.scheduled` (optionally a copy into an S3 bucket and prefix the partner names). When the
last day of a month is published, each schedule's report of that month is made once. Here: ids,
the create body, which month a published day closes, the report create body a schedule makes
for a month, where the copy lands and which buckets and prefixes a schedule may name.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.months import Month
from chalicelib.domain.periods import LOOKBACK_YEARS, years_before
from chalicelib.domain.report_ids import is_webex_id, new_webex_id
from chalicelib.domain.reports import ReportCategory, ReportRequest
from chalicelib.domain.timestamps import iso_millis

SCHEDULE_NOT_FOUND = "Schedule not found"
MAX_SCHEDULES_PER_PARTNER = 20  # a create beyond it is a 409
MAX_PREFIX_LENGTH = 512
# The body fields a schedule keeps and hands to report creation every month, as given.
REPORT_FIELDS = ("type", "format", "columns", "customerOrgIds", "subPartnerOrgId", "internal")
KNOWN_FIELDS = frozenset({*REPORT_FIELDS, "s3Bucket", "s3Prefix", "firstMonth"})
_KIND = "BILLING_SCHEDULE"
# S3's bucket naming rules (general purpose buckets), without the dotted forms that break TLS.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9!_.*'()=+-]+")


# ---- ids ---------------------------------------------------------------------------------


def new_schedule_id(schedule_uuid: uuid.UUID | None = None) -> str:
    """A Webex-style id: base64url("ciscospark://us/BILLING_SCHEDULE/<uuid4>") without padding."""
    return new_webex_id(_KIND, schedule_uuid)


def is_schedule_id(candidate: str) -> bool:
    return is_webex_id(_KIND, candidate)


# ---- months ------------------------------------------------------------------------------


def parse_month(field_name: str, value: object) -> Month:
    """A schedule's month (`firstMonth`, a run's month): a strict `YYYY-MM`."""
    month = Month.from_text(value)
    if month is None:
        raise InvalidRequest(f"{field_name} must be a month YYYY-MM", [f"{field_name}: {value!r} is not YYYY-MM"])
    return month


# ---- where the copy may go -----------------------------------------------------------------


def bucket_problems(bucket: str, service_buckets: Collection[str]) -> list[str]:
    """Why `s3Bucket` may not receive copies: not an S3 bucket name, or one of the service's
    own buckets (its lake and reports live there: a schedule never writes into them)."""
    if not _BUCKET.fullmatch(bucket) or "--" in bucket or bucket.startswith(("xn--", "sthree-")):
        return ["s3Bucket: must be an S3 bucket name (3-63 lowercase letters, digits and hyphens)"]
    if bucket in service_buckets:
        return ["s3Bucket: is a bucket of this service; name a bucket of your own"]
    return []


def prefix_problems(prefix: str, foreign_org_ids: Collection[str]) -> list[str]:
    """Why `s3Prefix` may not be used: path segments of safe characters separated by `/`
    (no empty, `.` or `..` segment, no leading `/`), and no segment that is the org id of a
    partner or customer outside the caller's scope: the copy lands under nothing the partner
    does not own."""
    if len(prefix) > MAX_PREFIX_LENGTH:
        return [f"s3Prefix: must be at most {MAX_PREFIX_LENGTH} characters"]
    segments = prefix.removesuffix("/").split("/") if prefix else []
    if any(not _PREFIX_SEGMENT.fullmatch(part) or part in (".", "..") for part in segments):
        return ["s3Prefix: segments of letters, digits and !_.*'()=+- separated by single '/' (no '.' or '..')"]
    foreign = [part for part in segments if part in foreign_org_ids]
    if foreign:
        return [f"s3Prefix: {foreign[0]!r} is an organization outside the caller's scope"]
    return []


def copy_key(prefix: str, schedule_id: str, month: Month, filename: str) -> str:
    """Where a schedule's report of `month` is copied: under the partner's prefix, then only
    what the partner owns (its schedule, the month, the report's download filename). A
    restatement's new revision lands on the same key (the copy is replaced)."""
    base = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    return f"{base}{schedule_id}/{month}/{filename}"


# ---- the create body -----------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleRequest:
    report_fields: Mapping[str, Any]  # the REPORT_FIELDS given, validated as report creation does
    first_month: Month
    s3_bucket: str | None
    s3_prefix: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any], now: datetime) -> ScheduleRequest:
        """The schedule a create body asks for; InvalidRequest naming every problem. The report
        fields are checked by the very rules of report creation (a report of the month before
        `now` stands in for every month to come); unknown fields are ignored. Which bucket and
        which orgs the partner may name is the service's to check (`bucket_problems`,
        `prefix_problems`)."""
        problems: list[str] = []
        today = now.astimezone(timezone.utc).date()
        current = Month.of(today)
        fields = {name: body[name] for name in REPORT_FIELDS if body.get(name) is not None}
        # `columns` and `customerOrgIds` included: report creation names their problems.
        sample = current.previous()
        try:
            ReportRequest.from_body(
                {
                    **fields,
                    "category": ReportCategory.RECONCILIATION.value,
                    "billingStartDate": sample.first_day.isoformat(),
                    "billingEndDate": sample.last_day.isoformat(),
                },
                now,
            )
        except InvalidRequest as error:
            problems.extend(error.problems)
        if body.get("category") not in (None, ReportCategory.RECONCILIATION.value):
            problems.append("category: a schedule makes RECONCILIATION reports of whole months")
        first_month = current
        if body.get("firstMonth") is not None:
            try:
                first_month = parse_month("firstMonth", body["firstMonth"])
                earliest = Month.of(years_before(today, LOOKBACK_YEARS))
                if first_month < earliest:
                    problems.append(f"firstMonth: must be {earliest} or later (reports reach 5 years back)")
            except InvalidRequest as error:
                problems.extend(error.problems)
        bucket, prefix = body.get("s3Bucket"), body.get("s3Prefix")
        if bucket is not None and not isinstance(bucket, str):
            problems.append("s3Bucket: must be a string, an S3 bucket name")
        if prefix is not None and (not isinstance(prefix, str) or bucket is None):
            problems.append("s3Prefix: must be a string, given with s3Bucket")
        if problems:
            raise InvalidRequest(problems[0], problems)
        return cls(fields, first_month, bucket or None, prefix or "")


# ---- schedules and their runs --------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    partner_org_id: str
    schedule_id: str
    report_fields: Mapping[str, Any] = field(compare=False)
    first_month: Month
    created: datetime
    created_by: str
    s3_bucket: str | None = None
    s3_prefix: str = ""

    def report_body(self, month: Month) -> dict[str, Any]:
        """The create body of the schedule's report of `month` (the fields it keeps, passed
        through as given, over the whole month)."""
        return {
            **self.report_fields,
            "billingStartDate": month.first_day.isoformat(),
            "billingEndDate": month.last_day.isoformat(),
        }

    def covers(self, month: Month) -> bool:
        return month >= self.first_month

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.schedule_id,
            **{name: self.report_fields[name] for name in REPORT_FIELDS if name in self.report_fields},
            "firstMonth": str(self.first_month),
            "delivery": {"events": ["report.scheduled"]},
            "created": iso_millis(self.created),
            "createdBy": self.created_by,
        }
        if self.s3_bucket:
            body["s3Bucket"] = self.s3_bucket
            body["s3Prefix"] = self.s3_prefix
        return body


@dataclass(frozen=True)
class ScheduleRun:
    """A schedule's report of a month: made (or adopted) once, `report_id`; or, when the month
    closed and the report could not be asked for (the sub-partner left the tree…), why."""

    partner_org_id: str
    schedule_id: str
    month: Month
    report_id: str | None
    at: datetime
    problem: str | None = None
    delivered_revision: int = 0  # the last revision copied and announced


def copy_json(bucket: str, key: str, error: str | None) -> dict[str, Any]:
    """What a `report.scheduled` event says about the copy into the partner's bucket."""
    body: dict[str, Any] = {"s3Bucket": bucket, "s3Key": key, "status": "FAILED" if error else "COPIED"}
    if error:
        body["error"] = error
    return body
