"""The list's order extensions through HTTP (ARCHITECTURE.md §2 List): `sortBy=created` and
`order=desc` (newest first), served by one index Query, with cursors bound to the order; a query
with neither gets the answer (and the cursor) Webex clients always got."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import TODAY
from tests.e2e.test_reports_api import BASE, assert_webex_error, follow_list

LEGACY_QUERY_KEYS = {
    "billing_start_date",
    "billing_end_date",
    "report_type",
    "status",
    "sub_partner_org_id",
    "category",
    "sort_by",
    "max_items",
}


def _make_reports(api, seeded, count: int = 7) -> list[dict]:
    seeded.workflow.stop_all()
    made = []
    for offset in range(count):
        day = (TODAY - timedelta(days=100 + (offset * 3) % count)).isoformat()  # not in created order
        body = {"billingStartDate": day, "billingEndDate": day, "type": "USER" if offset % 2 else "CUSTOMER"}
        response = api.post(BASE, body)
        assert response.status == 200, response.body
        made.append(api.get(f"{BASE}/{response.json()['id']}").json())
    return made


def _payload(cursor: str) -> dict:
    part = cursor.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_sort_by_created_ascending_and_newest_first_with_paging(api, seeded):
    made = _make_reports(api, seeded)
    by_created = [m["id"] for m in sorted(made, key=lambda m: (m["created"], m["id"]))]
    ascending = api.get(BASE + "?sortBy=created").json()["items"]
    assert [item["id"] for item in ascending] == by_created
    newest_first = api.get(BASE + "?sortBy=created&order=desc").json()["items"]
    assert [item["id"] for item in newest_first] == by_created[::-1]
    assert newest_first[0]["created"] >= newest_first[-1]["created"]
    # explicit asc is the default order
    assert api.get(BASE + "?sortBy=created&order=asc").body == api.get(BASE + "?sortBy=created").body
    # pages of 2 in both orders: the same sequence, each cursor carrying the order
    seen, cursors = follow_list(api, BASE + "?sortBy=created&order=desc&max=2")
    assert seen == by_created[::-1] and len(cursors) == 3
    assert all(_payload(cursor)["q"]["order"] == "desc" for cursor in cursors)
    seen, cursors = follow_list(api, BASE + "?sortBy=created&max=3")
    assert seen == by_created and all("order" not in _payload(cursor)["q"] for cursor in cursors)
    # desc reverses every other sort too, ties by id descending
    for sort_by, key in (("billingStartDate", "billingStartDate"), ("status", "status"), ("id", "id")):
        expected = [m["id"] for m in sorted(made, key=lambda m: (m[key], m["id"]), reverse=True)]
        seen, _ = follow_list(api, f"{BASE}?sortBy={sort_by}&order=desc&max=2")
        assert seen == expected, sort_by
    # a filter with the order: still the filtered reports, newest first
    users = api.get(BASE + "?sortBy=created&order=desc&type=USER").json()["items"]
    assert [item["id"] for item in users] == [i for i in by_created[::-1] if i in {m["id"] for m in made if m["type"] == "USER"}]


def test_a_sorted_and_filtered_list_is_one_index_query_never_a_scan(api, seeded):
    _make_reports(api, seeded, 4)
    calls: list[tuple[str, dict]] = []

    def record(model, params, **_):
        calls.append((model.name, dict(params)))

    events = seeded.dynamodb.meta.events
    events.register("provide-client-params.dynamodb.*", record)
    try:
        assert api.get(BASE + "?sortBy=created&order=desc&type=USER&max=1").status == 200
    finally:
        events.unregister("provide-client-params.dynamodb.*", record)
    reads = [(name, params) for name, params in calls if name in ("Query", "Scan")]
    assert [name for name, _ in reads] == ["Query"], calls
    query = reads[0][1]
    assert query["IndexName"] == "byCreated" and query["ScanIndexForward"] is False
    assert query["KeyConditionExpression"] == "partnerOrgId = :p"


def test_the_cursor_is_bound_to_the_order(api, seeded):
    _make_reports(api, seeded, 3)
    link = api.get(BASE + "?sortBy=created&order=desc&max=1").header("Link")
    cursor = parse_qs(urlparse(link[1 : link.index(">")]).query)["cursor"][0]
    assert api.get(f"{BASE}?cursor={cursor}&sortBy=created&order=desc&max=1").status == 200  # the same query
    assert_webex_error(api.get(f"{BASE}?cursor={cursor}&sortBy=created&order=asc&max=1"), 400)
    assert_webex_error(api.get(f"{BASE}?cursor={cursor}&order=asc"), 400)
    # the order inside the cursor cannot be flipped: the signature covers it
    payload, signature = cursor.split(".")
    flipped = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    flipped["q"]["order"] = "asc"
    forged = base64.urlsafe_b64encode(json.dumps(flipped, separators=(",", ":"), sort_keys=True).encode())
    assert_webex_error(api.get(f"{BASE}?cursor={forged.decode().rstrip('=')}.{signature}"), 400)


def test_a_webex_query_gets_todays_answer_and_cursor(api, seeded):
    """Neither extension: the list as before (billingStartDate ascending, ties by id) and a
    cursor whose query holds exactly the fields it always held (so its bytes are unchanged)."""
    made = _make_reports(api, seeded, 5)
    seen, cursors = follow_list(api, BASE + "?max=2")
    assert seen == [m["id"] for m in sorted(made, key=lambda m: (m["billingStartDate"], m["id"]))]
    assert cursors and all(set(_payload(cursor)["q"]) == LEGACY_QUERY_KEYS for cursor in cursors)
    assert api.get(BASE + "?max=2").body == api.get(BASE + "?max=2&order=asc").body


@pytest.mark.parametrize(
    "query", ["order=DESC", "order=", "order=descending", "order=desc%00", "sortBy=Created", "sortBy=created,id"]
)
def test_bad_order_parameters_get_400_and_change_nothing(api, seeded, query):
    _make_reports(api, seeded, 2)
    before = api.get(BASE).body
    body = assert_webex_error(api.get(f"{BASE}?{query}"), 400)
    assert ("order" if query.startswith("order") else "sortBy") in body["message"]
    assert api.get(BASE).body == before
