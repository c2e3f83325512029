"""Hand-written bad input (OWASP API Top 10: API4 unrestricted resource consumption, API8 security
misconfiguration, API10 unsafe input): each gets its own 4xx, a message naming what is wrong, the
Webex error shape, and writes nothing (ARCHITECTURE.md §2: "Never a 500 for bad input")."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlparse

import pytest

from chalicelib.domain.periods import years_before
from chalicelib.domain.report_ids import new_report_id
from chalicelib.local.demo import DEMO_PARTNER, OTHER_PARTNER, webex_id
from tests.conftest import TODAY, ApiClient, Tokens
from tests.security.conftest import BASE, SecurityStack, assert_webex_error, error_text

YESTERDAY = (TODAY - timedelta(days=1)).isoformat()
MONTH_AGO = (TODAY - timedelta(days=30)).isoformat()
MAX_BODY_BYTES = 16 * 1024
EARLIEST = years_before(TODAY, 5)


@pytest.fixture
def client(stack: SecurityStack, tokens: Tokens) -> ApiClient:
    return ApiClient(tokens.mint())


def period(**fields: Any) -> dict[str, Any]:
    return {"billingStartDate": MONTH_AGO, "billingEndDate": YESTERDAY, **fields}


def padded_json(size: int) -> bytes:
    """A valid create body of exactly `size` bytes (an unknown field carries the padding)."""
    body = json.dumps(period(padding="")).encode()
    return json.dumps(period(padding="x" * (size - len(body)))).encode()


JSON = {"content-type": "application/json"}

# (raw body, headers, status, text the message or an error description must contain)
BAD_BODIES = {
    "not JSON": (b"{billingStartDate: 2026-01-01", JSON, 400, "The request body is not valid JSON"),
    "truncated JSON": (json.dumps(period()).encode()[:-1], JSON, 400, "The request body is not valid JSON"),
    "not UTF-8": (b'{"billingStartDate": "\xff\xfe"}', JSON, 400, "The request body is not valid JSON"),
    "deeply nested": (b"[" * 16_000, JSON, 400, "The request body is not valid JSON"),
    "empty body": (b"", JSON, 400, "The request body must be a JSON object"),
    "JSON null": (b"null", JSON, 400, "The request body must be a JSON object"),
    "JSON array": (json.dumps([period()]).encode(), JSON, 400, "The request body must be a JSON object"),
    "JSON string": (b'"PARTNER"', JSON, 400, "The request body must be a JSON object"),
    "text/plain": (json.dumps(period()).encode(), {"content-type": "text/plain"}, 415, "text/plain"),
    "form encoded": (b"billingStartDate=2026-01-01", {"content-type": "application/x-www-form-urlencoded"}, 415,
                     "application/x-www-form-urlencoded"),
    "XML": (b"<report/>", {"content-type": "application/xml"}, 415, "application/xml"),
    "multipart": (b"--x\r\n\r\n--x--", {"content-type": "multipart/form-data; boundary=x"}, 415, "multipart"),
    "body over 16 KiB": (padded_json(MAX_BODY_BYTES + 1), JSON, 413,
                         f"The request body must be at most {MAX_BODY_BYTES} bytes"),
    "1 MiB body": (b"{" + b" " * (1 << 20) + b"}", JSON, 413, f"at most {MAX_BODY_BYTES} bytes"),
}


@pytest.mark.parametrize("name", BAD_BODIES)
def test_bad_bodies(stack: SecurityStack, client: ApiClient, name: str) -> None:
    raw, headers, status, needle = BAD_BODIES[name]
    before = stack.footprint()
    body = assert_webex_error(client.post(BASE, raw=raw, headers=headers), status)
    assert needle in error_text(body), body
    assert stack.footprint() == before


def test_a_body_of_exactly_16_kib_is_accepted(stack: SecurityStack, client: ApiClient) -> None:
    raw = padded_json(MAX_BODY_BYTES)
    assert len(raw) == MAX_BODY_BYTES
    response = client.post(BASE, raw=raw, headers=JSON)
    assert response.status == 200, response.body


def _year_after(day: str) -> str:
    return (TODAY + timedelta(days=365)).isoformat()


# (body, text the message or an error description must contain); each is a 400.
BAD_FIELDS = {
    "start missing": ({"billingEndDate": YESTERDAY}, "billingStartDate is required"),
    "end null": (period(billingEndDate=None), "billingEndDate is required"),
    "start a number": (period(billingStartDate=20260101), "billingStartDate: expected YYYY-MM-DD, got 20260101"),
    "start a list": (period(billingStartDate=[MONTH_AGO]), "billingStartDate: expected YYYY-MM-DD"),
    "start an object": (period(billingStartDate={"date": MONTH_AGO}), "billingStartDate: expected YYYY-MM-DD"),
    "start true": (period(billingStartDate=True), "billingStartDate: expected YYYY-MM-DD, got True"),
    "30 February": (period(billingStartDate="2026-02-30"), "billingStartDate: '2026-02-30' is not a calendar date"),
    "month 13": (period(billingStartDate="2026-13-01"), "billingStartDate: '2026-13-01' is not a calendar date"),
    "no zero padding": (period(billingStartDate="2026-1-5"), "billingStartDate: expected YYYY-MM-DD, got '2026-1-5'"),
    "datetime in a create": (period(billingStartDate=MONTH_AGO + "T00:00:00Z"), "billingStartDate: expected YYYY-MM-DD"),
    "slashes": (period(billingEndDate=YESTERDAY.replace("-", "/")), "billingEndDate: expected YYYY-MM-DD"),
    "compact": (period(billingEndDate=YESTERDAY.replace("-", "")), "billingEndDate: expected YYYY-MM-DD"),
    "space padded": (period(billingEndDate=f" {YESTERDAY}"), "billingEndDate: expected YYYY-MM-DD"),
    "trailing newline": (period(billingEndDate=f"{YESTERDAY}\n"), "billingEndDate: "),
    "non-ASCII digits": (period(billingEndDate="\u0662\u0660\u0662\u0666-01-05"), "billingEndDate: "),
    "year 0": (period(billingStartDate="0000-01-01"), "billingStartDate: '0000-01-01' is not a calendar date"),
    "end today": (period(billingEndDate=TODAY.isoformat()),
                  f"billingEndDate must be before today ({TODAY.isoformat()} UTC)"),
    "end tomorrow": (period(billingEndDate=(TODAY + timedelta(days=1)).isoformat()), "billingEndDate must be before today"),
    "far future": ({"billingStartDate": "9999-12-01", "billingEndDate": "9999-12-31"},
                   "billingEndDate must be before today"),
    "period not over (month to date)": (period(billingStartDate=TODAY.replace(day=1).isoformat(),
                                               billingEndDate=TODAY.isoformat()),
                                        "the current day and future days have no usage yet"),
    "start after end": ({"billingStartDate": YESTERDAY, "billingEndDate": MONTH_AGO},
                        "billingStartDate must be on or before billingEndDate"),
    "more than 5 years ago": (period(billingStartDate=(EARLIEST - timedelta(days=1)).isoformat()),
                              f"billingStartDate must be on or after {EARLIEST.isoformat()} (at most 5 years back)"),
    "year 1900": ({"billingStartDate": "1900-01-01", "billingEndDate": "1900-01-31"},
                  "billingStartDate must be on or after"),
    "unknown type": (period(type="DAILY"), "type: 'DAILY' is not one of PARTNER, CUSTOMER, USER"),
    "type lower case": (period(type="user"), "type: 'user' is not one of PARTNER, CUSTOMER, USER"),
    "type a number": (period(type=1), "type: 1 is not one of PARTNER, CUSTOMER, USER"),
    "type a list": (period(type=["USER"]), "type: ['USER'] is not one of PARTNER, CUSTOMER, USER"),
    "internal a string": (period(internal="true"), "internal must be true or false, got 'true'"),
    "internal a number": (period(internal=1), "internal must be true or false, got 1"),
    "subPartnerOrgId a number": (period(subPartnerOrgId=7), "subPartnerOrgId must be a non-empty org id string"),
    "subPartnerOrgId blank": (period(subPartnerOrgId="  "), "subPartnerOrgId must be a non-empty org id string"),
    "subPartnerOrgId huge": (period(subPartnerOrgId="x" * 5000), "subPartnerOrgId must be a non-empty org id string"),
    # the create extensions (DESIGN §3)
    "customerOrgIds empty": (period(customerOrgIds=[]), "customerOrgIds must name at least one customer"),
    "customerOrgIds a string": (period(customerOrgIds="c1"), "customerOrgIds must be a list of customer org ids"),
    "customerOrgIds an object": (period(customerOrgIds={"c1": True}), "customerOrgIds must be a list"),
    "customerOrgIds a number inside": (period(customerOrgIds=[7]), "customerOrgIds: 7 is not a non-empty org id"),
    "customerOrgIds null inside": (period(customerOrgIds=[None]), "customerOrgIds: null is not a non-empty org id"),
    "customerOrgIds blank": (period(customerOrgIds=["\t "]), "is not a non-empty org id string"),
    "customerOrgIds huge id": (period(customerOrgIds=["x" * 5000]), "is not a non-empty org id string"),
    "customerOrgIds too many": (period(customerOrgIds=[f"c{n}" for n in range(101)]), "at most 100"),
    "customerOrgIds nested lists": (period(customerOrgIds=[["c1"]]), "is not a non-empty org id string"),
    "columns empty": (period(columns=[]), "columns must name the file's columns"),
    "columns a string": (period(columns="QUANTITY"), "columns must be a list of column names"),
    "columns a number inside": (period(columns=["QUANTITY", 1]), "columns must be a list of column names"),
    "columns huge": (period(columns=["QUANTITY"] * 1000), "columns must be a list of column names"),
    "columns unknown": (period(columns=["QUANTITY", "=cmd|' /C calc'!A0"]), "unknown column =cmd|"),
    "columns lower case": (period(columns=["quantity"]), "unknown column quantity"),
    "columns of another type": (period(columns=["LOCATION_NAME"]), "a PARTNER report has no column LOCATION_NAME"),
    "columns repeated": (period(columns=["QUANTITY", "QUANTITY"]), "columns: QUANTITY is named twice"),
    "columns leave Webex's out": (period(columns=["QUANTITY"]), "keeps Webex's columns; missing PARTNER_NAME"),
    "seats of a snapshot": ({"category": "POINT_IN_TIME", "type": "USER", "columns": ["SEAT_EQUIVALENTS"]},
                            "a POINT_IN_TIME USER report has no column SEAT_EQUIVALENTS"),
}


@pytest.mark.parametrize("name", BAD_FIELDS)
def test_bad_create_fields(stack: SecurityStack, client: ApiClient, name: str) -> None:
    body, needle = BAD_FIELDS[name]
    before = stack.footprint()
    error = assert_webex_error(client.post(BASE, body), 400)
    assert needle in error_text(error), error
    assert stack.footprint() == before


def test_every_problem_of_a_create_is_named(stack: SecurityStack, client: ApiClient) -> None:
    error = assert_webex_error(client.post(BASE, {"billingStartDate": "2026-1-5", "type": "DAILY", "internal": "no"}),
                               400)
    descriptions = " | ".join(item["description"] for item in error["errors"])
    for needle in ("billingStartDate: expected YYYY-MM-DD", "billingEndDate is required", "type: 'DAILY'",
                   "internal must be true or false"):
        assert needle in descriptions


def test_customers_of_another_partner_are_403_and_write_nothing(stack: SecurityStack, client: ApiClient) -> None:
    """Another partner's customer, an unknown id, a customer outside the sub-partner's subtree:
    the same 403, which neither says which nor whose it is."""
    others = stack.container.directory.customers_of([OTHER_PARTNER])
    assert others
    before = stack.footprint()
    for ids in ([others[0].org_id], ["no-such-customer"], [webex_id("ORGANIZATION", "nobody")]):
        error = assert_webex_error(client.post(BASE, period(type="CUSTOMER", customerOrgIds=ids)), 403)
        assert "customerOrgIds" in error_text(error) and OTHER_PARTNER not in error_text(error)
    assert stack.footprint() == before


def test_the_five_year_boundary_and_yesterday_are_accepted(stack: SecurityStack, client: ApiClient) -> None:
    response = client.post(BASE, {"billingStartDate": EARLIEST.isoformat(), "billingEndDate": YESTERDAY,
                                  "type": "USER", "unknownField": {"ignored": True}})
    assert response.status == 200, response.body


# (query string, text the message or an error description must contain); each is a 400.
BAD_QUERIES = {
    "max=0": ("max=0", "max: expected an integer from 1 to 100, got '0'"),
    "max=101": ("max=101", "max: expected an integer from 1 to 100, got '101'"),
    "max=-1": ("max=-1", "max: expected an integer from 1 to 100, got '-1'"),
    "max=abc": ("max=abc", "max: expected an integer from 1 to 100, got 'abc'"),
    "max=1.5": ("max=1.5", "max: expected an integer from 1 to 100, got '1.5'"),
    "max=huge": ("max=" + "9" * 400, "max: expected an integer from 1 to 100"),
    "max non-ASCII digit": ("max=" + quote("\u0665"), "max: expected an integer from 1 to 100"),
    "unknown sortBy": ("sortBy=name", "sortBy: 'name' is not one of id, billingStartDate, billingEndDate, status"),
    "unknown status": ("status=DONE", "status: 'DONE' is not one of IN_PROGRESS, COMPLETED, FAILED"),
    "unknown type": ("type=DAILY", "type: 'DAILY' is not one of PARTNER, CUSTOMER, USER"),
    "30 February": ("billingStartDate=2026-02-30", "billingStartDate: '2026-02-30' is not a calendar date"),
    "no zero padding": ("billingEndDate=2026-1-5", "billingEndDate: expected YYYY-MM-DD, got '2026-1-5'"),
    "datetime not UTC": ("billingStartDate=" + quote("2026-01-05T00:00:00+02:00"),
                         "billingStartDate: expected YYYY-MM-DD"),
    "datetime 25 o'clock": ("billingStartDate=" + quote("2026-01-05T25:00:00.000Z"),
                            "billingStartDate: '2026-01-05T25:00:00.000Z' is not a valid datetime"),
    "blank subPartnerOrgId": ("subPartnerOrgId=%20", "subPartnerOrgId must be a non-empty org id"),
    "unknown parameter": ("color=red", "Unknown query parameter color"),
    "several problems": ("max=0&sortBy=name", "max: expected an integer"),
    "unknown order": ("order=newest", "order: 'newest' is not one of asc, desc"),
    "order in capitals": ("order=DESC", "order: 'DESC' is not one of asc, desc"),
    "empty order": ("order=", "order: '' is not one of asc, desc"),
    "sortBy created in capitals": ("sortBy=Created", "sortBy: 'Created' is not one of"),
}


@pytest.mark.parametrize("name", BAD_QUERIES)
def test_bad_list_queries(stack: SecurityStack, client: ApiClient, name: str) -> None:
    query, needle = BAD_QUERIES[name]
    error = assert_webex_error(client.get(f"{BASE}?{query}"), 400)
    assert needle in error_text(error), error


SUB_PARTNERS = "/v1/wholesale/subPartners"
BAD_SUB_PARTNER_QUERIES = {
    "unknown state": ("provisioningState=deleted", "provisioningState: 'deleted' is not one of active, suspended"),
    "state in capitals": ("provisioningState=ACTIVE", "provisioningState: 'ACTIVE' is not one of active, suspended"),
    "empty state": ("provisioningState=", "provisioningState: '' is not one of active, suspended"),
    "negative offset": ("offset=-1", "offset: expected an integer from 0 to 1000000, got '-1'"),
    "offset not a number": ("offset=ten", "offset: expected an integer from 0 to 1000000, got 'ten'"),
    "huge offset": ("offset=" + "9" * 400, "offset: expected an integer from 0 to 1000000"),
    "offset non-ASCII digit": ("offset=" + quote("\u0665"), "offset: expected an integer from 0 to 1000000"),
    "max=0": ("max=0", "max: expected an integer from 1 to 100, got '0'"),
    "max=101": ("max=101", "max: expected an integer from 1 to 100, got '101'"),
    "a reports filter": ("subPartnerOrgId=x", "Unknown query parameter subPartnerOrgId"),
    "a cursor": ("cursor=abc.def", "Unknown query parameter cursor"),
    "several problems": ("offset=-1&max=0", "offset: expected an integer"),
}


@pytest.mark.parametrize("name", BAD_SUB_PARTNER_QUERIES)
def test_bad_sub_partner_queries(stack: SecurityStack, client: ApiClient, name: str) -> None:
    query, needle = BAD_SUB_PARTNER_QUERIES[name]
    before = stack.footprint()
    error = assert_webex_error(client.get(f"{SUB_PARTNERS}?{query}"), 400)
    assert needle in error_text(error), error
    assert stack.footprint() == before


@pytest.fixture
def issued_cursor(stack: SecurityStack, client: ApiClient) -> str:
    """A genuine next-page cursor of the demo partner (for ?max=1&sortBy=id)."""
    for _ in range(2):
        stack.standing_report(DEMO_PARTNER, type="CUSTOMER")
        stack.standing_report(DEMO_PARTNER, type="USER")
    response = client.get(BASE + "?max=1&sortBy=id")
    link = response.header("Link")
    assert response.status == 200 and link
    return parse_qs(urlparse(link[1 : link.index(">")]).query)["cursor"][0]


def _flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


def _forge_payload(cursor: str, change: Any) -> str:
    """Re-encode the cursor's payload with a change, keeping the (now wrong) signature."""
    payload, signature = cursor.split(".")
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    change(data)
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "." + signature


