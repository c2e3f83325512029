"""Report values: the create request, the duplicate key, and the JSON a report is served as (ARCHITECTURE.md §2)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest

from chalicelib.domain.errors import REPORT_ERROR_DESCRIPTIONS, InvalidRequest, ReportErrorCode
from chalicelib.domain.periods import BillingPeriod
from chalicelib.domain.report_ids import new_report_id
from chalicelib.domain.reports import (
    Report,
    ReportError,
    ReportRequest,
    ReportStatus,
    ReportType,
    iso_millis,
    report_object_key,
)

TODAY = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 10, 15, 30, 123456, tzinfo=timezone.utc)
OCTOBER = {"billingStartDate": "2026-10-01", "billingEndDate": "2026-10-31"}


def request(**fields):
    return ReportRequest.from_body({**OCTOBER, **fields}, NOW)


def problems_of(body) -> list[str]:
    with pytest.raises(InvalidRequest) as caught:
        ReportRequest.from_body(body, NOW)
    assert caught.value.status == 400
    assert caught.value.message == caught.value.problems[0]
    return caught.value.problems


# --- ReportRequest.from_body -----------------------------------------------------------------


def test_defaults_are_partner_type_and_not_internal():
    req = ReportRequest.from_body(dict(OCTOBER), NOW)
    assert req.period == BillingPeriod(date(2026, 10, 1), date(2026, 10, 31))
    assert req.report_type is ReportType.PARTNER
    assert req.internal is False
    assert req.sub_partner_org_id is None


def test_explicit_nulls_mean_defaults():
    req = request(type=None, internal=None, subPartnerOrgId=None)
    assert (req.report_type, req.internal, req.sub_partner_org_id) == (ReportType.PARTNER, False, None)


@pytest.mark.parametrize("report_type", ["PARTNER", "CUSTOMER", "USER"])
def test_each_type_is_accepted(report_type):
    assert request(type=report_type).report_type is ReportType(report_type)


def test_all_fields_given():
    req = request(type="USER", internal=True, subPartnerOrgId="sub-org-1")
    assert req.report_type is ReportType.USER
    assert req.internal is True
    assert req.sub_partner_org_id == "sub-org-1"


def test_unknown_fields_are_ignored():
    req = request(foo="bar", asOf="2020-01-01T00:00:00Z", max=5, nested={"a": [1]})
    assert req == ReportRequest.from_body(dict(OCTOBER), NOW)


@pytest.mark.parametrize("missing", ["billingStartDate", "billingEndDate"])
@pytest.mark.parametrize("how", ["absent", "null"])
def test_missing_date_is_named(missing, how):
    body = dict(OCTOBER)
    if how == "absent":
        del body[missing]
    else:
        body[missing] = None
    assert problems_of(body) == [f"{missing} is required"]


def test_both_dates_missing_names_both():
    problems = problems_of({})
    assert problems == ["billingStartDate is required", "billingEndDate is required"]


@pytest.mark.parametrize("value", ["2026-1-5", "2026-02-30", "20261005", 20261005, True, ["2026-10-01"]])
def test_bad_date_is_named(value):
    problems = problems_of({**OCTOBER, "billingEndDate": value})
    assert len(problems) == 1 and problems[0].startswith("billingEndDate")


@pytest.mark.parametrize("value", ["partner", "ORG", "", "PARTNER ", 1, True, ["USER"], {"t": 1}])
def test_bad_type_is_named(value):
    problems = problems_of({**OCTOBER, "type": value})
    assert len(problems) == 1
    assert problems[0].startswith("type:")
    assert all(name in problems[0] for name in ("PARTNER", "CUSTOMER", "USER"))


@pytest.mark.parametrize("value", ["true", "false", 0, 1, "", [], {}])
def test_internal_must_be_a_json_boolean(value):
    problems = problems_of({**OCTOBER, "internal": value})
    assert len(problems) == 1 and problems[0].startswith("internal")


@pytest.mark.parametrize("value", ["", "   ", 42, ["org"], {"id": "x"}, True, "x" * 201])
def test_bad_sub_partner_org_id_is_named(value):
    problems = problems_of({**OCTOBER, "subPartnerOrgId": value})
    assert len(problems) == 1 and problems[0].startswith("subPartnerOrgId")


def test_sub_partner_org_id_of_200_characters_is_accepted():
    assert request(subPartnerOrgId="x" * 200).sub_partner_org_id == "x" * 200


def test_every_field_problem_is_named_at_once():
    problems = problems_of({"billingStartDate": "2026-1-1", "type": "NOPE", "internal": "yes", "subPartnerOrgId": ""})
    assert [p.split(" ")[0].rstrip(":") for p in problems] == [
        "billingStartDate",
        "billingEndDate",
        "type",
        "internal",
        "subPartnerOrgId",
    ]


def test_period_rules_apply_to_the_body():
    assert problems_of({"billingStartDate": "2026-10-31", "billingEndDate": "2026-10-01"}) == [
        "billingStartDate must be on or before billingEndDate"
    ]
    problems = problems_of({"billingStartDate": "2026-11-01", "billingEndDate": TODAY.isoformat()})
    assert len(problems) == 1 and "billingEndDate" in problems[0]
    problems = problems_of({"billingStartDate": "2021-11-23", "billingEndDate": "2021-12-01"})
    assert len(problems) == 1 and "billingStartDate" in problems[0]


def test_period_problems_are_all_listed():
    problems = problems_of({"billingStartDate": "2026-12-31", "billingEndDate": "2026-12-01"})
    assert len(problems) == 2


def test_period_problems_are_named_alongside_other_field_problems():
    problems = problems_of({"billingStartDate": "2026-10-31", "billingEndDate": "2026-10-01", "type": "NOPE"})
    assert any(p.startswith("type") for p in problems)
    assert any("on or before" in p for p in problems)


# --- duplicate_key ---------------------------------------------------------------------------


def test_equal_requests_have_equal_duplicate_keys():
    first = request(type="CUSTOMER", internal=True, subPartnerOrgId="sub-1")
    second = ReportRequest.from_body(
        {"subPartnerOrgId": "sub-1", "internal": True, "type": "CUSTOMER", "ignored": 1, **OCTOBER}, NOW
    )
    assert first == second
    assert first.duplicate_key() == second.duplicate_key()


def test_defaults_and_explicit_defaults_are_the_same_duplicate():
    assert request().duplicate_key() == request(type="PARTNER", internal=False).duplicate_key()


@pytest.mark.parametrize(
    "change",
    [
        {"type": "CUSTOMER"},
        {"type": "USER"},
        {"internal": True},
        {"subPartnerOrgId": "sub-1"},
        {"billingStartDate": "2026-10-02"},
        {"billingEndDate": "2026-10-30"},
    ],
)
def test_each_field_changes_the_duplicate_key(change):
    assert request().duplicate_key() != request(**change).duplicate_key()


def test_different_sub_partners_are_different_duplicates():
    assert request(subPartnerOrgId="sub-1").duplicate_key() != request(subPartnerOrgId="sub-2").duplicate_key()


def test_duplicate_keys_are_distinct_over_all_field_combinations():
    keys = set()
    count = 0
    for report_type in ("PARTNER", "CUSTOMER", "USER"):
        for internal in (False, True):
            for sub in (None, "a", "a#b", "b"):
                for start, end in (
                    ("2026-10-01", "2026-10-31"),
                    ("2026-10-01", "2026-10-01"),
                    ("2026-09-01", "2026-10-31"),
                ):
                    body = {"billingStartDate": start, "billingEndDate": end, "type": report_type, "internal": internal}
                    if sub is not None:
                        body["subPartnerOrgId"] = sub
                    keys.add(ReportRequest.from_body(body, NOW).duplicate_key())
                    count += 1
    assert len(keys) == count


def test_sub_partner_named_dash_is_not_the_partner_wide_duplicate():
    assert request(subPartnerOrgId="-").duplicate_key() != request().duplicate_key()


# --- iso_millis ------------------------------------------------------------------------------


def test_iso_millis_format():
    assert iso_millis(datetime(2026, 11, 24, 10, 15, 30, 123456, tzinfo=timezone.utc)) == "2026-11-24T10:15:30.123Z"


def test_iso_millis_pads_and_converts_to_utc():
    assert iso_millis(datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)) == "2026-01-02T03:04:05.000Z"
    assert iso_millis(datetime(2026, 1, 2, 3, 4, 5, 7000, tzinfo=timezone.utc)) == "2026-01-02T03:04:05.007Z"
    plus_two = timezone(timedelta(hours=2))
    assert iso_millis(datetime(2026, 1, 1, 1, 0, 0, 999999, tzinfo=plus_two)) == "2025-12-31T23:00:00.999Z"


# --- Report JSON -----------------------------------------------------------------------------

CREATED = datetime(2026, 11, 24, 10, 15, 30, 123000, tzinfo=timezone.utc)
REPORT_ID = new_report_id()


def make_report(status=ReportStatus.IN_PROGRESS, **overrides) -> Report:
    fields = dict(
        partner_org_id="partner-org",
        report_id=REPORT_ID,
        request=request(type="USER"),
        status=status,
        created=CREATED,
        created_by="person-1",
        tracking_id="WBR_1",
        deadline=CREATED + timedelta(hours=36),
    )
    fields.update(overrides)
    return Report(**fields)


LIST_FIELDS = {"id", "billingStartDate", "billingEndDate", "type", "status", "category", "created", "createdBy"}


def test_summary_json_has_exactly_the_list_fields():
    body = make_report().summary_json()
    assert set(body) == LIST_FIELDS
    assert body == {
        "id": REPORT_ID,
        "billingStartDate": "2026-10-01",
        "billingEndDate": "2026-10-31",
        "type": "USER",
        "status": "IN_PROGRESS",
        "category": "RECONCILIATION",
        "created": "2026-11-24T10:15:30.123Z",
        "createdBy": "person-1",
    }


def test_created_json_is_the_webex_200_body_with_category_and_internal():
    assert make_report().created_json() == {
        "id": REPORT_ID,
        "billingStartDate": "2026-10-01",
        "billingEndDate": "2026-10-31",
        "type": "USER",
        "category": "RECONCILIATION",
        "internal": False,
    }


def test_a_point_in_time_request_takes_its_instant_and_echoes_its_day_as_both_dates():
    request = ReportRequest.from_body({"category": "POINT_IN_TIME", "type": "CUSTOMER"}, NOW)
    assert request.point_in_time and request.as_of == NOW and request.duplicate_key() is None
    assert (request.period.start, request.period.end) == (TODAY, TODAY)
    # dates, when given, must be dates, but are ignored for the numbers
    given = ReportRequest.from_body(
        {"category": "POINT_IN_TIME", "type": "USER", "billingStartDate": "2020-01-01", "billingEndDate": "2020-01-02"}, NOW
    )
    assert given.period.start == TODAY
    with pytest.raises(InvalidRequest) as error:
        ReportRequest.from_body({"category": "POINT_IN_TIME", "type": "PARTNER"}, NOW)
    assert "use CUSTOMER or USER" in error.value.problems[0]
    with pytest.raises(InvalidRequest) as error:
        ReportRequest.from_body({"category": "POINT_IN_TIME", "type": "USER", "billingStartDate": "2026-1-1"}, NOW)
    assert "billingStartDate" in error.value.problems[0]
    with pytest.raises(InvalidRequest) as error:
        ReportRequest.from_body({**OCTOBER, "category": "SNAPSHOT"}, NOW)
    assert "category" in error.value.problems[0]


def completed_report():
    return make_report(
        ReportStatus.COMPLETED,
        row_count=12,
        sha256="ab" * 32,
        completed=CREATED + timedelta(seconds=4, microseconds=500),
        s3_key="reports/partner-org/x/r1.csv",
    )


def test_completed_detail_has_the_download_url_and_file_facts():
    body = completed_report().detail_json("https://s3.example/presigned")
    assert body["tempDownloadURL"] == "https://s3.example/presigned"
    assert body["status"] == "COMPLETED"
    assert body["rowCount"] == 12
    assert body["sha256"] == "ab" * 32
    assert body["completed"] == "2026-11-24T10:15:34.123Z"
    assert body["revision"] == 1
    assert "errors" not in body
    assert LIST_FIELDS <= set(body)


def test_completed_detail_without_a_url_has_no_url_field():
    assert "tempDownloadURL" not in completed_report().detail_json()


@pytest.mark.parametrize("status", [ReportStatus.IN_PROGRESS, ReportStatus.FAILED])
def test_only_completed_reports_carry_a_download_url(status):
    body = make_report(status).detail_json("https://s3.example/presigned")
    assert "tempDownloadURL" not in body
    assert "rowCount" not in body and "sha256" not in body


def test_failed_detail_has_integer_error_codes():
    errors = (
        ReportError(ReportErrorCode.DATA_NOT_AVAILABLE, REPORT_ERROR_DESCRIPTIONS[ReportErrorCode.DATA_NOT_AVAILABLE]),
        ReportError(ReportErrorCode.GENERATION_FAILED, "boom"),
    )
    body = make_report(ReportStatus.FAILED, errors=errors).detail_json()
    assert body["errors"] == [
        {"code": 1001, "description": "Usage data for the billing period is not available yet."},
        {"code": 1002, "description": "boom"},
    ]
    for error in body["errors"]:
        assert type(error["code"]) is int
    assert json.loads(json.dumps(body))["errors"][0]["code"] == 1001


@pytest.mark.parametrize("status", [ReportStatus.IN_PROGRESS, ReportStatus.COMPLETED])
def test_only_failed_reports_carry_errors(status):
    assert "errors" not in make_report(status).detail_json()


def test_detail_names_internal_and_sub_partner():
    body = make_report(request=request(internal=True, subPartnerOrgId="sub-1")).detail_json()
    assert body["internal"] is True
    assert body["subPartnerOrgId"] == "sub-1"
    assert "subPartnerOrgId" not in make_report().detail_json()


def test_detail_json_is_json_serialisable():
    json.dumps(completed_report().detail_json("u"))
    json.dumps(
        make_report(ReportStatus.FAILED, errors=(ReportError(ReportErrorCode.DEADLINE_EXCEEDED, "d"),)).detail_json()
    )


def test_error_codes_are_unique_integers_with_descriptions():
    codes = [int(code) for code in ReportErrorCode]
    assert len(set(codes)) == len(codes)
    assert set(REPORT_ERROR_DESCRIPTIONS) == set(ReportErrorCode)
    assert all(REPORT_ERROR_DESCRIPTIONS[code] for code in ReportErrorCode)


@pytest.mark.parametrize(
    ("report_type", "expected"),
    [
        ("PARTNER", "wholesale-billing_PARTNER_2026-10-01_2026-10-31.csv"),
        ("CUSTOMER", "wholesale-billing_CUSTOMER_2026-10-01_2026-10-31.csv"),
        ("USER", "wholesale-billing_USER_2026-10-01_2026-10-31.csv"),
    ],
)
def test_download_filename(report_type, expected):
    assert make_report(request=request(type=report_type)).download_filename() == expected


def test_report_properties_come_from_the_request():
    report = make_report()
    assert report.period == BillingPeriod(date(2026, 10, 1), date(2026, 10, 31))
    assert report.report_type is ReportType.USER
    assert replace(report, revision=3).detail_json()["revision"] == 3


def test_report_object_key():
    assert report_object_key("partner-org", "abc", 2) == "reports/partner-org/abc/r2.csv"
