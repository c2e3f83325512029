"""Point-in-time reports (ARCHITECTURE.md §3) through the HTTP API: the allocations open at `asOf`.

The oracle is independent of the service's base-state + replay path: every assignment event of
the event log (all days), replayed key by key in plain Python. Events ingested after the last
rating (not rated yet) and a late event for an already rated day are part of the count.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import datetime, timedelta, timezone

from chalicelib.domain.events import ASSIGNMENT_TYPES, KEY_FIELDS
from chalicelib.domain.partners import PartnerTree
from chalicelib.domain.point_in_time import POINT_IN_TIME_COLUMNS
from chalicelib.domain.reports import ReportType
from chalicelib.local.demo import DEMO_PARTNER, DEMO_SUB_PARTNER, OTHER_PARTNER
from tests.conftest import TODAY
from tests.e2e.test_reports_api import BASE, assert_webex_error
from tests.readers import object_text


def snapshot(api, report_type="USER", **extra):
    response = api.post(BASE, {"category": "POINT_IN_TIME", "type": report_type, **extra})
    assert response.status == 200, response.body
    return response.json()


def rows_of(seeded, api, report_id):
    seeded.workflow.join(60)
    detail = api.get(f"{BASE}/{report_id}").json()
    assert detail["status"] == "COMPLETED", detail
    text = object_text(seeded, seeded.report_store.get(DEMO_PARTNER, report_id).s3_key)
    rows = list(csv.reader(io.StringIO(text)))
    assert detail["rowCount"] == len(rows) - 1
    return detail, rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def independent_open_keys(seeded, instant: datetime, partner_org_ids, internal_ids=()):
    """Replay every logged assignment event up to `instant`, one key at a time."""
    events = []
    for day in seeded.event_log.event_days():
        table = seeded.event_log.read_day(day, ASSIGNMENT_TYPES).to_pylist()
        events.extend(event for event in table if event["partner_org_id"] in partner_org_ids)
    by_key: dict[tuple, list] = {}
    for event in events:
        by_key.setdefault(tuple(event[name] for name in KEY_FIELDS), []).append(event)
    open_keys = {}
    for key, key_events in by_key.items():
        state, since, seen = False, None, set()
        for event in sorted(key_events, key=lambda e: (e["occurred_at"], e["event_id"])):
            if event["occurred_at"] > instant.timestamp() or event["event_id"] in seen:
                continue
            seen.add(event["event_id"])
            if event["event_type"] == "PACKAGE_ASSIGNED" and not state:
                state, since = True, event["occurred_at"]
            elif event["event_type"] == "PACKAGE_UNASSIGNED" and state:
                state = False
        if state and key[KEY_FIELDS.index("customer_org_id")] not in internal_ids:
            open_keys[key] = since
    return open_keys


def line(event_id, event_type, occurred_at: datetime, user, customer, partner=DEMO_PARTNER, sku="WXC-WHL-PRO"):
    return json.dumps(
        {
            "eventId": event_id,
            "eventType": event_type,
            "occurredAt": occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "partnerOrgId": partner,
            "customerOrgId": customer,
            "locationId": "loc-pit",
            "subscriptionId": "sub-pit",
            "sku": sku,
            "subject": {"type": "USER", "userId": user, "subscriberId": f"s-{user}"},
        }
    )


def test_a_user_snapshot_counts_what_is_open_now_including_events_no_rating_has_seen(api, seeded):
    tree = PartnerTree(seeded.directory.partners())
    customer = next(c for c in seeded.directory.customers_of([DEMO_PARTNER], None, None) if not c.internal)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    yesterday_noon = datetime.combine(TODAY - timedelta(days=1), datetime.min.time(), timezone.utc) + timedelta(
        hours=12
    )
    lines = [
        # today (no rating has run for today): one assignment opened, one opened and closed
        line("pit-1", "PACKAGE_ASSIGNED", now - timedelta(minutes=30), "pit-user-1", customer.org_id),
        line("pit-2", "PACKAGE_ASSIGNED", now - timedelta(minutes=20), "pit-user-2", customer.org_id),
        line("pit-3", "PACKAGE_UNASSIGNED", now - timedelta(minutes=10), "pit-user-2", customer.org_id),
        # late for yesterday, which is rated and published: a restatement is pending meanwhile
        line("pit-4", "PACKAGE_ASSIGNED", yesterday_noon, "pit-user-3", customer.org_id),
        # the same event again: counted once
        line("pit-1", "PACKAGE_ASSIGNED", now - timedelta(minutes=30), "pit-user-1", customer.org_id),
    ]
    result = seeded.ingestion.ingest_lines(lines, source="test")
    assert result.accepted >= 4, result
    created = snapshot(api)
    assert created["category"] == "POINT_IN_TIME" and created["type"] == "USER" and created["internal"] is False
    as_of = datetime.fromisoformat(created["asOf"].replace("Z", "+00:00"))
    assert created["billingStartDate"] == created["billingEndDate"] == as_of.date().isoformat()
    detail, header, rows = rows_of(seeded, api, created["id"])
    assert header == list(POINT_IN_TIME_COLUMNS[ReportType.USER])
    assert detail["category"] == "POINT_IN_TIME" and detail["asOf"] == created["asOf"]

    internal = {c.org_id for c in seeded.directory.customers_of(tree.subtree(DEMO_PARTNER), None, None) if c.internal}
    expected = independent_open_keys(seeded, as_of, set(tree.subtree(DEMO_PARTNER)), internal)
    assert len(rows) == len(expected) > 0
    users = {row["USER_ID"]: row for row in rows}
    assert "pit-user-1" in users and "pit-user-3" in users and "pit-user-2" not in users
    assert users["pit-user-1"]["ASSIGNED_SINCE"] == (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert all(row["QUANTITY"] == "1" for row in rows)
    assert {row["PARTNER_ORG_ID"] for row in rows} == {DEMO_PARTNER}
    assert not internal & {row["CUSTOMER_ORG_ID"] for row in rows}
    # every row's since is the independent one (rated days carry it in their closing state)
    by_user = {
        key[KEY_FIELDS.index("user_id")] or key[KEY_FIELDS.index("workspace_id")]: since
        for key, since in expected.items()
    }
    for row in rows:
        since = by_user[row["USER_ID"] or row["WORKSPACE_ID"]]
        assert row["ASSIGNED_SINCE"] == datetime.fromtimestamp(since, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_customer_snapshot_counts_allocations_per_customer_location_subscription_sku(api, seeded):
    created = snapshot(api, "CUSTOMER", internal=True, billingStartDate="2020-01-01", billingEndDate="2020-01-31")
    assert created["internal"] is True and created["billingStartDate"] != "2020-01-01"  # dates ignored
    as_of = datetime.fromisoformat(created["asOf"].replace("Z", "+00:00"))
    _, header, rows = rows_of(seeded, api, created["id"])
    assert header == list(POINT_IN_TIME_COLUMNS[ReportType.CUSTOMER])
    tree = PartnerTree(seeded.directory.partners())
    expected = Counter(
        (
            key[KEY_FIELDS.index("customer_org_id")],
            key[KEY_FIELDS.index("location_id")],
            key[KEY_FIELDS.index("subscription_id")],
            key[KEY_FIELDS.index("sku")],
        )
        for key in independent_open_keys(seeded, as_of, set(tree.subtree(DEMO_PARTNER)))
    )
    got = {
        (row["CUSTOMER_ORG_ID"], row["LOCATION_ID"], row["SUBSCRIPTION_ID"], row["SKU"]): int(row["QUANTITY"])
        for row in rows
    }
    assert got == dict(expected) and sum(got.values()) > 0
    assert [list(key) for key in got] == sorted(list(key) for key in got)  # rows sorted by their key


def test_a_sub_partner_snapshot_covers_only_its_subtree_and_names_it(api, seeded):
    created = snapshot(api, "USER", subPartnerOrgId=DEMO_SUB_PARTNER)
    _, _, rows = rows_of(seeded, api, created["id"])
    sub_customers = {c.org_id for c in seeded.directory.customers_of([DEMO_SUB_PARTNER], None, None)}
    assert rows and {row["PARTNER_ORG_ID"] for row in rows} == {DEMO_SUB_PARTNER}
    assert {row["CUSTOMER_ORG_ID"] for row in rows} <= sub_customers


def test_point_in_time_rules_partner_type_400_never_a_duplicate_listed_and_filtered(api, seeded, tokens):
    error = assert_webex_error(api.post(BASE, {"category": "POINT_IN_TIME", "type": "PARTNER"}), 400)
    assert "POINT_IN_TIME" in error["message"] and "CUSTOMER or USER" in error["message"]
    assert_webex_error(api.post(BASE, {"category": "POINT_IN_TIME"}), 400)  # the default type is PARTNER
    assert_webex_error(api.post(BASE, {"category": "DAILY", "type": "USER"}), 400)
    first, second = snapshot(api, "CUSTOMER"), snapshot(api, "CUSTOMER")
    assert first["id"] != second["id"]  # each is its own snapshot
    seeded.workflow.join(60)
    listed = api.get(f"{BASE}?category=POINT_IN_TIME").json()["items"]
    assert {item["id"] for item in listed} == {first["id"], second["id"]}
    assert all(item["category"] == "POINT_IN_TIME" and item["asOf"] for item in listed)
    assert api.get(f"{BASE}?category=RECONCILIATION").json()["items"] == []
    # another partner never sees them; delete removes the file and the report
    other = api.get(f"{BASE}/{first['id']}", token=tokens.mint(org_id=OTHER_PARTNER))
    assert other.status == 404
    detail = api.get(f"{BASE}/{first['id']}").json()
    assert "POINT_IN_TIME" in detail["tempDownloadURL"]
    key = seeded.report_store.get(DEMO_PARTNER, first["id"]).s3_key
    assert api.delete(f"{BASE}/{first['id']}").status == 204
    assert seeded.blobs.list_keys(key) == []
    assert api.get(f"{BASE}/{first['id']}").status == 404


def test_point_in_time_counts_under_the_in_progress_cap(api, seeded, monkeypatch):
    monkeypatch.setattr(seeded.workflow, "start", lambda job, name: None)  # they stay IN_PROGRESS
    cap = seeded.settings.max_reports_in_progress
    for _ in range(cap):
        snapshot(api, "USER")
    assert_webex_error(api.post(BASE, {"category": "POINT_IN_TIME", "type": "USER"}), 429)
