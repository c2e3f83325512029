"""The rules of the event paths that need no AWS: typing usage_days stream records, run leases,
the data epoch, and settings that fail closed (ARCHITECTURE.md §6, §4, §5, §8)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from chalicelib.adapters.dynamo_codec import to_item
from chalicelib.adapters.usage_calendar import message_of_stream_record
from chalicelib.bootstrap import get_container, set_container
from chalicelib.domain.leases import MAX_RESUMES, START_GRACE, lease_at_risk, may_resume, resume_trigger
from chalicelib.domain.messages import DayPublished, RestatementRequested, RunLease
from chalicelib.domain.periods import BillingPeriod
from chalicelib.domain.regeneration import missing_days
from chalicelib.domain.reports import Report, ReportRequest, ReportStatus, ReportType

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def _record(event_name: str, image: dict) -> dict:
    return {"eventName": event_name, "dynamodb": {"NewImage": to_item(image)}}


def test_stream_record_of_a_publication_is_a_day_published():
    record = _record("MODIFY", {"usageDate": "2026-11-19", "version": 3, "rowCount": 10})
    assert message_of_stream_record(record) == DayPublished(date(2026, 11, 19), 3)


def test_stream_record_of_the_marker_is_a_restatement_request():
    record = _record("INSERT", {"usageDate": "#restate", "fromDay": "2026-11-02", "token": "abc"})
    assert message_of_stream_record(record) == RestatementRequested(date(2026, 11, 2), "abc")


@pytest.mark.parametrize(
    "record",
    [
        _record("MODIFY", {"usageDate": "#latest", "latestDay": "2026-11-19"}),
        _record("INSERT", {"usageDate": "#claim#2026-11-19#2", "claimedAt": "x"}),
        _record("INSERT", {"usageDate": "#epoch", "firstDay": "2026-08-01"}),
        {"eventName": "REMOVE", "dynamodb": {"OldImage": to_item({"usageDate": "#restate"})}},
    ],
    ids=["latest", "claim", "epoch", "marker removed"],
)
def test_bookkeeping_records_announce_nothing(record):
    assert message_of_stream_record(record) is None


def _report(status: ReportStatus, lease: RunLease | None, resumes: int = 0, waiting: date | None = None) -> Report:
    return Report(
        partner_org_id="p",
        report_id="r",
        request=ReportRequest(BillingPeriod(date(2026, 11, 1), date(2026, 11, 2)), ReportType.USER, None, False),
        status=status,
        created=NOW - timedelta(hours=1),
        created_by="u",
        tracking_id="t",
        deadline=NOW + timedelta(hours=1),
        run=lease,
        resumes=resumes,
        waiting_for=waiting,
    )


def test_a_lease_younger_than_the_start_grace_is_not_judged():
    young = RunLease("run-1", NOW - START_GRACE + timedelta(seconds=1))
    assert lease_at_risk(_report(ReportStatus.IN_PROGRESS, young), NOW) is None
    old = RunLease("run-1", NOW - START_GRACE)
    assert lease_at_risk(_report(ReportStatus.IN_PROGRESS, old), NOW) == old


def test_a_lease_from_before_this_process_is_judged_at_once():
    young = RunLease("run-1", NOW - timedelta(seconds=5))
    assert lease_at_risk(_report(ReportStatus.IN_PROGRESS, young), NOW, runs_known_since=NOW) == young


def test_parked_and_finished_reports_hold_no_lease_to_judge():
    lease = RunLease("run-1", NOW - timedelta(hours=1))
    assert lease_at_risk(_report(ReportStatus.IN_PROGRESS, lease, waiting=date(2026, 11, 2)), NOW) is None
    assert lease_at_risk(_report(ReportStatus.FAILED, lease), NOW) is None
    assert lease_at_risk(_report(ReportStatus.IN_PROGRESS, None), NOW) is None


def test_a_dead_first_generation_is_resumed_then_failed():
    lease = RunLease("run-1", NOW - timedelta(hours=1))
    assert may_resume(_report(ReportStatus.IN_PROGRESS, lease, resumes=MAX_RESUMES - 1))
    assert not may_resume(_report(ReportStatus.IN_PROGRESS, lease, resumes=MAX_RESUMES))
    assert not may_resume(_report(ReportStatus.COMPLETED, lease))  # a regeneration is released instead
    assert resume_trigger(_report(ReportStatus.IN_PROGRESS, lease, resumes=1)) == "resume2"


def test_days_before_the_data_epoch_are_never_missing():
    days = [date(2026, 7, 30), date(2026, 7, 31), date(2026, 8, 1), date(2026, 8, 2)]
    published = {date(2026, 8, 1): 1}
    assert missing_days(days, published, epoch=date(2026, 8, 1)) == [date(2026, 8, 2)]
    assert missing_days(days, published, epoch=None) == [date(2026, 7, 30), date(2026, 7, 31), date(2026, 8, 2)]


@pytest.mark.parametrize("missing", ["WBR_CURSOR_SECRET", "WBR_JWKS_URL"])
def test_settings_are_validated_at_cold_start_outside_the_local_stage(monkeypatch, missing):
    monkeypatch.setenv("WBR_STAGE", "prod")
    monkeypatch.setenv("WBR_CURSOR_SECRET", "s3cret")
    monkeypatch.setenv("WBR_JWKS_URL", "https://idbroker.example.com/keys")
    monkeypatch.delenv(missing)
    set_container(None)
    try:
        with pytest.raises(RuntimeError, match=missing):
            get_container()
    finally:
        set_container(None)
