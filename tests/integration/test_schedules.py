"""Standing monthly reports through moto (DESIGN §13), with the real services and workflow runner.

- Publishing a month's last day (the `DayPublished` the usage_days stream hands the message bus)
  makes each schedule's report of that month once: handled twice, or by two threads at once,
  there is still one report (and one run) per schedule; an identical COMPLETED report is adopted.
- The report's completion (the reports stream) copies it into the schedule's bucket and queues
  `report.scheduled` for the partner's webhooks; a restatement of the month regenerates the
  report and replaces the copy (the new revision announced again).
- Another partner's schedule never reaches this partner's reports; a bucket refusing the copy
  is reported in the event, the stream goes on.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.adapters.s3_report_copies import PARTNER_TAG
from chalicelib.bootstrap import Container
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.listing import ListQuery
from chalicelib.domain.messages import DayPublished
from chalicelib.domain.months import Month
from chalicelib.domain.reports import ReportStatus
from chalicelib.domain.schedules import copy_key
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, OTHER_PARTNER
from tests.conftest import TODAY, deliver_publications
from tests.integration.test_regeneration import _steady_user, _unassign_at_noon

pytestmark = pytest.mark.usefixtures("streams_routed")  # drained by hand: moto's regional streams endpoint

MINE = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
THEIRS = Caller(OTHER_PARTNER, "someone-else", frozenset({READ_SCOPE, WRITE_SCOPE}))
MONTH = Month.of(TODAY).previous()  # the last month closed: its last day is in the demo window
BUCKET = "partner-own-bucket"
JOIN_SECONDS = 60


def _publish_month_end(container: Container) -> DayPublished:
    version = container.calendar.published_versions([MONTH.last_day])[MONTH.last_day]
    return DayPublished(MONTH.last_day, version)


def _month_reports(container: Container, caller: Caller = MINE) -> list[dict[str, Any]]:
    query = ListQuery(billing_start_date=MONTH.first_day, billing_end_date=MONTH.last_day)
    return container.report_store.list(caller.org_id, query, None, 100)


def _queued_scheduled(container: Container) -> list[dict[str, Any]]:
    """The `report.scheduled` deliveries on the queue (received and left to time out)."""
    found: list[dict[str, Any]] = []
    while batch := container.sqs.receive_message(
        QueueUrl=container.deliveries.url, MaxNumberOfMessages=10, VisibilityTimeout=60
    ).get("Messages", []):
        found += [json.loads(message["Body"]) for message in batch]
    return [delivery for delivery in found if delivery["event"] == "report.scheduled"]


def _settle(container: Container) -> None:
    """Let the runs finish and hand the reports stream to its deployed handler."""
    container.workflow.join(JOIN_SECONDS)
    container.reports_stream.drain_reports_stream()


@pytest.fixture
def closed(seeded: Container) -> Container:
    """The demo's own publications delivered first (no schedule exists yet), a webhook for
    every event, the partner's own bucket in the local AWS."""
    deliver_publications(seeded)
    seeded.webhooks.create(MINE, {"targetUrl": "http://127.0.0.1:9/hook", "secret": "integration-secret"})
    seeded.s3.create_bucket(Bucket=BUCKET)
    return seeded


