"""What the Webex Python SDK does with the wholesale billing reports API, mirrored without pydantic
and without the SDK, so that the contract tests can pin each behaviour of this service it relies on.

Mirrored from github.com/jeokrohn/wxc_sdk (1.37.0), not copied; each function names its source:

- `apib/tests/generated/wholesale-billing_auto.py`: `WholesaleBillingReportsApi` (list / get /
  create / delete) and its models `ListReport`, `Report`, `ReportId`, `ReportError` and enums
  `ListReportType`, `ListReportStatus`, `ListWholesaleBillingReportsSortBy`;
- `wxc_sdk/base.py`: `ApiModel` (camelCase aliases, extra fields allowed), `to_camel`, `dt_iso_str`;
- `wxc_sdk/rest.py`: `RestSession._request_w_response` (headers, body decoding, errors),
  `follow_pagination`, `retry_request` (429), `RestError` / `ErrorDetail` / `SingleError`.

Where the SDK leans on pydantic's lax parsing, the mirror accepts only the strict subset this
service promises (e.g. `errors[].code` must be a JSON integer, not a numeric string).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any

from dateutil.parser import isoparse
from requests.utils import parse_header_links

SDK_BASE_PATH = "/v1/wholesale/billing/reports"  # RestSession.BASE ".../v1" + ApiChild base


class ListReportType(str, Enum):
    """wholesale-billing_auto.py `ListReportType`."""

    user = "USER"
    customer = "CUSTOMER"
    partner = "PARTNER"


class ListReportStatus(str, Enum):
    """wholesale-billing_auto.py `ListReportStatus`."""

    in_progress = "IN_PROGRESS"
    completed = "COMPLETED"
    failed = "FAILED"


class ListWholesaleBillingReportsSortBy(str, Enum):
    """wholesale-billing_auto.py `ListWholesaleBillingReportsSortBy`."""

    id = "id"
    billing_start_date = "billingStartDate"
    billing_end_date = "billingEndDate"
    status = "status"


class SdkValidationError(ValueError):
    """Where pydantic would raise `ValidationError` while the SDK parses a response."""


class SdkRestError(Exception):
    """rest.py `RestError`: raised for every status >= 400, carrying the parsed `ErrorDetail`."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"{status}: {text[:200]}")
        self.status = status
        try:
            self.detail: dict[str, Any] | str = validate_error_detail(json.loads(text))
        except (ValueError, SdkValidationError):
            self.detail = text

    @property
    def description(self) -> str:
        """rest.py `RestError.description` -> `ErrorDetail.description`: errors[0].description."""
        if isinstance(self.detail, str):
            return self.detail
        errors = self.detail["errors"]
        return errors[0]["description"] if errors else ""


# --- requests: wxc_sdk/rest.py RestSession._request_w_response ------------------------------


def request_headers(token: str) -> dict[str, str]:
    """The headers `_request_w_response` sends with *every* request, GET and DELETE included."""
    return {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json;charset=utf-8",
        "TrackingID": f"SIMPLE_{uuid.uuid4()}",
    }


def response_data(status: int, headers: Mapping[str, str], text: str) -> Any:
    """`_request_w_response`: raise on >= 400, else the body as JSON only if the Content-Type says
    so (else the text, e.g. '' when no Content-Type: `ReportId.model_validate('')` then fails)."""
    if status >= 400:
        raise SdkRestError(status, text)
    content_type = {key.lower(): value for key, value in headers.items()}.get("content-type")
    if not content_type:
        return ""
    if content_type.startswith("application/json") and text:
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def retry_after_seconds(headers: Mapping[str, str]) -> int:
    """rest.py `retry_request.giveup_429`: `int(Retry-After)` (default 5), at most 60 s."""
    lowered = {key.lower(): value for key, value in headers.items()}
    return min(int(lowered.get("retry-after", 5)), 60)


# --- list filters: wholesale-billing_auto.py list_wholesale_billing_reports ------------------


def dt_iso_str(moment: datetime, with_msec: bool = True) -> str:
    """base.py `dt_iso_str`: to UTC (a naive datetime counts as *local* time), ISO with
    milliseconds and a `Z`."""
    utc = moment.astimezone(timezone.utc).replace(tzinfo=None)
    text = f"{utc.isoformat(timespec='milliseconds')}Z"
    return text if with_msec else text[:-5] + "Z"


def list_params(
    billing_start_date: str | datetime | None = None,
    billing_end_date: str | datetime | None = None,
    sort_by: ListWholesaleBillingReportsSortBy | str | None = None,
    type: ListReportType | str | None = None,  # noqa: A002 - the SDK's parameter name
    status: ListReportStatus | str | None = None,
    sub_partner_org_id: str | None = None,
    **params: Any,
) -> dict[str, Any]:
    """`list_wholesale_billing_reports`: the query parameters of the first request. A date given
    as a string goes through `isoparse` and `dt_iso_str`; enums are passed as enum members."""
    if billing_start_date is not None:
        if isinstance(billing_start_date, str):
            billing_start_date = isoparse(billing_start_date)
        params["billingStartDate"] = dt_iso_str(billing_start_date)
    if billing_end_date is not None:
        if isinstance(billing_end_date, str):
            billing_end_date = isoparse(billing_end_date)
        params["billingEndDate"] = dt_iso_str(billing_end_date)
    if sort_by is not None:
        params["sortBy"] = sort_by
    if type is not None:
        params["type"] = type
    if status is not None:
        params["status"] = status
    if sub_partner_org_id is not None:
        params["subPartnerOrgId"] = sub_partner_org_id
    return params


# --- pagination: wxc_sdk/rest.py RestSession.follow_pagination -------------------------------

# fetch(url, params) -> (status, headers, body text); params is None after the first request.
Fetch = Callable[[str, "dict[str, Any] | None"], "tuple[int, Mapping[str, str], str]"]


