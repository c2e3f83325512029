"""The console's read API end to end through the HTTP layer (DESIGN §12): usage totals by SKU,
customer and user, the monthly series, explain and availability, on the session's demo data
(ingested, rated and restated by the real pipeline, so the rollup is the one rating wrote).

Every number is held to an independent truth: the reports the worker generates for the same
period (PARTNER, CUSTOMER, USER files), or the demo world's own assignment intervals.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest

from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE
from chalicelib.domain.months import Month
from chalicelib.domain.proration import format_quantity
from chalicelib.domain.usage_view import seat_equivalents
from chalicelib.local.demo import DEMO_PARTNER, DEMO_SUB_PARTNER, OTHER_PARTNER, usage_by_day
from tests.conftest import TODAY
from tests.e2e.test_reports_api import assert_webex_error
from tests.readers import object_text

USAGE = "/v1/wholesale/billing/usage"
REPORTS = "/v1/wholesale/billing/reports"
START = TODAY - timedelta(days=30)
END = TODAY - timedelta(days=1)


def _period(start: date = START, end: date = END, **extra: str) -> str:
    query = {"billingStartDate": start.isoformat(), "billingEndDate": end.isoformat(), **extra}
    return "&".join(f"{name}={value}" for name, value in query.items())


def _report_rows(api, container, report_type: str, start: date = START, end: date = END, **extra) -> list[dict]:
    body = {"billingStartDate": start.isoformat(), "billingEndDate": end.isoformat(), "type": report_type, **extra}
    report_id = api.post(REPORTS, body).json()["id"]
    container.workflow.join(60)
    detail = api.get(f"{REPORTS}/{report_id}").json()
    assert detail["status"] == "COMPLETED", detail
    report = container.report_store.get(DEMO_PARTNER, report_id)
    return list(csv.DictReader(io.StringIO(object_text(container, report.s3_key))))


def _units(text: str) -> int:
    return int(Decimal(text) * 1_000_000)


def _all_items(api, query: str) -> list[dict]:
    items, path = [], f"{USAGE}?{query}&max=7"
    while path:
        response = api.get(path)
        assert response.status == 200, response.body
        items += response.json()["items"]
        link = response.header("Link")
        path = None
        if link:
            url = urlparse(link.split(";")[0].strip("<> "))
            assert url.path == USAGE
            path = f"{url.path}?{url.query}"
    return items


def test_totals_by_sku_equal_the_partner_report_to_the_micro_unit(api, seeded):
    response = api.get(f"{USAGE}?{_period(groupBy='sku')}")
    assert response.status == 200, response.body
    body = response.json()
    rows = _report_rows(api, seeded, "PARTNER")
    expected = {(row["SUBSCRIPTION_ID"], row["SKU"]): row["QUANTITY"] for row in rows}
    assert {(item["subscriptionId"], item["sku"]): item["quantity"] for item in body["items"]} == expected
    days = (END - START).days + 1
    assert body["days"] == days and body["groupBy"] == "sku"
    total = sum(_units(quantity) for quantity in expected.values())
    assert body["totals"]["quantity"] == format_quantity(total)
    assert body["totals"]["seatEquivalents"] == seat_equivalents(total, days)
    for item in body["items"]:
        assert item["seatEquivalents"] == seat_equivalents(_units(item["quantity"]), days)
        assert item["serviceName"] and item["description"]
    assert body["publishedThrough"] == END.isoformat() and body["complete"] is True
    assert body["lastChanged"].endswith("Z")


def test_totals_by_customer_equal_the_customer_report(api, seeded):
    body = api.get(f"{USAGE}?{_period(groupBy='customer')}&max=1000").json()
    rows = _report_rows(api, seeded, "CUSTOMER")
    per_customer: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    external = {}
    for row in rows:
        per_customer[row["CUSTOMER_ORG_ID"]][row["SKU"]] += _units(row["QUANTITY"])
        external[row["CUSTOMER_ORG_ID"]] = row["CUSTOMER_EXTERNAL_ID"]
    assert [item["customerOrgId"] for item in body["items"]] == sorted(per_customer)
    for item in body["items"]:
        skus = per_customer[item["customerOrgId"]]
        assert {entry["sku"]: _units(entry["quantity"]) for entry in item["skus"]} == dict(skus)
        assert _units(item["quantity"]) == sum(skus.values())
        assert item["customerExternalId"] == external[item["customerOrgId"]]
    assert body["totals"]["customers"] == len(per_customer)


def test_users_of_a_customer_equal_the_user_report_and_the_tiles_tie_out(api, seeded, world):
    rows = _report_rows(api, seeded, "USER")
    customer = rows[0]["CUSTOMER_ORG_ID"]
    mine = [row for row in rows if row["CUSTOMER_ORG_ID"] == customer]
    items = _all_items(api, _period(groupBy="user", customerOrgId=customer))
    got = {
        (i["locationId"], i["subscriptionId"], i["sku"], i.get("userId", ""), i.get("workspaceId", "")): i["quantity"]
        for i in items
    }
    expected = {
        (r["LOCATION_ID"], r["SUBSCRIPTION_ID"], r["SKU"], r["USER_ID"], r["WORKSPACE_ID"]): r["QUANTITY"] for r in mine
    }
    assert got == expected
    assert all(item["customerOrgId"] == customer for item in items)
    # The tiles: users of the whole tree = distinct subjects of the USER report.
    totals = api.get(f"{USAGE}?{_period(groupBy='sku')}").json()["totals"]
    subjects = {(r["CUSTOMER_ORG_ID"], r["USER_ID"], r["WORKSPACE_ID"]) for r in rows}
    assert totals["users"] == len(subjects)
    assert totals["customers"] == len({r["CUSTOMER_ORG_ID"] for r in rows})
    assert totals["quantity"] == format_quantity(sum(_units(r["QUANTITY"]) for r in rows))
    one = api.get(f"{USAGE}?{_period(groupBy='sku', customerOrgId=customer)}").json()["totals"]
    assert one["users"] == len({s for s in subjects if s[0] == customer})


def test_paging_follows_link_and_covers_every_item_once(api, seeded):
    everything = api.get(f"{USAGE}?{_period(groupBy='customer')}&max=1000").json()["items"]
    paged = _all_items(api, _period(groupBy="customer"))
    assert paged == everything and len(everything) > 7


def test_sub_partner_and_internal_scopes_follow_the_reports(api, seeded):
    sub = api.get(f"{USAGE}?{_period(groupBy='sku', subPartnerOrgId=DEMO_SUB_PARTNER)}").json()
    rows = _report_rows(api, seeded, "PARTNER", subPartnerOrgId=DEMO_SUB_PARTNER)
    assert {(i["subscriptionId"], i["sku"]): i["quantity"] for i in sub["items"]} == {
        (r["SUBSCRIPTION_ID"], r["SKU"]): r["QUANTITY"] for r in rows
    }
    internal = api.get(f"{USAGE}?{_period(groupBy='sku', internal='true')}").json()
    rows = _report_rows(api, seeded, "PARTNER", internal=True)
    assert {(i["subscriptionId"], i["sku"]): i["quantity"] for i in internal["items"]} == {
        (r["SUBSCRIPTION_ID"], r["SKU"]): r["QUANTITY"] for r in rows
    }


def test_a_month_with_no_data_answers_zeros(api, seeded):
    old = Month.of(TODAY).back(30)[0]
    body = api.get(f"{USAGE}?{_period(old.first_day, old.last_day, groupBy='sku')}").json()
    assert body["totals"] == {"quantity": "0", "seatEquivalents": "0", "customers": 0, "users": 0}
    assert body["items"] == [] and body["days"] == old.day_count
    assert body["complete"] is True  # before the data epoch: published empty


def test_series_months_sum_to_the_month_totals(api, seeded):
    end = Month.of(END)
    body = api.get(f"{USAGE}/series?groupBy=sku&months=3&endMonth={end}").json()
    assert body["months"] == [str(month) for month in end.back(3)]
    for index, month in enumerate(end.back(3)):
        first, last = month.first_day, min(month.last_day, END)
        totals = api.get(f"{USAGE}?{_period(first, last, groupBy='sku')}&max=1000").json()
        expected = {(i["subscriptionId"], i["sku"]): i["quantity"] for i in totals["items"]}
        got = {
            (s["key"]["subscriptionId"], s["key"]["sku"]): s["quantities"][index]
            for s in body["series"]
            if s["quantities"][index] != "0"
        }
        assert got == expected
        for line in body["series"]:
            units = _units(line["quantities"][index])
            assert line["seatEquivalents"][index] == seat_equivalents(units, month.day_count)
    default = api.get(f"{USAGE}/series?groupBy=customer").json()
    assert default["months"][-1] == str(Month.of(TODAY).previous()) and len(default["months"]) == 12
    assert all(set(line["key"]) >= {"customerOrgId", "customerName"} for line in default["series"])


def test_explain_sums_to_the_user_report_row_and_names_the_events(api, seeded, world):
    rows = _report_rows(api, seeded, "USER")
    partial = next(row for row in rows if row["USER_ID"] and "." in row["QUANTITY"])  # a prorated one
    for row in (partial, rows[-1]):
        subject = f"userId={row['USER_ID']}" if row["USER_ID"] else f"workspaceId={row['WORKSPACE_ID']}"
        query = f"{_period()}&sku={row['SKU']}&{subject}"
        response = api.get(f"{USAGE}/explain?{query}")
        assert response.status == 200, response.body
        body = response.json()
        assert body["quantity"] == row["QUANTITY"]
        assert sum(_units(day["quantity"]) for day in body["days"]) == _units(row["QUANTITY"])
        assert body["customerOrgId"] == row["CUSTOMER_ORG_ID"] and body["locationId"] == row["LOCATION_ID"]
        assert body["days"][0]["date"] == row["CONSUMPTION_START_DATE"]
        assert body["days"][-1]["date"] == row["CONSUMPTION_END_DATE"]
        assert all(event["eventType"] in ("PACKAGE_ASSIGNED", "PACKAGE_UNASSIGNED") for event in body["events"])
        # Every day with a partial unit has an event that day (it made the partial day).
        event_days = {event["occurredAt"][:10] for event in body["events"]}
        partial_days = {day["date"] for day in body["days"] if _units(day["quantity"]) < 1_000_000}
        assert partial_days <= event_days
        with_customer = api.get(f"{USAGE}/explain?{query}&customerOrgId={row['CUSTOMER_ORG_ID']}").json()
        assert with_customer["quantity"] == row["QUANTITY"]


def test_explain_days_equal_the_world_truth(api, seeded, world):
    truth: dict[tuple[str, ...], dict[date, int]] = defaultdict(dict)
    for day, rows in usage_by_day(world.assignments).items():
        if START <= day <= END:
            for row in rows:
                if row["user_id"] and row["partner_org_id"] == DEMO_PARTNER:
                    key = (row["user_id"], row["sku"], row["location_id"], row["subscription_id"])
                    truth[key][day] = truth[key].get(day, 0) + row["units"]
    for (user, sku, location, subscription), days in sorted(truth.items())[:5]:
        query = f"{_period()}&sku={sku}&userId={user}&locationId={location}&subscriptionId={subscription}"
        body = api.get(f"{USAGE}/explain?{query}").json()
        assert {date.fromisoformat(day["date"]): _units(day["quantity"]) for day in body["days"]} == days


def test_availability_says_how_fresh_the_data_is(api, seeded):
    body = api.get(f"{USAGE}/availability").json()
    assert body["publishedThrough"] == END.isoformat()
    assert body["dataEpoch"] <= START.isoformat()
    assert body["restatements"], "the demo restates days (late events)"
    assert [r["publishedAt"] for r in body["restatements"]] == sorted(
        (r["publishedAt"] for r in body["restatements"]), reverse=True
    )
    assert all(r["version"] > 1 for r in body["restatements"])
    assert body["lastChanged"] >= body["restatements"][0]["publishedAt"]


# ---- tenancy, scopes, bad input --------------------------------------------------------------


def _other_partner_customer(container) -> str:
    return container.directory.customers_of([OTHER_PARTNER])[0].org_id


@pytest.mark.parametrize("customer", ["other", "unknown"])
def test_another_partners_customer_is_the_same_404_as_an_unknown_one(api, seeded, customer):
    customer_id = _other_partner_customer(seeded) if customer == "other" else "no-such-customer"
    bodies = []
    for query in (
        f"{USAGE}?{_period(groupBy='user', customerOrgId=customer_id)}",
        f"{USAGE}?{_period(groupBy='sku', customerOrgId=customer_id)}",
        f"{USAGE}/series?groupBy=sku&customerOrgId={customer_id}",
        f"{USAGE}/explain?{_period()}&sku=X&userId=u&customerOrgId={customer_id}",
    ):
        body = assert_webex_error(api.get(query), 404)
        bodies.append((body["message"], body["errors"]))
    assert bodies[0] == bodies[1] == bodies[2]


def test_another_partners_user_is_not_explained(api, seeded, world, tokens):
    other = [a for a in world.assignments if a.partner_org_id == OTHER_PARTNER and a.user_id]
    if not other:
        pytest.skip("the demo world gives the other partner no users")
    assignment = other[0]
    query = f"{USAGE}/explain?{_period()}&sku={assignment.sku}&userId={assignment.user_id}"
    assert_webex_error(api.get(query), 404)
    mine = api.get(query, token=tokens.mint(org_id=OTHER_PARTNER)).status
    assert mine in (200, 404)


def test_foreign_sub_partner_is_403(api, seeded):
    assert_webex_error(api.get(f"{USAGE}?{_period(groupBy='sku', subPartnerOrgId=OTHER_PARTNER)}"), 403)


@pytest.mark.parametrize(
    "query",
    [
        f"{USAGE}?groupBy=sku",
        f"{USAGE}?{_period(groupBy='nope')}",
        f"{USAGE}?{_period(groupBy='user')}",
        f"{USAGE}?{_period(END, START, groupBy='sku')}",
        f"{USAGE}?{_period(groupBy='sku', internal='yes')}",
        f"{USAGE}?{_period(groupBy='sku', max='0')}",
        f"{USAGE}?{_period(groupBy='sku', offset='-1')}",
        f"{USAGE}?{_period(groupBy='sku', extra='1')}",
        f"{USAGE}?billingStartDate=2026-13-01&billingEndDate=2026-13-02&groupBy=sku",
        f"{USAGE}?{_period(TODAY + timedelta(days=40), TODAY + timedelta(days=41), groupBy='sku')}",
        f"{USAGE}/series?groupBy=user",
        f"{USAGE}/series?groupBy=sku&months=0",
        f"{USAGE}/series?groupBy=sku&endMonth=2026-1",
        f"{USAGE}/series",
        f"{USAGE}/explain?{_period()}&sku=X",
        f"{USAGE}/explain?{_period()}&sku=X&userId=a&workspaceId=b",
        f"{USAGE}/availability?x=1",
    ],
)
def test_bad_input_is_a_webex_400(api, seeded, query):
    assert_webex_error(api.get(query), 400)


def test_explain_of_an_unknown_subject_is_404(api, seeded):
    assert_webex_error(api.get(f"{USAGE}/explain?{_period()}&sku=X&userId=nobody"), 404)


@pytest.mark.parametrize("scopes", [(READ_SCOPE,), (WRITE_SCOPE,)])
def test_read_or_write_scope_reads(api, seeded, tokens, scopes):
    token = tokens.mint(scopes=scopes)
    assert api.get(f"{USAGE}?{_period(groupBy='sku')}", token=token).status == 200
    assert api.get(f"{USAGE}/availability", token=token).status == 200


def test_no_scope_is_403_and_no_token_401(api, seeded, tokens):
    assert_webex_error(api.get(f"{USAGE}/availability", token=tokens.mint(scopes=("spark:people_read",))), 403)
    assert_webex_error(api.get(f"{USAGE}?{_period(groupBy='sku')}", token=""), 401)


def test_link_carries_the_query(api, seeded):
    response = api.get(f"{USAGE}?{_period(groupBy='customer', internal='true')}&max=2")
    link = response.header("Link")
    assert link and link.endswith('rel="next"')
    query = parse_qs(urlparse(link.split(";")[0].strip("<> ")).query)
    assert query["offset"] == ["2"] and query["internal"] == ["true"] and query["groupBy"] == ["customer"]
