"""The reports API end to end through the HTTP layer (authorizer, routes, worker, S3)."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest

from chalicelib.domain.access import READ_SCOPE
from chalicelib.domain.report_ids import is_report_id, new_report_id
from chalicelib.domain.report_rows import columns_for
from chalicelib.domain.reports import ReportType
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, DEMO_SUB_PARTNER, OTHER_PARTNER
from tests.conftest import TODAY, unpublish_day
from tests.e2e.conftest import ApiClient
from tests.readers import object_exists, object_text

BASE = "/v1/wholesale/billing/reports"
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()
MONTH_AGO = (TODAY - timedelta(days=30)).isoformat()


def period(**extra):
    return {"billingStartDate": MONTH_AGO, "billingEndDate": YESTERDAY, **extra}


def assert_webex_error(response, status):
    assert response.status == status, response.body
    body = response.json()
    assert set(body) == {"message", "errors", "trackingId"}
    assert body["message"] and all(error["description"] for error in body["errors"])
    assert body["trackingId"] == response.header("TrackingID")
    return body


def follow_list(api, url: str) -> tuple[list[str], list[str]]:
    """Every id of the list from `url` on, following `Link` rel="next" alone (each carries only a
    cursor); and the cursors seen."""
    seen, cursors = [], []
    while url:
        page = api.get(url)
        assert page.status == 200, page.body
        seen.extend(item["id"] for item in page.json()["items"])
        link = page.header("Link")
        url = None
        if link:
            match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
            assert match
            parsed = urlparse(match.group(1))
            assert set(parse_qs(parsed.query)) == {"cursor"}
            cursors.append(parse_qs(parsed.query)["cursor"][0])
            url = parsed.path + "?" + parsed.query
    return seen, cursors


def test_create_answers_200_with_the_report_in_progress(api, seeded):
    response = api.post(BASE, period(type="USER"))
    assert response.status == 200
    body = response.json()
    assert set(body) == {"id", "billingStartDate", "billingEndDate", "type", "category", "internal"}
    assert body["category"] == "RECONCILIATION"
    assert is_report_id(body["id"]) and body["type"] == "USER" and body["internal"] is False
    # The report exists before the answer is sent.
    assert api.get(f"{BASE}/{body['id']}").json()["status"] in ("IN_PROGRESS", "COMPLETED")


def test_type_defaults_to_partner(api, seeded):
    assert api.post(BASE, period()).json()["type"] == "PARTNER"


def test_report_completes_and_downloads_csv(api, seeded):
    report_id = api.post(BASE, period(type="CUSTOMER")).json()["id"]
    seeded.workflow.join(60)
    detail = api.get(f"{BASE}/{report_id}").json()
    assert detail["status"] == "COMPLETED"
    assert detail["category"] == "RECONCILIATION" and detail["createdBy"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", detail["created"])
    url = detail["tempDownloadURL"]
    query = parse_qs(urlparse(url).query)
    assert query["response-content-disposition"] == [
        f'attachment; filename="wholesale-billing_CUSTOMER_{MONTH_AGO}_{YESTERDAY}.csv"'
    ]
    assert int(query["X-Amz-Expires"][0]) == seeded.settings.download_url_ttl_seconds
    text = object_text(seeded, seeded.report_store.get(DEMO_PARTNER, report_id).s3_key)
    header = next(csv.reader(io.StringIO(text)))
    assert header == list(columns_for(ReportType.CUSTOMER))
    assert detail["rowCount"] == len(text.strip().split("\r\n")) - 1


def test_duplicate_rules(api, seeded):
    first = api.post(BASE, period(type="USER")).json()["id"]
    again = api.post(BASE, period(type="USER"))
    assert again.status == 200 and again.json()["id"] == first  # same report while IN_PROGRESS
    seeded.workflow.join(60)
    conflict = assert_webex_error(api.post(BASE, period(type="USER")), 409)
    assert first in conflict["message"] and "delete" in conflict["message"].lower()
    # A different internal flag or type is another report.
    assert api.post(BASE, period(type="USER", internal=True)).json()["id"] != first
    assert api.delete(f"{BASE}/{first}").status == 204
    assert api.post(BASE, period(type="USER")).json()["id"] != first


def test_failed_report_does_not_block_a_new_one(api, seeded):
    missing = TODAY - timedelta(days=5)
    unpublish_day(seeded, missing)  # a day inside the data whose usage was never published
    old = missing.isoformat()
    object.__setattr__(seeded.generation, "_policy", type(seeded.generation._policy)(0, 250))  # no wait
    first = api.post(BASE, {"billingStartDate": old, "billingEndDate": old}).json()["id"]
    seeded.workflow.join(30)
    failed = api.get(f"{BASE}/{first}").json()
    assert failed["status"] == "FAILED" and isinstance(failed["errors"][0]["code"], int)
    assert failed["errors"][0]["code"] == 1001  # DATA_NOT_AVAILABLE
    assert "tempDownloadURL" not in failed
    second = api.post(BASE, {"billingStartDate": old, "billingEndDate": old})
    assert second.status == 200 and second.json()["id"] != first


def test_in_progress_cap_answers_429_with_retry_after(api, seeded):
    object.__setattr__(seeded.reports, "_policy", type(seeded.reports._policy)(2, 17, 36, 60, 900))
    seeded.workflow.stop_all()  # keep reports IN_PROGRESS: the local runner is stopped
    object.__setattr__(seeded.generation, "_policy", type(seeded.generation._policy)(36, 250))
    far = [(TODAY - timedelta(days=n)).isoformat() for n in (300, 301, 302)]
    for day in far[:2]:
        assert api.post(BASE, {"billingStartDate": day, "billingEndDate": day}).status == 200
    refused = api.post(BASE, {"billingStartDate": far[2], "billingEndDate": far[2]})
    assert_webex_error(refused, 429)
    assert refused.header("Retry-After") == "17"
    assert len(api.get(BASE).json()["items"]) == 2  # nothing written by the refused create


@pytest.mark.parametrize(
    "body, needle",
    [
        ({"billingEndDate": "2026-01-01"}, "billingStartDate is required"),
        (period(billingStartDate="2026-1-5"), "YYYY-MM-DD"),
        (period(billingStartDate="2026-02-30"), "calendar date"),
        (period(billingEndDate=TODAY.isoformat()), "before today"),
        (period(billingEndDate=(TODAY + timedelta(days=400)).isoformat()), "before today"),
        (period(billingStartDate=(TODAY - timedelta(days=5 * 366 + 1)).isoformat()), "5 years"),
        ({"billingStartDate": YESTERDAY, "billingEndDate": MONTH_AGO}, "on or before"),
        (period(type="DAILY"), "type"),
        (period(internal="yes"), "internal"),
        ([1, 2], "JSON object"),
    ],
)
def test_bad_create_bodies_get_400_and_write_nothing(api, seeded, body, needle):
    response = assert_webex_error(api.post(BASE, body), 400)
    assert needle in " ".join([response["message"]] + [e["description"] for e in response["errors"]])
    assert api.get(BASE).json()["items"] == []


def test_non_json_bodies(api, seeded):
    assert_webex_error(api.post(BASE, raw=b"{not json", headers={"content-type": "application/json"}), 400)
    assert_webex_error(api.post(BASE, raw=b"a=b", headers={"content-type": "text/plain"}), 415)
    assert_webex_error(
        api.post(BASE, raw=b"{" + b" " * 20000 + b"}", headers={"content-type": "application/json"}), 413
    )


def test_foreign_sub_partner_is_403(api, seeded):
    assert_webex_error(api.post(BASE, period(subPartnerOrgId=OTHER_PARTNER)), 403)
    assert api.post(BASE, period(subPartnerOrgId=DEMO_SUB_PARTNER)).status == 200


def test_tenant_isolation(api, seeded, tokens):
    mine = api.post(BASE, period()).json()["id"]
    other = ApiClient(tokens.mint(org_id=OTHER_PARTNER))
    assert_webex_error(other.get(f"{BASE}/{mine}"), 404)
    assert_webex_error(other.delete(f"{BASE}/{mine}"), 404)
    assert other.get(BASE).json()["items"] == []
    assert_webex_error(api.get(f"{BASE}/{new_report_id()}"), 404)
    assert api.get(f"{BASE}/{mine}").status == 200


def test_auth_failures(seeded, tokens):
    client = ApiClient()
    assert_webex_error(client.get(BASE), 401)
    assert_webex_error(client.get(BASE, token="not-a-jwt"), 401)
    assert_webex_error(client.get(BASE, token=tokens.mint(ttl_seconds=-120)), 401)
    assert_webex_error(client.get(BASE, token=tokens.mint(audience="someone-else")), 401)
    assert_webex_error(client.get(BASE, token=tokens.mint(issuer="https://evil.example")), 401)
    read_only = tokens.mint(scopes=(READ_SCOPE,))
    assert client.get(BASE, token=read_only).status == 200
    assert_webex_error(client.post(BASE, period(), token=read_only), 403)
    assert_webex_error(client.get(BASE, token=tokens.mint(scopes=())), 403)
    assert_webex_error(client.get(BASE, token=tokens.mint(org_id="not-a-partner")), 403)


def test_tracking_id_is_echoed_or_generated(api, seeded):
    assert api.get(BASE, headers={"TrackingID": "ROUTER_abc-123"}).header("TrackingID") == "ROUTER_abc-123"
    generated = api.get(BASE, headers={"TrackingID": "bad id with spaces"}).header("TrackingID")
    assert re.fullmatch(r"WBR_[0-9a-f-]{36}", generated)


def test_list_filters_sorting_and_paging(api, seeded):
    seeded.workflow.stop_all()
    made = []
    for offset in range(7):
        day = (TODAY - timedelta(days=100 + offset)).isoformat()
        made.append(
            api.post(
                BASE, {"billingStartDate": day, "billingEndDate": day, "type": "USER" if offset % 2 else "CUSTOMER"}
            ).json()
        )
    listing = api.get(BASE).json()["items"]
    assert [item["billingStartDate"] for item in listing] == sorted(m["billingStartDate"] for m in made)
    assert set(listing[0]) == {
        "id",
        "billingStartDate",
        "billingEndDate",
        "type",
        "status",
        "category",
        "created",
        "createdBy",
    }
    users = api.get(BASE + "?type=USER").json()["items"]
    assert {item["type"] for item in users} == {"USER"} and len(users) == 3
    day = made[2]["billingStartDate"]
    exact = api.get(f"{BASE}?billingStartDate={day}T00:00:00.000Z").json()["items"]
    assert [item["id"] for item in exact] == [made[2]["id"]]
    by_id = api.get(BASE + "?sortBy=id").json()["items"]
    assert [item["id"] for item in by_id] == sorted(m["id"] for m in made)
    # Paging: follow Link rel="next" only, with no parameters repeated.
    seen, _ = follow_list(api, BASE + "?max=3&sortBy=billingEndDate")
    assert seen == [m["id"] for m in sorted(made, key=lambda m: (m["billingEndDate"], m["id"]))]


@pytest.mark.parametrize(
    "query",
    [
        "max=0",
        "max=101",
        "max=-1",
        "max=abc",
        "sortBy=name",
        "status=DONE",
        "type=DAILY",
        "billingStartDate=2026-1-5",
        "cursor=abc.def",
        "color=red",
    ],
)
def test_bad_list_queries_get_400(api, seeded, query):
    assert_webex_error(api.get(f"{BASE}?{query}"), 400)


def test_cursor_is_bound_to_partner(api, seeded, tokens):
    seeded.workflow.stop_all()
    for offset in range(3):
        day = (TODAY - timedelta(days=100 + offset)).isoformat()
        api.post(BASE, {"billingStartDate": day, "billingEndDate": day})
    link = api.get(BASE + "?max=1").header("Link")
    cursor = parse_qs(urlparse(link[1 : link.index(">")]).query)["cursor"][0]
    other = ApiClient(tokens.mint(org_id=OTHER_PARTNER))
    assert_webex_error(other.get(f"{BASE}?cursor={cursor}"), 400)
    tampered = cursor[:-2] + ("AA" if cursor[-2:] != "AA" else "BB")
    assert_webex_error(api.get(f"{BASE}?cursor={tampered}"), 400)
    assert_webex_error(api.get(f"{BASE}?cursor={cursor}&max=2"), 400)


def test_delete_removes_file_and_url_dies(api, seeded):
    report_id = api.post(BASE, period(type="USER")).json()["id"]
    seeded.workflow.join(60)
    detail = api.get(f"{BASE}/{report_id}").json()
    key = seeded.report_store.get(DEMO_PARTNER, report_id).s3_key
    assert object_exists(seeded, key)
    assert api.delete(f"{BASE}/{report_id}").status == 204
    assert not object_exists(seeded, key)
    assert_webex_error(api.get(f"{BASE}/{report_id}"), 404)
    assert_webex_error(api.delete(f"{BASE}/{report_id}"), 404)
    assert detail["tempDownloadURL"]


def test_ids_that_are_not_report_ids_get_404(api, seeded):
    assert assert_webex_error(api.get(f"{BASE}/not-an-id"), 404)["message"] == "Billing Report not found"
    assert_webex_error(api.delete(f"{BASE}/not-an-id"), 404)


def test_unknown_route_and_method_use_the_webex_shape(api, seeded):
    assert_webex_error(api.get("/v1/wholesale/billing/nothing"), 403)
    assert_webex_error(api.request("PUT", BASE), 405)


def test_report_created_by_and_created_are_from_the_token(api, seeded):
    report_id = api.post(BASE, period()).json()["id"]
    detail = api.get(f"{BASE}/{report_id}").json()
    created = datetime.fromisoformat(detail["created"].replace("Z", "+00:00"))
    assert abs((datetime.now(created.tzinfo) - created).total_seconds()) < 60
    assert detail["createdBy"] == DEMO_ADMIN


def test_deeply_nested_json_body_is_a_400_not_a_500(api, seeded):
    body = assert_webex_error(api.post(BASE, raw=b"[" * 5000, headers={"content-type": "application/json"}), 400)
    assert "JSON" in body["message"]