def next_link(headers: Mapping[str, str]) -> str | None:
    """`response.links['next']['url']`: requests parses the Link header with `parse_header_links`."""
    link = {key.lower(): value for key, value in headers.items()}.get("link")
    links = {entry.get("rel") or entry.get("url"): entry for entry in parse_header_links(link or "")}
    return links["next"]["url"] if "next" in links else None


def follow_pagination(fetch: Fetch, url: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """`follow_pagination(url, model=ListReport, item_key='items', params=params)`: the params go
    with the first request only; after that the SDK GETs the rel="next" URL exactly as given and
    stops when there is none or a page has no items."""
    current: str | None = url
    while current:
        status, headers, text = fetch(current, params)
        params = None  # "In subsequent requests we rely on the completeness of the 'next' URL"
        data = response_data(status, headers, text)
        current = next_link(headers)
        if not data:
            continue
        items = data.get("items", [])
        if not items:
            break
        for item in items:
            yield validate_list_report(item)


# --- response models: wholesale-billing_auto.py ApiModel subclasses --------------------------

_DATE_ONLY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?(Z|[+-]\d{2}:\d{2})?$"
)


def parse_datetime(value: Any) -> datetime | None:
    """A pydantic (v2, lax) `Optional[datetime]` field from JSON, as the SDK's models declare
    `billing_start_date`, `billing_end_date` and `created`: `YYYY-MM-DD` (midnight, naive) or an
    ISO-8601 datetime."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise SdkValidationError(f"not a datetime string: {value!r}")
    match = _DATE_ONLY.match(value)
    try:
        if match:
            return datetime(*map(int, match.groups()))
        match = _DATETIME.match(value)
        if not match:
            raise SdkValidationError(f"not an ISO-8601 date or datetime: {value!r}")
        year, month, day, hour, minute, second, fraction, zone = match.groups()
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0),
                          int((fraction or "0").ljust(6, "0")))
    except ValueError as error:
        raise SdkValidationError(str(error)) from None
    if zone == "Z":
        return moment.replace(tzinfo=timezone.utc)
    if zone:
        sign = 1 if zone[0] == "+" else -1
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        return moment.replace(tzinfo=timezone(sign * offset))
    return moment


def _optional_str(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise SdkValidationError(f"not a string: {value!r}")
    return value


def _optional_enum(enum_type: type[Enum], value: Any) -> str | None:
    if value is None:
        return None
    # SafeEnum would even extend itself with an unknown value; this service sends only known ones.
    if value not in {member.value for member in enum_type}:
        raise SdkValidationError(f"{value!r} is not a {enum_type.__name__}")
    return value


def _optional_int(value: Any) -> int | None:
    # pydantic's lax mode would also take "1001"; the contract is a JSON integer.
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise SdkValidationError(f"not an integer: {value!r}")
    return value


def _object(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise SdkValidationError(f"not a JSON object: {data!r}")
    return data


def validate_report_id(data: Any) -> dict[str, Any]:
    """`ReportId.model_validate(data)`: what `create_a_wholesale_billing_report` returns."""
    data = _object(data)
    return {
        "id": _optional_str(data.get("id")),
        "billing_start_date": parse_datetime(data.get("billingStartDate")),
        "billing_end_date": parse_datetime(data.get("billingEndDate")),
        "type": _optional_enum(ListReportType, data.get("type")),
    }


def validate_list_report(data: Any) -> dict[str, Any]:
    """`ListReport.model_validate(item)`: each item `list_wholesale_billing_reports` yields."""
    parsed = validate_report_id(data)
    parsed["status"] = _optional_enum(ListReportStatus, _object(data).get("status"))
    return parsed


def validate_report_error(data: Any) -> dict[str, Any]:
    """`ReportError`: `code: Optional[int]`, `description: Optional[str]`."""
    data = _object(data)
    return {"code": _optional_int(data.get("code")), "description": _optional_str(data.get("description"))}


def validate_report(data: Any) -> dict[str, Any]:
    """`Report.model_validate(data)`: what `get_a_wholesale_billing_report` returns. Note the one
    explicit alias: `temp_download_url = Field(alias='tempDownloadURL')` (camelCase elsewhere)."""
    parsed = validate_list_report(data)
    data = _object(data)
    errors = data.get("errors")
    if errors is not None and not isinstance(errors, list):
        raise SdkValidationError(f"errors is not a list: {errors!r}")
    parsed.update(
        created=parse_datetime(data.get("created")),
        created_by=_optional_str(data.get("createdBy")),
        temp_download_url=_optional_str(data.get("tempDownloadURL")),
        errors=None if errors is None else [validate_report_error(error) for error in errors],
    )
    return parsed


def validate_error_detail(data: Any) -> dict[str, Any]:
    """rest.py `ErrorDetail`: `message: str` and `tracking_id: str` (alias trackingId) required,
    `errorCode: Optional[int]`, `errors: Optional[list[SingleError]]` where `SingleError` has
    `description: str` required and `errorCode: Optional[int]`. If this fails, the SDK's
    `RestError.detail` is only the response text."""
    data = _object(data)
    for required in ("message", "trackingId"):
        if not isinstance(data.get(required), str):
            raise SdkValidationError(f"{required} must be a string")
    errors = data.get("errors")
    if errors is not None:
        if not isinstance(errors, list):
            raise SdkValidationError("errors must be a list")
        for error in errors:
            if not isinstance(_object(error).get("description"), str):
                raise SdkValidationError("errors[].description must be a string")
            _optional_int(error.get("errorCode"))
    _optional_int(data.get("errorCode"))
    return {"message": data["message"], "tracking_id": data["trackingId"], "errors": errors or []}