def test_a_months_last_day_makes_each_schedules_report_once(closed: Container) -> None:
    # A report the partner made by hand, identical to schedule `adopting`: adopted, not doubled.
    manual, _ = closed.reports.create(
        MINE,
        {"billingStartDate": MONTH.first_day.isoformat(), "billingEndDate": MONTH.last_day.isoformat()},
        "WBR_manual",
    )
    closed.workflow.join(JOIN_SECONDS)
    first = str(MONTH)
    users = closed.schedules.create(
        MINE, {"type": "USER", "firstMonth": first, "s3Bucket": BUCKET, "s3Prefix": "billing/monthly"}
    )
    customers = closed.schedules.create(MINE, {"type": "CUSTOMER", "format": "csv.gz", "firstMonth": first})
    adopting = closed.schedules.create(MINE, {"firstMonth": first})
    later = closed.schedules.create(MINE, {"type": "USER", "internal": True, "firstMonth": str(Month.of(TODAY))})
    theirs = closed.schedules.create(THEIRS, {"type": "USER", "firstMonth": first})

    message = _publish_month_end(closed)
    closed.bus.handle(message)
    closed.bus.handle(message)  # a stream retry
    threads = [threading.Thread(target=closed.bus.handle, args=(message,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    closed.bus.handle(DayPublished(MONTH.last_day - timedelta(days=1), message.version))  # not a month's end
    _settle(closed)

    runs = {
        schedule.schedule_id: closed.schedule_store.run(schedule.partner_org_id, schedule.schedule_id, MONTH)
        for schedule in (users, customers, adopting, later, theirs)
    }
    assert runs[later.schedule_id] is None  # its first month is the current one
    assert runs[adopting.schedule_id].report_id == manual.report_id
    mine = _month_reports(closed)
    assert sorted(item["id"] for item in mine) == sorted(
        {runs[s.schedule_id].report_id for s in (users, customers, adopting)}
    )
    assert len(mine) == 3  # one per schedule, the adopted one included: none twice
    for item in mine:
        report = closed.report_store.get(DEMO_PARTNER, item["id"])
        assert report.status is ReportStatus.COMPLETED, report.errors
        assert (report.period.start, report.period.end) == (MONTH.first_day, MONTH.last_day)
    by_id = {item["id"]: item for item in mine}
    assert by_id[runs[users.schedule_id].report_id]["type"] == "USER"
    assert by_id[runs[customers.schedule_id].report_id]["format"] == "csv.gz"
    # The other partner's schedule made its own report, in its own partition.
    their_reports = _month_reports(closed, THEIRS)
    assert [item["id"] for item in their_reports] == [runs[theirs.schedule_id].report_id]

    # Delivered: the copy in the partner's bucket is the report's file, tagged with the partner.
    report = closed.report_store.get(DEMO_PARTNER, runs[users.schedule_id].report_id)
    key = copy_key("billing/monthly", users.schedule_id, MONTH, report.download_filename())
    assert key.startswith(f"billing/monthly/{users.schedule_id}/{MONTH}/")
    copied = closed.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert copied == closed.s3.get_object(Bucket=closed.settings.reports_bucket, Key=report.s3_key)["Body"].read()
    tags = closed.s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
    assert tags == [{"Key": PARTNER_TAG, "Value": DEMO_PARTNER}]
    assert [entry["Key"] for entry in closed.s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == [key]
    # ... and announced once per schedule to the partner's webhook (none of the other partner's).
    scheduled = _queued_scheduled(closed)
    assert sorted(d["data"]["scheduleId"] for d in scheduled) == sorted(
        s.schedule_id for s in (users, customers, adopting)
    )
    assert {d["partnerOrgId"] for d in scheduled} == {DEMO_PARTNER}
    announced = next(d for d in scheduled if d["data"]["scheduleId"] == users.schedule_id)
    assert announced["reportId"] == report.report_id and announced["revision"] == 1
    assert announced["data"]["month"] == str(MONTH) and announced["data"]["status"] == "COMPLETED"
    assert announced["data"]["copy"] == {"s3Bucket": BUCKET, "s3Key": key, "status": "COPIED"}
    assert len({d["deliveryId"] for d in scheduled}) == 3

    # Republication of the same version and more stream retries change nothing.
    closed.bus.handle(message)
    _settle(closed)
    assert len(_month_reports(closed)) == 3 and _queued_scheduled(closed) == []


def test_a_restatement_of_the_month_regenerates_the_report_and_replaces_the_copy(closed: Container, world) -> None:
    schedule = closed.schedules.create(
        MINE, {"type": "USER", "firstMonth": str(MONTH), "s3Bucket": BUCKET, "s3Prefix": "r/"}
    )
    closed.bus.handle(_publish_month_end(closed))
    _settle(closed)
    run = closed.schedule_store.run(DEMO_PARTNER, schedule.schedule_id, MONTH)
    before = closed.report_store.get(DEMO_PARTNER, run.report_id)
    assert before.status is ReportStatus.COMPLETED and before.revision == 1
    key = copy_key("r/", schedule.schedule_id, MONTH, before.download_filename())
    first_copy = closed.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert len(_queued_scheduled(closed)) == 1

    # A late event for the month's last day: the day (and every later one) is republished.
    user = _steady_user(world, since=MONTH.last_day, day=MONTH.last_day)
    _unassign_at_noon(closed, world, user, MONTH.last_day, "late-unassign-scheduled")
    _settle(closed)

    after = closed.report_store.get(DEMO_PARTNER, run.report_id)
    assert after.status is ReportStatus.COMPLETED and after.revision == 2
    assert closed.schedule_store.run(DEMO_PARTNER, schedule.schedule_id, MONTH).report_id == run.report_id
    assert len(_month_reports(closed)) == 1  # regenerated, not made again
    replaced = closed.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert replaced != first_copy
    assert replaced == closed.s3.get_object(Bucket=closed.settings.reports_bucket, Key=after.s3_key)["Body"].read()
    assert [entry["Key"] for entry in closed.s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == [key]
    again = _queued_scheduled(closed)
    assert [(d["reportId"], d["revision"]) for d in again] == [(run.report_id, 2)]


def test_a_bucket_that_refuses_the_copy_is_reported_and_nothing_is_retried(closed: Container) -> None:
    schedule = closed.schedules.create(
        MINE, {"type": "PARTNER", "internal": True, "firstMonth": str(MONTH), "s3Bucket": "no-such-bucket-here"}
    )
    closed.bus.handle(_publish_month_end(closed))
    _settle(closed)
    (announced,) = _queued_scheduled(closed)
    assert announced["data"]["scheduleId"] == schedule.schedule_id
    assert announced["data"]["copy"]["status"] == "FAILED"
    assert "NoSuchBucket" in announced["data"]["copy"]["error"]
    assert closed.schedule_store.run(DEMO_PARTNER, schedule.schedule_id, MONTH).delivered_revision == 1


def test_a_schedule_whose_sub_partner_left_the_tree_records_why(closed: Container, monkeypatch) -> None:
    from chalicelib.local.demo import DEMO_SUB_PARTNER

    schedule = closed.schedules.create(MINE, {"subPartnerOrgId": DEMO_SUB_PARTNER, "firstMonth": str(MONTH)})
    partners = [p for p in closed.directory.partners() if p.org_id != DEMO_SUB_PARTNER]
    monkeypatch.setattr(closed.directory, "partners", lambda: partners)
    closed.bus.handle(_publish_month_end(closed))
    closed.bus.handle(_publish_month_end(closed))
    run = closed.schedule_store.run(DEMO_PARTNER, schedule.schedule_id, MONTH)
    assert run.report_id is None and "subPartnerOrgId" in (run.problem or "")
    assert _month_reports(closed) == []
