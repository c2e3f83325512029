"""The rules of standing monthly reports (chalicelib/domain/schedules.py), with no I/O: which month a
published day closes, the create body (checked by report creation's own rules), the month's
report body, ids, where a copy lands and which buckets and prefixes a schedule may name."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.months import Month, closed_month
from chalicelib.domain.report_ids import is_report_id, new_report_id
from chalicelib.domain.reports import ReportRequest
from chalicelib.domain.schedules import (
    MAX_PREFIX_LENGTH,
    Schedule,
    ScheduleRequest,
    bucket_problems,
    copy_key,
    is_schedule_id,
    new_schedule_id,
    parse_month,
    prefix_problems,
)
from chalicelib.domain.webhooks import WebhookEvent, delivery_id, is_webhook_id, new_webhook_id

NOW = datetime(2026, 12, 7, 15, 0, tzinfo=timezone.utc)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)))
def test_a_day_closes_its_month_exactly_when_it_is_the_last(day: date) -> None:
    month = closed_month(day)
    if (day + timedelta(days=1)).month != day.month:
        assert month == Month.of(day) and month.last_day == day
    else:
        assert month is None


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)))
def test_months_cover_their_days(day: date) -> None:
    month = Month.of(day)
    assert month.first_day <= day <= month.last_day
    assert month.previous().last_day + timedelta(days=1) == month.first_day
    assert parse_month("m", str(month)) == month and month.previous() < month


def test_leap_februaries() -> None:
    assert closed_month(date(2024, 2, 29)) == Month(2024, 2) and closed_month(date(2024, 2, 28)) is None
    assert closed_month(date(2026, 2, 28)) == Month(2026, 2)
    assert closed_month(date(2026, 12, 31)) == Month(2026, 12) and Month(2027, 1).previous() == Month(2026, 12)


@pytest.mark.parametrize("text", ["2026-1", "2026-13", "2026-00", "26-01", "2026-01-01", " 2026-01", "0000-01", 202601, None])
def test_months_are_strict(text: object) -> None:
    with pytest.raises(InvalidRequest):
        parse_month("firstMonth", text)


def test_ids_are_webex_style_and_of_their_own_kind() -> None:
    schedule_id = new_schedule_id(uuid.UUID(int=7))
    assert is_schedule_id(schedule_id) and schedule_id == new_schedule_id(uuid.UUID(int=7))
    assert not is_report_id(schedule_id) and not is_webhook_id(schedule_id)
    assert not is_schedule_id(new_report_id()) and not is_schedule_id(new_webhook_id())
    for bad in ("", "x", schedule_id + "A", schedule_id[:-1], "é" * 10):
        assert not is_schedule_id(bad)


def test_a_create_body_is_checked_by_report_creations_rules_and_kept_as_given() -> None:
    body = {"type": "USER", "format": "parquet", "internal": True, "subPartnerOrgId": "sub", "other": 1}
    request = ScheduleRequest.from_body({**body, "s3Bucket": "acme-exports", "s3Prefix": "a/b"}, NOW)
    assert request.report_fields == {key: value for key, value in body.items() if key != "other"}
    assert request.first_month == Month(2026, 12) and (request.s3_bucket, request.s3_prefix) == ("acme-exports", "a/b")
    with pytest.raises(InvalidRequest) as refused:
        ScheduleRequest.from_body(
            {"type": "DAILY", "internal": 1, "columns": [3], "firstMonth": "2020-01", "s3Prefix": "x"}, NOW
        )
    problems = " | ".join(refused.value.problems)
    for field in ("type", "internal", "columns", "firstMonth", "s3Prefix"):
        assert field in problems, field
    assert ScheduleRequest.from_body({"firstMonth": "2021-12"}, NOW).first_month == Month(2021, 12)


def test_a_schedules_report_body_is_the_whole_month_and_a_valid_report_request() -> None:
    fields = {"type": "CUSTOMER", "format": "csv.gz", "internal": True}
    schedule = Schedule("p", new_schedule_id(), fields, Month(2026, 11), NOW, "me")
    body = schedule.report_body(Month(2026, 11))
    assert body == {**fields, "billingStartDate": "2026-11-01", "billingEndDate": "2026-11-30"}
    request = ReportRequest.from_body(body, NOW)
    assert request.period.day_count == 30 and request.internal
    assert schedule.covers(Month(2026, 11)) and schedule.covers(Month(2027, 1)) and not schedule.covers(Month(2026, 10))


def test_the_copy_lands_under_the_partners_prefix_and_only_what_it_owns() -> None:
    schedule_id = new_schedule_id()
    filename = "wholesale-billing_USER_2026-11-01_2026-11-30.csv"
    assert copy_key("exports/wbr", schedule_id, Month(2026, 11), filename) == (
        f"exports/wbr/{schedule_id}/2026-11/{filename}"
    )
    assert copy_key("exports/wbr/", schedule_id, Month(2026, 11), filename) == (
        f"exports/wbr/{schedule_id}/2026-11/{filename}"
    )
    assert copy_key("", schedule_id, Month(2026, 11), filename) == f"{schedule_id}/2026-11/{filename}"


@pytest.mark.parametrize(
    ("bucket", "ok"),
    [
        ("acme-exports", True),
        ("a1b", True),
        ("ab", False),
        ("Acme", False),
        ("acme_exports", False),
        ("acme..x", False),
        ("a--b", False),
        ("-acme", False),
        ("xn--acme", False),
        ("x" * 64, False),
        ("wbr-reports", False),
        ("wbr-lake", False),
    ],
)
def test_buckets(bucket: str, ok: bool) -> None:
    assert (bucket_problems(bucket, {"wbr-reports", "wbr-lake"}) == []) is ok


@pytest.mark.parametrize(
    ("prefix", "ok"),
    [
        ("", True),
        ("exports", True),
        ("exports/wbr/", True),
        ("mine/2026", True),
        ("/abs", False),
        ("a//b", False),
        ("a/../b", False),
        ("./a", False),
        ("a b", False),
        ("a/%2e%2e", False),
        ("ä", False),
        ("x/OTHER-ORG/y", False),
        ("x" * (MAX_PREFIX_LENGTH + 1), False),
    ],
)
def test_prefixes(prefix: str, ok: bool) -> None:
    assert (prefix_problems(prefix, {"OTHER-ORG"}) == []) is ok


def test_scheduled_deliveries_of_two_schedules_are_told_apart() -> None:
    one = delivery_id("hook", "report", 1, WebhookEvent.SCHEDULED, "schedule-1")
    two = delivery_id("hook", "report", 1, WebhookEvent.SCHEDULED, "schedule-2")
    assert one != two and delivery_id("hook", "report", 1, WebhookEvent.COMPLETED) == delivery_id(
        "hook", "report", 1, WebhookEvent.COMPLETED, None
    )
