"""Standing monthly reports over real processes (make test-live): a `wbr dev` process of the test's
own; schedules and a webhook made with `wbr schedules` / `wbr webhooks` CLI processes; the last
month's days published by `wbr rate` in another process. Then, with nothing else done: each
schedule's report of that month exists once and completes, its copy lands in the partner's bucket
in the local AWS (the same bytes as the download), and the webhook receiver in this test process
gets a signed `report.scheduled` per schedule. Publishing the month's last day again makes none
twice."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.months import Month
from chalicelib.domain.schedules import copy_key
from chalicelib.local.demo import DEMO_PARTNER, demo_events, demo_world
from tests.live.test_event_paths import _wait_until
from tests.stack import BASE, Stack
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.live

TODAY = datetime.now(timezone.utc).date()
MONTH = Month.of(TODAY).previous()
# Usage from a few days before the month through its end (the world's last day).
WORLD = demo_world(MONTH.last_day + timedelta(days=1), days=(MONTH.last_day - MONTH.first_day).days + 4, users=12,
                   workspaces=2, seed=41)  # fmt: skip
SECRET = "live-schedule-secret"
BUCKET = "acme-live-exports"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("schedule-stack")
    running = Stack(state, WBR_WEBHOOK_RETRY_BASE_SECONDS="0.5")
    running.start()
    on_time, _ = demo_events(WORLD, seed=9)
    (state / "events.ndjson").write_text("".join(json.dumps(event) + "\n" for event in on_time))
    try:
        ingested = running.cli("ingest", str(state / "events.ndjson"))
        assert ingested.returncode == 0, ingested.stderr
        yield running
    finally:
        running.stop()


def _wbr(stack: Stack, *arguments: str):  # type: ignore[no-untyped-def]
    return stack.cli(*arguments, "--token", stack.token)


def _month_reports(stack: Stack) -> list[dict]:
    status, page = stack.request(
        "GET", f"{BASE}?billingStartDate={MONTH.first_day.isoformat()}&billingEndDate={MONTH.last_day.isoformat()}"
    )
    assert status == 200, page
    return page["items"]


def test_a_month_published_by_wbr_rate_delivers_each_schedules_report(stack: Stack) -> None:
    stack.client("s3").create_bucket(Bucket=BUCKET)
    with Receiver() as receiver:
        hook = _wbr(stack, "webhooks", "create", "--url", receiver.url, "--secret", SECRET)
        assert hook.returncode == 0, hook.stderr
        users = _wbr(
            stack, "schedules", "create", "--type", "user", "--first-month", str(MONTH),
            "--bucket", BUCKET, "--prefix", "wbr/monthly",
        )  # fmt: skip
        assert users.returncode == 0, users.stderr
        partner = _wbr(stack, "schedules", "create", "--first-month", str(MONTH), "--format", "csv.gz")
        assert partner.returncode == 0, partner.stderr
        schedules = {json.loads(users.stdout)["id"]: "USER", json.loads(partner.stdout)["id"]: "PARTNER"}
        listed = _wbr(stack, "schedules", "list", "--json")
        assert listed.returncode == 0 and sorted(item["id"] for item in json.loads(listed.stdout)) == sorted(schedules)
        assert _month_reports(stack) == []

        started = time.monotonic()
        rated = stack.cli("rate", "--to", MONTH.last_day.isoformat())  # another process publishes the month
        assert rated.returncode == 0, rated.stderr

        def announced() -> list | None:
            with receiver._lock:  # noqa: SLF001 - the receiver's own record
                found = [r for r in receiver.received if r.json()["event"] == "report.scheduled"]
            return found if len({r.json()["data"]["scheduleId"] for r in found}) == len(schedules) else None

        deliveries = _wait_until(announced, timeout=120)
        print(f"report.scheduled for {len(schedules)} schedules {time.monotonic() - started:.1f} s after wbr rate")
        for delivery in deliveries:
            body = delivery.json()
            assert delivery.signed_with(SECRET) and body["orgId"] == DEMO_PARTNER
            data = body["data"]
            assert data["type"] == schedules[data["scheduleId"]] and data["month"] == str(MONTH)
            assert (data["billingStartDate"], data["billingEndDate"]) == (
                MONTH.first_day.isoformat(),
                MONTH.last_day.isoformat(),
            )
            report = stack.wait_for(data["id"], lambda r: r["status"] != "IN_PROGRESS")
            assert report["status"] == "COMPLETED", report
            assert data["revision"] == report["revision"] == 1
        reports = _month_reports(stack)
        assert sorted(item["id"] for item in reports) == sorted(d.json()["data"]["id"] for d in deliveries)

        # The USER schedule's copy: in the partner's bucket, the download's very bytes.
        user_delivery = next(d.json()["data"] for d in deliveries if d.json()["data"]["type"] == "USER")
        report = stack.wait_for(user_delivery["id"], lambda r: r["status"] == "COMPLETED")
        filename = f"wholesale-billing_USER_{MONTH.first_day.isoformat()}_{MONTH.last_day.isoformat()}.csv"
        key = copy_key("wbr/monthly", user_delivery["scheduleId"], MONTH, filename)
        assert user_delivery["copy"] == {"s3Bucket": BUCKET, "s3Key": key, "status": "COPIED"}
        copied = stack.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()
        with urllib.request.urlopen(report["tempDownloadURL"], timeout=60) as response:
            assert copied == response.read()
        assert copied.count(b"\n") == report["rowCount"] + 1 > 1

        # The month's last day published again (another `wbr rate`): nothing is made twice.
        again = stack.cli("rate", "--from", MONTH.last_day.isoformat(), "--to", MONTH.last_day.isoformat())
        assert again.returncode == 0, again.stderr
        time.sleep(5)
        assert sorted(item["id"] for item in _month_reports(stack)) == sorted(item["id"] for item in reports)
        deleted = _wbr(stack, "schedules", "delete", json.loads(partner.stdout)["id"])
        assert deleted.returncode == 0, deleted.stderr
        gone = _wbr(stack, "schedules", "get", json.loads(partner.stdout)["id"])
        assert gone.returncode == 2 and "Schedule not found" in gone.stderr