TAMPERINGS = {
    "flipped byte in the payload": lambda c: _flip(c, 5),
    "flipped byte in the signature": lambda c: _flip(c, len(c) - 5),
    "truncated": lambda c: c[: len(c) // 2],
    "signature cut off": lambda c: c.split(".")[0],
    "signature empty": lambda c: c.split(".")[0] + ".",
    "extra segment": lambda c: c + ".AAAA",
    "padding added (non-canonical base64)": lambda c: c.split(".")[0] + "==." + c.split(".")[1],
    "garbage base64": lambda c: "!!!$$$.***",
    "not base64 at all": lambda c: "hello world",
    "too long": lambda c: c + "A" * 4096,
    "page size raised": lambda c: _forge_payload(c, lambda d: d["q"].update(max_items=10_000)),
    "another partner's position": lambda c: _forge_payload(c, lambda d: d.update(i=new_report_id())),
    "query filter removed": lambda c: _forge_payload(c, lambda d: d["q"].update(sort_by="status")),
    "order reversed": lambda c: _forge_payload(c, lambda d: d["q"].update(order="desc")),
    "sorted by created instead": lambda c: _forge_payload(c, lambda d: d["q"].update(sort_by="created")),
}


@pytest.mark.parametrize("name", TAMPERINGS)
def test_tampered_cursors(stack: SecurityStack, client: ApiClient, issued_cursor: str, name: str) -> None:
    tampered = TAMPERINGS[name](issued_cursor)
    assert tampered != issued_cursor
    error = assert_webex_error(client.get(f"{BASE}?{urlencode({'cursor': tampered})}"), 400)
    assert error["message"] == "cursor is invalid or was issued for another query"


def test_a_cursor_of_another_partner_is_refused(stack: SecurityStack, tokens: Tokens, issued_cursor: str) -> None:
    other = ApiClient(tokens.mint(org_id=OTHER_PARTNER))
    error = assert_webex_error(other.get(f"{BASE}?{urlencode({'cursor': issued_cursor})}"), 400)
    assert error["message"] == "cursor is invalid or was issued for another query"


BAD_IDS = {
    "plain text": "not-an-id",
    "a person's Webex id": webex_id("PEOPLE", "someone"),
    "an org's Webex id": DEMO_PARTNER,
    "report id with padding": new_report_id() + "==",
    "report id in standard base64": new_report_id().replace("-", "+").replace("_", "/") + "+",
    "billing report URI in clear": quote("ciscospark://us/BILLING_REPORT/0e1f9a7c-6a43-4ff4-9a2e-1c2f5a4c7d11", safe=""),
    "billing report without a UUID": base64.urlsafe_b64encode(b"ciscospark://us/BILLING_REPORT/x").decode().rstrip("="),
    "SQL-ish": quote("' OR '1'='1", safe=""),
    "very long": "Y2lzY29zcGFyazovL3VzL0JJTExJTkdfUkVQT1JU" + "A" * 500,
    "non-ASCII": quote("Y2lzY29zcGFyazovL3VzL0JJTExJTkdfUkVQT1JU\u00e9", safe=""),
}


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_any_id_that_is_not_one_of_the_callers_reports_gets_the_same_404(
    stack: SecurityStack, client: ApiClient, tokens: Tokens, method: str
) -> None:
    """Malformed, unknown or another partner's: byte for byte the same answer (ARCHITECTURE.md §2), so
    an answer never tells a caller which ids exist or what an id looks like."""
    foreign = ApiClient(tokens.mint(org_id=OTHER_PARTNER)).post(BASE, period())
    assert foreign.status == 200, foreign.body
    ids = {**BAD_IDS, "unknown report id": new_report_id(), "another partner's report": foreign.json()["id"]}
    before = stack.footprint()
    bodies = {}
    for name, report_id in ids.items():
        response = client.request(method, f"{BASE}/{report_id}", headers={"TrackingID": "ROUTER_same-1"})
        assert response.status == 404, (name, response.body)
        bodies[name] = response.body
    assert len(set(bodies.values())) == 1, bodies
    assert json.loads(bodies["plain text"]) == {
        "message": "Billing Report not found",
        "errors": [{"description": "Billing Report not found"}],
        "trackingId": "ROUTER_same-1",
    }
    assert stack.footprint() == before


def test_a_sane_tracking_id_is_echoed_and_an_insane_one_replaced(stack: SecurityStack, client: ApiClient) -> None:
    assert client.get(BASE, headers={"TrackingID": "ROUTER_5f1e-42"}).header("TrackingID") == "ROUTER_5f1e-42"
    for insane in ("a b", "x" * 129, "<script>", "ROUTER_1\r\nSet-Cookie: a=b", "ROUTER_\u00e9", ""):
        echoed = client.get(BASE, headers={"TrackingID": insane}).header("TrackingID")
        assert echoed.startswith("WBR_"), repr(insane)


def test_a_tracking_id_ending_in_a_newline_is_replaced_not_echoed(stack: SecurityStack, client: ApiClient) -> None:
    """The header is echoed into the response headers and every log line: a line break in it
    would split a header or forge a log line (Chalice refuses such a header: the answer becomes a
    500). `$` in a Python regex also matches before a final newline; anchor with \\Z or fullmatch."""
    for insane in ("ROUTER_1\n", "WBR_x\n"):
        response = client.get(BASE, headers={"TrackingID": insane})
        assert response.status == 200, (insane, response.status, response.body[:200])
        assert response.header("TrackingID").startswith("WBR_") and "\n" not in response.header("TrackingID")
        error = assert_webex_error(client.get(BASE + "?max=0", headers={"TrackingID": insane}), 400)
        assert "\n" not in error["trackingId"]


# ---- the console's read API (DESIGN §12): every bad query is a named 400 -----------------------

USAGE = "/v1/wholesale/billing/usage"
_DAY = (TODAY - timedelta(days=3)).isoformat()
_PERIOD = f"billingStartDate={_DAY}&billingEndDate={_DAY}"
BAD_USAGE_QUERIES = {
    "no period": ("?groupBy=sku", "billingStartDate: required"),
    "no groupBy": (f"?{_PERIOD}", "groupBy: required"),
    "unknown groupBy": (f"?{_PERIOD}&groupBy=location", "groupBy: expected sku|customer|user, got 'location'"),
    "users without a customer": (f"?{_PERIOD}&groupBy=user", "customerOrgId: required with groupBy=user"),
    "30 February": ("?billingStartDate=2026-02-30&billingEndDate=2026-03-01&groupBy=sku", "is not a calendar date"),
    "end before start": (
        f"?billingStartDate={_DAY}&billingEndDate={(TODAY - timedelta(days=9)).isoformat()}&groupBy=sku",
        "billingStartDate must be on or before billingEndDate",
    ),
    "six years back": (
        f"?billingStartDate={(TODAY - timedelta(days=6 * 366)).isoformat()}&billingEndDate={_DAY}&groupBy=sku",
        "at most 5 years back",
    ),
    "next month and later": (
        f"?billingStartDate={_DAY}&billingEndDate={(TODAY + timedelta(days=62)).isoformat()}&groupBy=sku",
        "billingEndDate must be in the current month or before",
    ),
    "internal not a boolean": (f"?{_PERIOD}&groupBy=sku&internal=1", "internal: expected true or false, got '1'"),
    "max=0": (f"?{_PERIOD}&groupBy=sku&max=0", "max: expected 1-1000, got '0'"),
    "max=1001": (f"?{_PERIOD}&groupBy=sku&max=1001", "max: expected 1-1000"),
    "max non-ASCII digit": (f"?{_PERIOD}&groupBy=sku&max=" + quote("\u0665"), "max: expected 1-1000"),
    "negative offset": (f"?{_PERIOD}&groupBy=sku&offset=-5", "offset: expected 0-1000000000"),
    "huge offset": (f"?{_PERIOD}&groupBy=sku&offset=" + "9" * 400, "offset: expected 0-1000000000"),
    "blank customer": (f"?{_PERIOD}&groupBy=sku&customerOrgId=", "customerOrgId: expected an id"),
    "control character in an id": (f"?{_PERIOD}&groupBy=sku&customerOrgId=%0Aa", "customerOrgId: expected an id"),
    "overlong id": (f"?{_PERIOD}&groupBy=sku&subPartnerOrgId=" + "a" * 201, "subPartnerOrgId: expected an id"),
    "unknown parameter": (f"?{_PERIOD}&groupBy=sku&color=red", "color: not a query parameter"),
    "series by user": ("/series?groupBy=user", "groupBy: expected sku|customer, got 'user'"),
    "series of 61 months": ("/series?groupBy=sku&months=61", "months: expected 1-60"),
    "series month 13": ("/series?groupBy=sku&endMonth=2026-13", "endMonth: expected YYYY-MM, got '2026-13'"),
    "series in the future": (
        f"/series?groupBy=sku&endMonth={(TODAY + timedelta(days=40)):%Y-%m}",
        "endMonth must be the current month",
    ),
    "series too far back": ("/series?groupBy=sku&months=60&endMonth=2000-01", "at most 5 years back"),
    "explain without a subject": (f"/explain?{_PERIOD}&sku=X", "userId or workspaceId: exactly one is required"),
    "explain with two subjects": (f"/explain?{_PERIOD}&sku=X&userId=a&workspaceId=b", "exactly one is required"),
    "explain without a sku": (f"/explain?{_PERIOD}&userId=a", "sku: required"),
    "availability with a parameter": ("/availability?since=2026-01-01", "since: not a query parameter"),
}


@pytest.mark.parametrize("name", BAD_USAGE_QUERIES)
def test_bad_usage_queries(stack: SecurityStack, client: ApiClient, name: str) -> None:
    query, needle = BAD_USAGE_QUERIES[name]
    error = assert_webex_error(client.get(f"{USAGE}{query}"), 400)
    assert needle in error_text(error), error


def test_every_problem_of_a_usage_query_is_named(stack: SecurityStack, client: ApiClient) -> None:
    error = assert_webex_error(client.get(f"{USAGE}?groupBy=nope&max=0&internal=maybe&x=1"), 400)
    text = error_text(error)
    for needle in ("x: not a query parameter", "groupBy: expected", "max: expected", "internal: expected",
                   "billingStartDate: required", "billingEndDate: required"):
        assert needle in text, needle
