"""Schedules (standing monthly reports, DESIGN §13) end to end through the HTTP API (the local API
Gateway emulation, in process): create, list with `Link` pages, get, delete; write scope to
change, read to see; another partner's schedule is the unknown one's 404; every bad input a 4xx
in the Webex shape with nothing written. Every response is held to the OpenAPI document, and
every status it documents for these operations is produced."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from chalicelib.bootstrap import Container
from chalicelib.domain.access import READ_SCOPE
from chalicelib.domain.schedules import MAX_SCHEDULES_PER_PARTNER, new_schedule_id
from chalicelib.local.demo import DEMO_SUB_PARTNER, OTHER_PARTNER
from chalicelib.services.schedules import ScheduleService
from tests.conftest import TODAY, ApiClient, Tokens
from tests.e2e.test_openapi_contract import Contract

BASE = "/v1/wholesale/billing/schedules"
ITEM = BASE + "/{id}"
MONTH = f"{TODAY.year:04d}-{TODAY.month:02d}"


@pytest.fixture
def contract() -> Contract:
    return Contract()


def _is_webex_error(body: dict[str, Any]) -> bool:
    return (
        set(body) == {"message", "errors", "trackingId"}
        and all(set(error) == {"description"} for error in body["errors"])
        and bool(body["errors"])
    )


def _ids(api: ApiClient) -> list[str]:
    return [item["id"] for item in api.get(BASE).json()["items"]]


def _explode(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom: internal detail that must not leak")

    monkeypatch.setattr(ScheduleService, name, boom)


def test_crud_with_pages(api: ApiClient, seeded: Container, tokens: Tokens, contract: Contract, monkeypatch) -> None:
    body = {
        "type": "USER",
        "format": "csv.gz",
        "internal": True,
        "subPartnerOrgId": DEMO_SUB_PARTNER,
        "firstMonth": MONTH,
        "s3Bucket": "acme-billing-exports",
        "s3Prefix": "wbr/monthly",
        "unknownField": "ignored",
    }
    created = contract.check("POST", BASE, api.post(BASE, body))
    assert created.status == 200, created.body
    schedule = created.json()
    assert created.header("Location") == f"{BASE}/{schedule['id']}"
    assert {key: schedule[key] for key in body if key != "unknownField"} == {
        key: value for key, value in body.items() if key != "unknownField"
    }
    assert schedule["delivery"] == {"events": ["report.scheduled"]} and "unknownField" not in schedule
    assert contract.check("GET", ITEM, api.get(f"{BASE}/{schedule['id']}")).json() == schedule

    others = [
        contract.check("POST", BASE, api.post(BASE, {"type": kind})).json()["id"] for kind in ("CUSTOMER", "PARTNER")
    ]
    # Pages of one, in id order, each `Link` carrying a signed cursor.
    seen, url = [], f"{BASE}?max=1"
    while url:
        page = contract.check("GET", BASE, api.get(url))
        assert page.status == 200
        seen += [item["id"] for item in page.json()["items"]]
        link = page.header("Link")
        url = None
        if link:
            target = urlparse(link[1 : link.index(">")])
            assert target.path == BASE and set(parse_qs(target.query)) == {"cursor"}
            url = f"{BASE}?{target.query}"
    assert seen == sorted([schedule["id"], *others]) == _ids(api)
    cursor = parse_qs(urlparse(api.get(f"{BASE}?max=1").header("Link")[1:-13]).query)["cursor"][0]
    tampered = contract.check("GET", BASE, api.get(f"{BASE}?cursor={cursor[:-2]}AA"))
    assert tampered.status == 400 and _is_webex_error(tampered.json())
    for bad in ("max=0", "max=101", "max=x", "sortBy=id"):
        answer = contract.check("GET", BASE, api.get(f"{BASE}?{bad}"))
        assert answer.status == 400 and _is_webex_error(answer.json()), bad

    assert contract.check("DELETE", ITEM, api.delete(f"{BASE}/{schedule['id']}")).status == 204
    assert contract.check("GET", ITEM, api.get(f"{BASE}/{schedule['id']}")).status == 404
    assert contract.check("DELETE", ITEM, api.delete(f"{BASE}/{schedule['id']}")).status == 404
    assert _ids(api) == sorted(others)

    assert contract.check("GET", BASE, api.get(BASE, token="")).status == 401
    assert contract.check("GET", BASE, api.get(BASE, token=tokens.mint(scopes=("spark:people_read",)))).status == 403
    for name, method, path in (("list", "GET", BASE), ("get", "GET", ITEM), ("delete", "DELETE", ITEM)):
        _explode(monkeypatch, name)
        failed = contract.check(method, path, api.request(method, path.replace("{id}", others[0])))
        assert failed.status == 500 and "boom" not in failed.body.decode()
    contract.assert_all_seen("GET", BASE)


def test_scopes_and_tenancy(api: ApiClient, seeded: Container, tokens: Tokens, contract: Contract, monkeypatch) -> None:
    mine = api.post(BASE, {"type": "CUSTOMER"}).json()["id"]
    reader = ApiClient(tokens.mint(scopes=(READ_SCOPE,)))
    theirs = ApiClient(tokens.mint(org_id=OTHER_PARTNER))
    # Read scope sees, never changes.
    assert contract.check("GET", BASE, reader.get(BASE)).json()["items"][0]["id"] == mine
    assert contract.check("GET", ITEM, reader.get(f"{BASE}/{mine}")).status == 200
    for response in (
        contract.check("POST", BASE, reader.post(BASE, {"type": "USER"})),
        contract.check("DELETE", ITEM, reader.delete(f"{BASE}/{mine}")),
    ):
        assert response.status == 403 and _is_webex_error(response.json())
    # Another partner's id answers exactly as an unknown or malformed one.
    unknown = api.get(f"{BASE}/{new_schedule_id()}").json()
    for client, method, schedule_id in (
        (theirs, "GET", mine),
        (theirs, "DELETE", mine),
        (api, "GET", new_schedule_id()),
        (api, "GET", "not-an-id"),
        (api, "DELETE", "Y2lzY29zcGFyazovL3VzL0JJTExJTkdfU0NIRURVTEUvbm9wZQ"),
    ):
        answer = contract.check(method, ITEM, client.request(method, f"{BASE}/{schedule_id}"))
        assert answer.status == 404
        assert {k: v for k, v in answer.json().items() if k != "trackingId"} == {
            k: v for k, v in unknown.items() if k != "trackingId"
        }
    assert contract.check("GET", BASE, theirs.get(BASE)).json() == {"items": []}
    assert _ids(api) == [mine]
    no_scope = tokens.mint(scopes=("spark:people_read",))
    spare = api.post(BASE, {"type": "USER"}).json()["id"]
    assert contract.check("DELETE", ITEM, api.delete(f"{BASE}/{spare}")).status == 204
    for method in ("GET", "DELETE"):
        assert contract.check(method, ITEM, api.request(method, f"{BASE}/{mine}", token="")).status == 401
        assert contract.check(method, ITEM, api.request(method, f"{BASE}/{mine}", token=no_scope)).status == 403
        _explode(monkeypatch, method.lower())
        failed = contract.check(method, ITEM, api.request(method, f"{BASE}/{mine}"))
        assert failed.status == 500 and "boom" not in failed.body.decode()
        contract.assert_all_seen(method, ITEM)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"type": "WEEKLY"}, 400, "type"),
        ({"format": "xlsx"}, 400, "format"),
        ({"internal": "yes"}, 400, "internal"),
        ({"columns": "QUANTITY"}, 400, "columns"),
        ({"customerOrgIds": [1, 2]}, 400, "customerOrgIds"),
        ({"category": "POINT_IN_TIME", "type": "USER"}, 400, "category"),
        ({"firstMonth": "2026-13"}, 400, "firstMonth"),
        ({"firstMonth": "2001-01"}, 400, "firstMonth"),
        ({"s3Bucket": "Not_A_Bucket"}, 400, "s3Bucket"),
        ({"s3Bucket": "wbr-reports"}, 400, "s3Bucket"),
        ({"s3Bucket": "wbr-lake", "s3Prefix": "usage/"}, 400, "s3Bucket"),
        ({"s3Bucket": "acme-exports", "s3Prefix": "a/../b"}, 400, "s3Prefix"),
        ({"s3Bucket": "acme-exports", "s3Prefix": "/abs"}, 400, "s3Prefix"),
        ({"s3Bucket": "acme-exports", "s3Prefix": f"exports/{OTHER_PARTNER}/"}, 400, "s3Prefix"),
        ({"s3Prefix": "no-bucket/"}, 400, "s3Prefix"),
        ({"subPartnerOrgId": OTHER_PARTNER}, 403, "subPartnerOrgId"),
        ({"columns": ["NOT_A_COLUMN"]}, 400, "columns"),
        ({"customerOrgIds": ["someone-elses-customer"]}, 403, "customerOrgIds"),
    ],
)
def test_bad_input_is_a_named_4xx_and_writes_nothing(api, seeded, contract, body, status, says) -> None:
    answer = contract.check("POST", BASE, api.post(BASE, body))
    assert answer.status == status, answer.body
    error = answer.json()
    assert _is_webex_error(error) and any(says in e["description"] for e in error["errors"]), error
    assert _ids(api) == []


def test_create_edges(api: ApiClient, seeded: Container, contract: Contract, monkeypatch) -> None:
    for raw, headers, status in (
        (b"{not json", {"content-type": "application/json"}, 400),
        (b"[1]", {"content-type": "application/json"}, 400),
        (b"type=USER", {"content-type": "application/x-www-form-urlencoded"}, 415),
        (b'{"type": "' + b"x" * 20_000 + b'"}', {"content-type": "application/json"}, 413),
    ):
        answer = contract.check("POST", BASE, api.request("POST", BASE, raw=raw, headers=headers))
        assert answer.status == status and _is_webex_error(answer.json())
    assert contract.check("POST", BASE, api.post(BASE, {}, token="")).status == 401
    for _ in range(MAX_SCHEDULES_PER_PARTNER):
        assert contract.check("POST", BASE, api.post(BASE, {})).status == 200
    capped = contract.check("POST", BASE, api.post(BASE, {"type": "USER"}))
    assert capped.status == 409 and f"{MAX_SCHEDULES_PER_PARTNER} schedules" in capped.json()["message"]
    assert contract.check("POST", BASE, api.post(BASE, {"subPartnerOrgId": OTHER_PARTNER})).status == 403
    assert contract.check("POST", BASE, api.post(BASE, {"type": "NOPE"})).status == 400
    _explode(monkeypatch, "create")
    failed = contract.check("POST", BASE, api.post(BASE, {}))
    assert failed.status == 500 and "boom" not in failed.body.decode()
    contract.assert_all_seen("POST", BASE)
