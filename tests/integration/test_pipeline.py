"""The usage pipeline through moto: SQS, S3 drop and CLI ingestion → rating → lake → report."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.proration import day_start_epoch
from chalicelib.domain.reports import ReportStatus
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, demo_events, demo_world, usage_by_day
from tests.conftest import TODAY, deliver_publications
from tests.readers import object_text, usage_rows

pytestmark = pytest.mark.usefixtures("streams_routed")  # drained by hand: moto's regional streams endpoint

CALLER = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
YESTERDAY = TODAY - timedelta(days=1)


def _iso(epoch):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def small_world():
    return demo_world(TODAY, days=10, users=40, workspaces=4, seed=5)


def _lines(events):
    return [json.dumps(event) for event in events]


def _lake_units(container, day):
    versions = container.calendar.published_versions([day])
    rows = usage_rows(container, versions, [p.org_id for p in container.directory.partners()])
    return {
        tuple(str(rows[f][i]) for f in ("customer_org_id", "location_id", "sku", "user_id", "workspace_id")): rows[
            "units"
        ][i].as_py()
        for i in range(rows.num_rows)
    }


def _truth_units(world, day):
    return {
        (r["customer_org_id"], r["location_id"], r["sku"], r["user_id"], r["workspace_id"]): r["units"]
        for r in usage_by_day(world.assignments).get(day, [])
    }


def test_sqs_ingestion_reports_partial_failures_and_lands_good_lines(container, small_world):
    from chalicelib.api.events import on_provisioning_events

    sqs = container._sqs = __import__("boto3").client("sqs", region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName="wbr-provisioning-events")["QueueUrl"]
    on_time, late = demo_events(small_world, seed=5)
    lines = _lines(on_time + late)
    bodies = ["\n".join(lines[i : i + 50]) for i in range(0, len(lines), 50)]
    bodies.append('{"eventType": "PACKAGE_ASSIGNED"}\nnot json')  # bad lines: dead letters, not failures
    for body in bodies:
        sqs.send_message(QueueUrl=queue_url, MessageBody=body)
    received = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            break
        received += batch
        for message in batch:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    assert len(received) == len(bodies)
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": m["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:wbr-provisioning-events",
            "awsRegion": "us-east-1",
        }
        for m in received
    ]

    # A fault while landing one message fails only that message.
    original = container.event_log.append_table
    calls = {"n": 0}

    def flaky(table_, *batch):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("S3 unavailable")
        return original(table_, *batch)

    container.event_log.append_table = flaky
    result = on_provisioning_events({"Records": records}, None)
    assert [failure["itemIdentifier"] for failure in result["batchItemFailures"]] == [records[1]["messageId"]]
    container.event_log.append_table = original
    retry = on_provisioning_events({"Records": [records[1]]}, None)  # SQS redelivers it
    assert retry["batchItemFailures"] == []
    dead = container.dead_letters.read_all()
    assert sorted(d["reason"] for d in dead) == ["missing field eventId", "not valid JSON"]
    container.rating.rate_through(YESTERDAY)
    for day in (YESTERDAY - timedelta(days=5), YESTERDAY):
        assert _lake_units(container, day) == _truth_units(small_world, day)


def test_s3_drop_is_ingested_and_archived(container, small_world):
    from chalicelib.api.events import ingest_dropped_object

    on_time, late = demo_events(small_world, seed=5)
    container.s3.put_object(
        Bucket=container.settings.lake_bucket,
        Key="incoming/batch-1.ndjson",
        Body=("\n".join(_lines(on_time + late)) + "\n\n  \n").encode(),  # two blank lines at the end
    )
    result = ingest_dropped_object("incoming/batch-1.ndjson")
    assert result["accepted"] == len({e["eventId"] for e in on_time + late}) and result["rejected"] == 0
    assert result["blankLines"] == 2  # counted, skipped: not dropped unseen
    keys = [
        o["Key"]
        for o in container.s3.list_objects_v2(Bucket=container.settings.lake_bucket, Prefix="incoming/").get(
            "Contents", []
        )
    ]
    assert keys == []
    container.rating.rate_through(YESTERDAY)
    assert _lake_units(container, YESTERDAY) == _truth_units(small_world, YESTERDAY)


def test_cli_ingest_then_rate_then_report(container, small_world, tmp_path, monkeypatch, capsys):
    from chalicelib.cli import main as cli
    from chalicelib.local import env_file as local_env

    env = tmp_path / "env"
    env.write_text("")
    monkeypatch.setattr(local_env, "env_file", lambda: env)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "")  # the mock, not a local stack
    on_time, late = demo_events(small_world, seed=5)
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(_lines(on_time)) + "\n{bad line\n")
    monkeypatch.setattr("chalicelib.cli.stack.local_container", lambda: container)
    assert cli.main(["ingest", "--json", str(path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rejected"] == 1 and summary["accepted"] > 0
    assert summary["rejections"] == {"not valid JSON": 1}
    assert cli.main(["rate", "--to", YESTERDAY.isoformat(), "--json"]) == 0
    rated = json.loads(capsys.readouterr().out)
    assert rated[-1]["day"] == YESTERDAY.isoformat() and all(r["version"] == 1 for r in rated)
    late_path = tmp_path / "late.ndjson"
    late_path.write_text("\n".join(_lines(late)))
    assert cli.main(["--json", "ingest", str(late_path)]) == 0
    restated_from = json.loads(capsys.readouterr().out)["restatedFrom"]
    assert restated_from is not None
    # `wbr ingest` only leaves the restatement marker: nothing is re-rated in-line ...
    assert container.calendar.pending_restatement().from_day.isoformat() == restated_from
    rated_days = [YESTERDAY - timedelta(days=offset) for offset in range(10)]
    assert set(container.calendar.published_versions(rated_days).values()) == {1}
    # ... `wbr rate` re-rates from the marker (bounded runs, until it is gone).
    assert cli.main(["rate", "--json", "--to", YESTERDAY.isoformat()]) == 0
    restated = json.loads(capsys.readouterr().out)
    assert restated and restated[0]["day"] == restated_from and restated[-1]["day"] == YESTERDAY.isoformat()
    assert all(r["version"] == 2 for r in restated if r["day"] >= restated_from)
    assert container.calendar.pending_restatement() is None
    for offset in range(10):
        day = YESTERDAY - timedelta(days=offset)
        assert _lake_units(container, day) == _truth_units(small_world, day), day
    report, _ = container.reports.create(
        CALLER,
        {
            "billingStartDate": (TODAY - timedelta(days=10)).isoformat(),
            "billingEndDate": YESTERDAY.isoformat(),
            "type": "USER",
        },
        "WBR_p",
    )
    container.workflow.join(60)
    done, _ = container.reports.get(CALLER, report.report_id)
    assert done.status is ReportStatus.COMPLETED and done.row_count > 0


def test_late_event_restates_the_day_and_later_days(container, small_world):
    on_time, late = demo_events(small_world, seed=5)
    container.ingestion.ingest_lines(_lines(on_time + late), source="t")
    container.rating.rate_through(YESTERDAY)
    before = container.calendar.published_versions([YESTERDAY - timedelta(days=3), YESTERDAY])
    subject = {"type": "USER", "userId": "late-user", "subscriberId": "late-sub"}
    customer = small_world.customers[0]
    late_day = YESTERDAY - timedelta(days=3)
    event = {
        "eventId": "late-1",
        "eventType": "PACKAGE_ASSIGNED",
        "occurredAt": _iso(day_start_epoch(late_day) + 43200),
        "partnerOrgId": customer.partner_org_id,
        "customerOrgId": customer.org_id,
        "locationId": "loc-late",
        "subscriptionId": "Sub-ACME-0001",
        "sku": "WXC-WHL-PRO",
        "subject": subject,
    }
    report = container.ingestion.ingest_lines([json.dumps(event)], source="t")
    assert report.restated_from == late_day
    # Ingestion leaves the marker only; its stream record makes the handler re-rate.
    assert container.calendar.pending_restatement().from_day == late_day
    assert container.calendar.published_versions([late_day, YESTERDAY]) == before
    deliver_publications(container)
    assert container.calendar.pending_restatement() is None
    after = container.calendar.published_versions([late_day, YESTERDAY])
    assert after[late_day] == before[late_day] + 1 and after[YESTERDAY] == before[YESTERDAY] + 1
    units = _lake_units(container, late_day)
    assert units[(customer.org_id, "loc-late", "WXC-WHL-PRO", "late-user", "")] == 500_000
    assert _lake_units(container, YESTERDAY)[(customer.org_id, "loc-late", "WXC-WHL-PRO", "late-user", "")] == 1_000_000
    # The same event again changes no number (idempotent by eventId).
    settled = {day: _lake_units(container, day) for day in (late_day, YESTERDAY)}
    container.ingestion.ingest_lines([json.dumps(event)], source="t")
    deliver_publications(container)
    assert container.calendar.pending_restatement() is None
    assert {day: _lake_units(container, day) for day in (late_day, YESTERDAY)} == settled


def test_directory_upserts_are_order_free(container):
    def upsert(name, occurred):
        return json.dumps(
            {
                "eventId": f"p-{name}",
                "eventType": "PARTNER_UPSERTED",
                "occurredAt": occurred,
                "partnerOrgId": "org-1",
                "name": name,
                "parentPartnerOrgId": None,
            }
        )

    container.ingestion.ingest_lines([upsert("New Name", "2026-10-02T00:00:00Z")], source="t")
    container.ingestion.ingest_lines([upsert("Old Name", "2026-10-01T00:00:00Z")], source="t")
    container.directory._partners = None
    assert [p.name for p in container.directory.partners()] == ["New Name"]


def test_report_over_pipeline_data_reconciles(seeded):
    totals = {}
    for report_type in ("USER", "CUSTOMER", "PARTNER"):
        report, _ = seeded.reports.create(
            CALLER,
            {
                "billingStartDate": (TODAY - timedelta(days=35)).isoformat(),
                "billingEndDate": YESTERDAY.isoformat(),
                "type": report_type,
            },
            "t",
        )
        seeded.workflow.join(60)
        done, _ = seeded.reports.get(CALLER, report.report_id)
        rows = list(csv.DictReader(io.StringIO(object_text(seeded, done.s3_key))))
        total = 0
        for row in rows:
            whole, _, fraction = row["QUANTITY"].partition(".")
            total += int(whole) * 1_000_000 + int((fraction + "000000")[:6])
        totals[report_type] = total
    assert totals["USER"] == totals["CUSTOMER"] == totals["PARTNER"] > 0


# ---- no late event left behind (issue 22; domain/restatement.py) ----------------------------------


def _late_users(customer, late_day, count, prefix):
    """`count` new users assigned 06:00-18:00 of `late_day`: 0.5 units each, on that day only."""
    events = []
    for n in range(count):
        subject = {"type": "USER", "userId": f"{prefix}-{n}", "subscriberId": f"{prefix}-sub-{n}"}
        common = {
            "partnerOrgId": customer.partner_org_id,
            "customerOrgId": customer.org_id,
            "locationId": "loc-late",
            "subscriptionId": "Sub-ACME-0001",
            "sku": "WXC-WHL-PRO",
            "subject": subject,
        }
        events.append(
            {
                **common,
                "eventId": f"{prefix}-on-{n}",
                "eventType": "PACKAGE_ASSIGNED",
                "occurredAt": _iso(day_start_epoch(late_day) + 6 * 3600),
            }
        )
        events.append(
            {
                **common,
                "eventId": f"{prefix}-off-{n}",
                "eventType": "PACKAGE_UNASSIGNED",
                "occurredAt": _iso(day_start_epoch(late_day) + 18 * 3600),
            }
        )
    return events


def _late_units_on(container, day, prefix):
    return sum(units for key, units in _lake_units(container, day).items() if key[3].startswith(prefix))


def test_late_events_for_a_day_the_running_pass_already_rerated_are_rated_by_the_next(container, small_world):
    """Issue 22, case 1: a wave lands while a pass holds the marker and has re-rated its day."""
    on_time, late = demo_events(small_world, seed=5)
    container.ingestion.ingest_lines(_lines(on_time + late), source="t")
    container.rating.rate_through(YESTERDAY)
    customer = small_world.customers[0]
    late_day = YESTERDAY - timedelta(days=5)
    first = container.ingestion.ingest_lines(_lines(_late_users(customer, late_day, 3, "wave1")), source="t")
    assert first.restatement.request is not None and first.restatement.from_day == late_day

    # A pass starts (its snapshot sees wave 1), and re-rates late_day; then wave 2 lands for the
    # same day before the pass settles.
    rating = container.rating
    original = rating.rate_range
    landed_during = {}

    def rate_range_then_wave(first_day, last_day, progress=lambda d, t: None):
        rated = original(first_day, last_day, progress)
        if not landed_during:
            landed_during["wave2"] = container.ingestion.ingest_lines(
                _lines(_late_users(customer, late_day, 4, "wave2")), source="t"
            )
        return rated

    rating.rate_range = rate_range_then_wave
    rating.restate_pending()
    rating.rate_range = original
    wave2 = landed_during["wave2"]
    assert wave2.restatement.running is not None and not wave2.restatement.covered_by_running_pass
    # the pass rated wave 1 only; wave 2's request survived its end
    assert _late_units_on(container, late_day, "wave1") == 1_500_000
    assert _late_units_on(container, late_day, "wave2") == 0
    assert container.calendar.pending_restatement().from_day == late_day
    deliver_publications(container)  # the marker's stream record starts the next pass
    assert container.calendar.pending_restatement() is None
    assert _late_units_on(container, late_day, "wave2") == 2_000_000
    assert _late_units_on(container, late_day, "wave1") == 1_500_000


def test_an_ingest_that_dies_between_landing_and_asking_is_asked_for_by_its_rerun_or_the_sweep(container, small_world):
    """Issue 22, case 2: the events landed, the request never came (kill -9): a rerun finds
    them landed and still asks; without a rerun the sweep asks once the landing is stale."""
    on_time, late = demo_events(small_world, seed=5)
    container.ingestion.ingest_lines(_lines(on_time + late), source="t")
    container.rating.rate_through(YESTERDAY)
    customer = small_world.customers[0]
    late_day = YESTERDAY - timedelta(days=4)
    container.calendar.request_restatement(late_day)  # a marker already pending for that day
    held = container.calendar.restatement_marker()

    # 1. landed, died before asking; a pass that started before it finishes
    killed = container.ingestion.ingest_lines(
        _lines(_late_users(customer, late_day, 5, "killed")), source="t", restate=False
    )
    assert killed.accepted == 10 and killed.restatement is None
    container.calendar.settle_restatement(held.seq, YESTERDAY, finished=True)
    assert container.calendar.pending_restatement() is None
    assert container.rating.ask_for_stale_landings(grace=timedelta(minutes=10)) == []  # too fresh to be dead
    rerun = container.ingestion.ingest_lines(_lines(_late_users(customer, late_day, 5, "killed")), source="t")
    assert rerun.duplicates_ingested == 10 and rerun.restatement.requested_day == late_day
    deliver_publications(container)
    assert _late_units_on(container, late_day, "killed") == 2_500_000

    # 2. landed, died, never rerun: the sweep's stale landing asks for it
    container.ingestion.ingest_lines(_lines(_late_users(customer, late_day, 2, "orphan")), source="t", restate=False)
    assert container.calendar.pending_restatement() is None
    assert container.rating.ask_for_stale_landings(grace=timedelta(0)) == [late_day]
    deliver_publications(container)
    assert container.calendar.pending_restatement() is None
    assert _late_units_on(container, late_day, "orphan") == 1_000_000
    assert container.calendar.stale_landings(datetime.now(timezone.utc)) == {}
