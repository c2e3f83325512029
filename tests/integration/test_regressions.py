"""Regressions found in review: double counting, unknown customers, delete/finalize and rating races."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.commands import GenerationJob
from chalicelib.domain.report_rows import Customer
from chalicelib.domain.reports import ReportStatus
from chalicelib.domain.workflow_messages import AggregateInput, AssembleInput, FinalizeInput, PlanInput, PlanReady
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, DEMO_SUB_PARTNER
from tests.conftest import TODAY
from tests.oracles import rate_day
from tests.readers import object_exists, object_text, usage_rows

CALLER = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
PERIOD = {
    "billingStartDate": (TODAY - timedelta(days=30)).isoformat(),
    "billingEndDate": (TODAY - timedelta(days=1)).isoformat(),
}


def _csv_total(container, report):
    text = object_text(container, report.s3_key)
    rows = list(csv.DictReader(io.StringIO(text)))
    from decimal import Decimal

    return len(rows), sum(Decimal(r["QUANTITY"]) for r in rows)


def test_customer_listed_under_two_partners_of_the_tree_is_counted_once(seeded):
    # A customer that moved from DEMO_PARTNER to its sub-partner (stale item stays, known);
    # both items are in the same tree -> same id appears twice in the sorted customer list.
    d = seeded.directory
    parent_customers = [c for c in d.customers_of([DEMO_PARTNER]) if not c.internal]
    merged = [c.org_id for c in d.customers_of([DEMO_PARTNER, DEMO_SUB_PARTNER])]
    victim = next(c for c in parent_customers if merged.index(c.org_id) % 2 == 1)
    d.upsert_customer(Customer(victim.org_id, DEMO_SUB_PARTNER, victim.external_id, False))
    ids = [c.org_id for c in d.customers_of([DEMO_PARTNER, DEMO_SUB_PARTNER])]
    assert ids.count(victim.org_id) == 2
    totals = {}
    for t in ("PARTNER", "CUSTOMER", "USER"):
        report, _ = seeded.reports.create(CALLER, {**PERIOD, "type": t}, "WBR_t")
        seeded.workflow.join(60)
        report, _ = seeded.reports.get(CALLER, report.report_id)
        assert report.status is ReportStatus.COMPLETED, report.errors
        totals[t] = _csv_total(seeded, report)
    assert totals["PARTNER"][1] == totals["CUSTOMER"][1] == totals["USER"][1]


def test_usage_of_a_customer_not_yet_in_the_directory_is_still_reported(seeded):
    report, _ = seeded.reports.create(CALLER, {**PERIOD, "type": "PARTNER", "internal": True}, "WBR_t")
    seeded.workflow.join(60)
    report, _ = seeded.reports.get(CALLER, report.report_id)
    before = _csv_total(seeded, report)[1]
    # delete one customer's directory item (as if its CUSTOMER_UPSERTED never arrived)
    c = seeded.directory.customers_of([DEMO_PARTNER])[0]
    seeded.dynamodb.delete_item(
        TableName=seeded.settings.directory_table,
        Key={"entity": {"S": f"CUSTOMER#{DEMO_PARTNER}"}, "id": {"S": c.org_id}},
    )
    seeded.reports.delete(CALLER, report.report_id)
    report, _ = seeded.reports.create(CALLER, {**PERIOD, "type": "PARTNER", "internal": True}, "WBR_t")
    seeded.workflow.join(60)
    report, _ = seeded.reports.get(CALLER, report.report_id)
    after = _csv_total(seeded, report)[1]
    assert before == after


def test_delete_racing_finalize_leaves_no_file_behind(seeded, monkeypatch):
    """The worker's PUT and Finalize land between delete's two steps: nothing may survive."""
    svc, store, gen, blobs = seeded.reports, seeded.report_store, seeded.generation, seeded.blobs
    monkeypatch.setattr(seeded.workflow, "start", lambda job, name: None)  # drive the steps by hand
    report, _ = svc.create(CALLER, {**PERIOD, "type": "PARTNER"}, "WBR_t")
    job = GenerationJob(report.partner_org_id, report.report_id, 1, "x")
    plan = gen.plan(PlanInput(job))
    assert isinstance(plan, PlanReady) and isinstance(plan.shards, tuple)
    parts = tuple(gen.aggregate_shard(AggregateInput(job, plan.day_versions, plan.day_rows, s)) for s in plan.shards)
    file = gen.assemble(AssembleInput(job, parts))
    body = object_text(seeded, file.s3_key)
    blobs.delete([file.s3_key])  # the PUT has not landed yet
    seen = {}
    real_delete = store.delete

    def delete_metadata(org, rid):
        blobs.put_text(file.s3_key, body)  # worker's PUT lands after the service's blob delete
        gen.finalize(FinalizeInput(job, file, plan.day_versions))  # ... and Finalize: report still exists -> COMPLETED
        seen["url"] = svc.get(CALLER, rid)[1]  # a client GETs a fresh URL
        return real_delete(org, rid)

    monkeypatch.setattr(store, "delete", delete_metadata)
    svc.delete(CALLER, report.report_id)  # caller gets 204
    assert store.get(DEMO_PARTNER, report.report_id) is None
    alive = object_exists(seeded, file.s3_key)
    assert seen["url"]
    assert not alive


def test_concurrent_rating_runs_never_publish_stale_usage(seeded, monkeypatch, streams_routed):
    D = TODAY - timedelta(days=1)
    cust = seeded.directory.customers_of([DEMO_PARTNER])[0]
    event = {
        "eventId": "late-1",
        "eventType": "PACKAGE_ASSIGNED",
        "occurredAt": f"{D.isoformat()}T12:00:00Z",
        "partnerOrgId": DEMO_PARTNER,
        "customerOrgId": cust.org_id,
        "locationId": "L1",
        "subscriptionId": "S1",
        "sku": "WXC-WHL-PRO",
        "subject": {"type": "USER", "userId": "late-user", "subscriberId": "late-sub"},
    }
    lake, real_write = seeded.lake, seeded.lake.write_day
    calls = []

    def write_day(day, version, usage, previous_version=None):
        calls.append(version)
        if len(calls) == 1:  # run A computed its usage; the late event arrives now (SQS Lambda B)
            assert seeded.ingestion.ingest_lines([json.dumps(event)], source="sqs:b").restated_from == D
            # ... and its restatement marker reaches the stream handler (Lambda C), which re-rates D
            seeded.usage_days_stream.drain_stream()
        return real_write(day, version, usage, previous_version)

    monkeypatch.setattr(lake, "write_day", write_day)
    rate_day(seeded.rating, D)  # run A (schedule / `wbr rate --from D`)
    assert seeded.calendar.pending_restatement() is None
    version = seeded.calendar.published_versions([D])[D]
    late = [
        row for row in usage_rows(seeded, {D: version}, [DEMO_PARTNER]).to_pylist() if row["user_id"] == "late-user"
    ]
    assert calls == [3, 4] and version == 4  # the run that saw the late event published
    assert late
