"""`GET /v1/wholesale/subPartners` through HTTP (ARCHITECTURE.md §2.7): the caller's direct and
nested sub-partners as Webex's `SubPartner`, from PARTNER_UPSERTED events; offset paging with a
`Link` on the public URL; read scope; another tree never; bad input a 400 that changes nothing."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE
from chalicelib.local.demo import DEMO_PARTNER, DEMO_SUB_PARTNER, OTHER_PARTNER, demo_world
from tests.conftest import TODAY
from tests.e2e.conftest import ApiClient
from tests.e2e.test_reports_api import assert_webex_error

PATH = "/v1/wholesale/subPartners"
STAMP = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3600))
ISO_MILLIS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def _upsert(container, number: int, org_id: str, parent: str, **facts) -> None:
    event = {
        "eventId": f"sp-{org_id}-{number}",
        "eventType": "PARTNER_UPSERTED",
        "occurredAt": STAMP,
        "partnerOrgId": org_id,
        "name": f"Partner {org_id}",
        "parentPartnerOrgId": parent,
        **facts,
    }
    summary = container.ingestion.ingest_lines([json.dumps(event)], source="test")
    assert not summary.rejected, summary.rejected


@pytest.fixture
def tree(seeded):
    """Demo tree plus: East → East-North (suspended) → East-North-1; Acme → Acme-West (no facts);
    Globex → Globex-Sub."""
    _upsert(
        seeded,
        1,
        "east-north",
        DEMO_SUB_PARTNER,
        subscriptionId="Sub-EN-1",
        provisioningState="suspended",
        created="2025-03-01T10:00:00.123Z",
        billingStartDate="2025-03-05T00:00:00Z",
    )
    _upsert(seeded, 1, "east-north-1", "east-north", subscriptionId="Sub-EN1-1", created="2025-04-01T00:00:00Z")
    _upsert(seeded, 1, "acme-west", DEMO_PARTNER)
    _upsert(seeded, 1, "globex-sub", OTHER_PARTNER, created="2024-01-01T00:00:00Z")
    return seeded


def _ids(response) -> list[str]:
    assert response.status == 200, response.body
    return [item["orgId"] for item in response.json()["items"]]


def test_direct_and_nested_sub_partners_as_webex_lists_them(api, tree):
    response = api.get(PATH)
    assert response.status == 200 and response.header("Content-Type") == "application/json"
    items = {item["orgId"]: item for item in response.json()["items"]}
    assert set(items) == {DEMO_SUB_PARTNER, "east-north", "east-north-1", "acme-west"}  # never itself, never Globex's
    world = demo_world(TODAY, days=2, users=1, workspaces=0)
    east = next(partner for partner in world.partners if partner.org_id == DEMO_SUB_PARTNER)
    assert items[DEMO_SUB_PARTNER] == {
        "orgId": DEMO_SUB_PARTNER,
        "subscriptionId": "Sub-EAST-0001",
        "provisioningState": "active",
        "created": east.created,
        "billingStartDate": east.billing_start_date,
    }
    assert items["east-north"] == {
        "orgId": "east-north",
        "subscriptionId": "Sub-EN-1",
        "provisioningState": "suspended",
        "created": "2025-03-01T10:00:00.123Z",
        "billingStartDate": "2025-03-05T00:00:00.000Z",
    }
    assert items["east-north-1"]["billingStartDate"] == items["east-north-1"]["created"] == "2025-04-01T00:00:00.000Z"
    # a partner whose events stated no facts: active, created when the directory first heard of it
    west = items["acme-west"]
    assert set(west) == {"orgId", "provisioningState", "created", "billingStartDate"}
    assert west["provisioningState"] == "active" and west["created"] == west["billingStartDate"]
    assert west["created"] == STAMP.replace("Z", ".000Z") and ISO_MILLIS.fullmatch(west["created"])
    # oldest first, ties by org id
    order = [(item["created"], item["orgId"]) for item in response.json()["items"]]
    assert order == sorted(order)


def test_a_later_upsert_that_states_nothing_keeps_the_facts(api, tree):
    _upsert(tree, 2, "east-north", DEMO_SUB_PARTNER)  # a rename, say: no facts stated
    (item,) = [item for item in api.get(PATH).json()["items"] if item["orgId"] == "east-north"]
    assert item["provisioningState"] == "suspended" and item["subscriptionId"] == "Sub-EN-1"
    assert item["created"] == "2025-03-01T10:00:00.123Z"
    _upsert(tree, 3, "east-north", DEMO_SUB_PARTNER, provisioningState="active")
    assert "east-north" in _ids(api.get(PATH + "?provisioningState=active"))


def test_provisioning_state_filter(api, tree):
    assert _ids(api.get(PATH + "?provisioningState=suspended")) == ["east-north"]
    assert "east-north" not in _ids(api.get(PATH + "?provisioningState=active"))


def test_a_sub_partners_admin_sees_only_its_subtree_and_another_partner_never_ours(tree, tokens):
    east = ApiClient(tokens.mint(org_id=DEMO_SUB_PARTNER))
    assert sorted(_ids(east.get(PATH))) == ["east-north", "east-north-1"]
    assert _ids(ApiClient(tokens.mint(org_id="east-north-1")).get(PATH)) == []
    assert _ids(ApiClient(tokens.mint(org_id=OTHER_PARTNER)).get(PATH)) == ["globex-sub"]
    assert_webex_error(ApiClient(tokens.mint(org_id="not-a-partner")).get(PATH), 403)


def test_read_scope_is_enough_and_needed(tree, tokens):
    assert ApiClient(tokens.mint(scopes=(READ_SCOPE,))).get(PATH).status == 200
    assert ApiClient(tokens.mint(scopes=(WRITE_SCOPE,))).get(PATH).status == 200
    assert_webex_error(ApiClient(tokens.mint(scopes=())).get(PATH), 403)
    assert_webex_error(ApiClient().get(PATH), 401)


def test_offset_paging_with_link_on_the_public_url(api, tree):
    tree.settings = dataclasses.replace(tree.settings, public_base_url="https://wbr.example.com/")
    everything = _ids(api.get(PATH))
    seen, url, links = [], PATH + "?max=3", []
    while url:
        response = api.get(url, headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
        seen.extend(_ids(response))
        link = response.header("Link")
        url = None
        if link:
            match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
            assert match and match.group(1).startswith("https://wbr.example.com" + PATH + "?")
            links.append(match.group(1))
            parts = urlsplit(match.group(1))
            url = parts.path + "?" + parts.query
    assert seen == everything and len(links) == 1
    assert parse_qs(urlsplit(links[0]).query) == {"offset": ["3"], "max": ["3"]}
    suspended_link = api.get(PATH + "?provisioningState=active&max=1").header("Link")
    assert parse_qs(urlsplit(suspended_link[1:-13]).query)["provisioningState"] == ["active"]
    assert _ids(api.get(PATH + "?offset=100")) == [] and api.get(PATH + "?offset=100").header("Link") is None


@pytest.mark.parametrize(
    "query",
    [
        "provisioningState=ACTIVE",
        "provisioningState=",
        "provisioningState=deleted",
        "offset=-1",
        "offset=abc",
        "offset=1000001",
        "max=0",
        "max=101",
        "max=ten",
        "orgId=x",
        "max=1&max=2x",
    ],
)
def test_bad_input_is_a_webex_400_and_changes_nothing(api, tree, query):
    before = api.get(PATH).body
    body = assert_webex_error(api.get(f"{PATH}?{query}"), 400)
    name = query.split("=")[0]
    assert name in body["message"] or name in json.dumps(body["errors"])
    assert api.get(PATH).body == before
