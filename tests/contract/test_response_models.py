"""Contract: the JSON shapes parse with the Webex Python SDK's models.

Mirrors wxc_sdk `apib/tests/generated/wholesale-billing_auto.py` models `ReportId` (create),
`ListReport` (list items), `Report` and `ReportError` (get) on `wxc_sdk/base.py` `ApiModel`:
camelCase aliases (`billingStartDate`, `createdBy`) except the explicit `tempDownloadURL`;
`billing_start_date`, `billing_end_date` and `created` are `Optional[datetime]` (so `YYYY-MM-DD`
and ISO-8601 with a zone both parse); `type` and `status` are enums of the documented values;
`errors[].code` is `Optional[int]`. Extra fields (`rowCount`, `sha256`, ...) are allowed.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from chalicelib.domain.errors import REPORT_ERROR_DESCRIPTIONS, ReportErrorCode
from chalicelib.domain.periods import BillingPeriod
from chalicelib.domain.report_ids import new_report_id
from chalicelib.domain.reports import Report, ReportError, ReportRequest, ReportStatus, ReportType
from tests.contract.webex_sdk import (
    ListReportStatus,
    ListReportType,
    SdkValidationError,
    validate_list_report,
    validate_report,
    validate_report_id,
)

CREATED = datetime(2026, 11, 24, 10, 15, 30, 123456, tzinfo=timezone.utc)
PERIOD = BillingPeriod(date(2026, 10, 1), date(2026, 10, 31))


def report(status: ReportStatus, report_type: ReportType = ReportType.USER, **extra) -> Report:
    return Report(
        partner_org_id="partner", report_id=new_report_id(), request=ReportRequest(PERIOD, report_type, None, False),
        status=status, created=CREATED, created_by="person", tracking_id="t", deadline=CREATED + timedelta(hours=1),
        **extra,
    )


def over_the_wire(body):
    return json.loads(json.dumps(body))


@pytest.mark.parametrize("report_type", list(ReportType))
def test_every_type_and_status_is_a_value_of_the_sdks_enums(report_type):
    assert {member.value for member in ReportType} == {member.value for member in ListReportType}
    assert {member.value for member in ReportStatus} == {member.value for member in ListReportStatus}
    for status in ReportStatus:
        parsed = validate_report(over_the_wire(report(status, report_type).detail_json()))
        assert parsed["type"] == report_type.value and parsed["status"] == status.value


def test_dates_and_created_parse_as_datetimes():
    done = report(ReportStatus.COMPLETED, row_count=3, sha256="0" * 64, completed=CREATED)
    parsed = validate_report(over_the_wire(done.detail_json("https://s3.example/r.csv?X-Amz-Signature=x")))
    assert parsed["billing_start_date"] == datetime(2026, 10, 1)
    assert parsed["billing_end_date"] == datetime(2026, 10, 31)
    assert parsed["created"] == CREATED.replace(microsecond=123000)  # ISO-8601 UTC, milliseconds
    assert parsed["created_by"] == "person"
    assert parsed["temp_download_url"] == "https://s3.example/r.csv?X-Amz-Signature=x"  # alias tempDownloadURL
    item = validate_list_report(over_the_wire(done.summary_json()))
    assert item["billing_start_date"] == datetime(2026, 10, 1) and item["status"] == "COMPLETED"
    accepted = validate_report_id(over_the_wire(done.created_json()))
    assert accepted["id"] == done.report_id and accepted["billing_end_date"] == datetime(2026, 10, 31)


@pytest.mark.parametrize("code", list(ReportErrorCode))
def test_failed_report_error_codes_are_json_integers(code):
    failed = report(ReportStatus.FAILED, errors=(ReportError(code, REPORT_ERROR_DESCRIPTIONS[code]),))
    wire = over_the_wire(failed.detail_json())
    assert type(wire["errors"][0]["code"]) is int
    (error,) = validate_report(wire)["errors"]
    assert error == {"code": int(code), "description": REPORT_ERROR_DESCRIPTIONS[code]}


def test_the_mirror_refuses_what_the_contract_refuses():
    """Guards the guard: a code as a string, or a date the SDK cannot read, fails the mirror."""
    with pytest.raises(SdkValidationError):
        validate_report({"errors": [{"code": "1001", "description": "x"}]})
    with pytest.raises(SdkValidationError):
        validate_report({"created": "24/11/2026"})
    with pytest.raises(SdkValidationError):
        validate_list_report({"status": "DONE"})


def test_same_answers_from_pydantic_models_like_the_sdks():
    """Cross-check of the mirror with pydantic itself, when it is installed (it is no dependency of
    this service): models declared as wxc_sdk declares them, on an ApiModel-like base."""
    pydantic = pytest.importorskip("pydantic")
    from typing import Optional

    def to_camel(name: str) -> str:  # wxc_sdk/base.py to_camel
        return "".join(word.title() if index else word for index, word in enumerate(name.split("_")))

    class ApiModel(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow",
                                           use_enum_values=True)

    class SdkReportError(ApiModel):
        code: Optional[int] = None  # noqa: UP045 - as the SDK declares it
        description: Optional[str] = None  # noqa: UP045

    class SdkReport(ApiModel):
        id: Optional[str] = None  # noqa: UP045
        billing_start_date: Optional[datetime] = None  # noqa: UP045
        billing_end_date: Optional[datetime] = None  # noqa: UP045
        type: Optional[ListReportType] = None  # noqa: UP045
        created: Optional[datetime] = None  # noqa: UP045
        created_by: Optional[str] = None  # noqa: UP045
        status: Optional[ListReportStatus] = None  # noqa: UP045
        temp_download_url: Optional[str] = pydantic.Field(alias="tempDownloadURL", default=None)  # noqa: UP045
        errors: Optional[list[SdkReportError]] = None  # noqa: UP045

    bodies = [
        report(ReportStatus.COMPLETED, row_count=1, sha256="a" * 64, completed=CREATED).detail_json("https://u"),
        report(ReportStatus.FAILED, errors=(ReportError(ReportErrorCode.GENERATION_FAILED, "failed"),)).detail_json(),
        report(ReportStatus.IN_PROGRESS, ReportType.PARTNER).summary_json(),
    ]
    for body in bodies:
        wire = over_the_wire(body)
        model = SdkReport.model_validate(wire)
        mirror = validate_report(wire)
        assert model.billing_start_date == mirror["billing_start_date"]
        assert model.billing_end_date == mirror["billing_end_date"]
        assert model.created == mirror["created"] and model.temp_download_url == mirror["temp_download_url"]
        assert (model.type, model.status, model.created_by) == (mirror["type"], mirror["status"], mirror["created_by"])
        assert [e.model_dump() for e in model.errors or []] == (mirror["errors"] or [])
