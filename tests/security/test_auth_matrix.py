"""Who may do what (OWASP API Top 10: API1 broken object-level authorization, API2 broken
authentication, API5 broken function-level authorization), route by route (ARCHITECTURE.md §2).

Every route is driven through the API Gateway emulation (tests/conftest.py ApiClient) with
each credential and each target; the expected status of every cell is stated in a table. A refused
request must leave no trace: the reports table, the reports bucket and the worker are compared
before and after."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.adapters.jwt_tokens import DevKeyPair
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE
from chalicelib.domain.listing import ListQuery
from chalicelib.domain.partners import PartnerTree
from chalicelib.domain.report_ids import new_report_id
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, DEMO_SUB_PARTNER, OTHER_PARTNER
from tests.conftest import TODAY, ApiClient, Tokens
from tests.readers import object_exists
from tests.security.conftest import (
    BASE,
    DEMO_CUSTOMER,
    FOREIGN_SUB_PARTNER,
    SecurityStack,
    assert_webex_error,
    b64url,
    error_text,
)

ROUTES = ("create", "list", "get", "delete", "manifest", "diff", "subpartners")
SUB_PARTNERS = "/v1/wholesale/subPartners"


@pytest.fixture(scope="session")
def foreign_keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeyPair:
    """An attacker's RSA key pair: well-formed tokens that our key never signed."""
    return DevKeyPair(tmp_path_factory.mktemp("foreign-keys")).ensure()


@dataclass
class Forge:
    """Makes every kind of token an attacker could send."""

    tokens: Tokens
    dev_keys: DevKeyPair
    foreign_keys: DevKeyPair

    def claims(self, **overrides: Any) -> dict[str, Any]:
        settings = self.tokens._settings
        now = int(time.time())
        claims = {
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "sub": DEMO_ADMIN,
            "org_id": DEMO_PARTNER,
            "scope": f"{READ_SCOPE} {WRITE_SCOPE}",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def unsigned(self, alg: str) -> str:
        header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        return f"{header}.{b64url(json.dumps(self.claims()).encode())}."

    def hs256_with_public_key(self) -> str:
        """HS/RS confusion: HMAC keyed with our public key PEM, which an attacker knows."""
        signing_input = (
            b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
            + "."
            + b64url(json.dumps(self.claims()).encode())
        )
        signature = hmac.new(self.dev_keys.public_key_pem(), signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + b64url(signature)

    def signed_by_foreign_key(self, **headers: Any) -> str:
        return jwt.encode(self.claims(), self.foreign_keys.private_path.read_bytes(), "RS256", headers=headers or None)

    def with_embedded_jwk(self) -> str:
        """Signed by the attacker, who also ships the key to check it with (CVE-2018-0114 style)."""
        public = serialization.load_pem_public_key(self.foreign_keys.public_key_pem())
        return self.signed_by_foreign_key(jwk=json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public)))

    def es256_foreign(self) -> str:
        return jwt.encode(self.claims(), ec.generate_private_key(ec.SECP256R1()), "ES256")

    def ours(self, **overrides: Any) -> str:
        """Signed with the real dev key, with the claims overridden (None removes one)."""
        return jwt.encode(self.claims(**overrides), self.dev_keys.private_path.read_bytes(), "RS256")


@pytest.fixture
def forge(tokens: Tokens, dev_keys: DevKeyPair, foreign_keys: DevKeyPair) -> Forge:
    return Forge(tokens, dev_keys, foreign_keys)


ALL_OK = {"create": 200, "list": 200, "get": 200, "delete": 204, "manifest": 200, "diff": 200, "subpartners": 200}
READ_ONLY = {
    "create": 403, "list": 200, "get": 200, "delete": 403, "manifest": 200, "diff": 200, "subpartners": 200
}
FORBIDDEN = dict.fromkeys(ROUTES, 403)
UNAUTHENTICATED = dict.fromkeys(ROUTES, 401)


@dataclass(frozen=True)
class Credential:
    name: str
    authorization: Callable[[Forge], str | None]  # the Authorization header; None: no header at all
    expected: dict[str, int]


def bearer(make: Callable[[Forge], str]) -> Callable[[Forge], str]:
    return lambda forge: f"Bearer {make(forge)}"


CREDENTIALS = [
    Credential("valid read+write token", bearer(lambda f: f.tokens.mint()), ALL_OK),
    Credential("write scope only (implies read)", bearer(lambda f: f.tokens.mint(scopes=(WRITE_SCOPE,))), ALL_OK),
    Credential("read-only token", bearer(lambda f: f.tokens.mint(scopes=(READ_SCOPE,))), READ_ONLY),
    Credential("token without scopes", bearer(lambda f: f.tokens.mint(scopes=())), FORBIDDEN),
    Credential(
        "scope names as a prefix only",
        bearer(lambda f: f.tokens.mint(scopes=(READ_SCOPE + "x", "x" + WRITE_SCOPE))),
        FORBIDDEN,
    ),
    Credential("org is a customer, not a partner", bearer(lambda f: f.tokens.mint(org_id=DEMO_CUSTOMER)), FORBIDDEN),
    Credential("org unknown", bearer(lambda f: f.tokens.mint(org_id="some-org")), FORBIDDEN),
    Credential("missing Authorization header", lambda f: None, UNAUTHENTICATED),
    Credential("expired", bearer(lambda f: f.tokens.mint(ttl_seconds=-120)), UNAUTHENTICATED),
    Credential("not yet valid (nbf in 1 h)", bearer(lambda f: f.tokens.mint(now=time.time() + 3600)), UNAUTHENTICATED),
    Credential("wrong signature (foreign key)", bearer(lambda f: f.signed_by_foreign_key()), UNAUTHENTICATED),
    Credential("foreign key shipped in a jwk header", bearer(lambda f: f.with_embedded_jwk()), UNAUTHENTICATED),
    Credential("ES256 by a foreign key", bearer(lambda f: f.es256_foreign()), UNAUTHENTICATED),
    Credential("wrong issuer", bearer(lambda f: f.tokens.mint(issuer="https://evil.example")), UNAUTHENTICATED),
    Credential("wrong audience", bearer(lambda f: f.tokens.mint(audience="another-api")), UNAUTHENTICATED),
    Credential("alg none", bearer(lambda f: f.unsigned("none")), UNAUTHENTICATED),
    Credential("alg None", bearer(lambda f: f.unsigned("None")), UNAUTHENTICATED),
    Credential("HS256 signed with the public key", bearer(lambda f: f.hs256_with_public_key()), UNAUTHENTICATED),
    Credential("signature stripped", bearer(lambda f: f.tokens.mint().rsplit(".", 1)[0] + "."), UNAUTHENTICATED),
    Credential("no exp claim", bearer(lambda f: f.ours(exp=None)), UNAUTHENTICATED),
    Credential("no org_id claim", bearer(lambda f: f.ours(org_id=None)), UNAUTHENTICATED),
    # NumericDate claims must be JSON numbers (RFC 7519 §2); PyJWT alone accepts numeric strings
    Credential("exp a string", bearer(lambda f: f.ours(exp=str(int(time.time()) + 3600))), UNAUTHENTICATED),
    Credential("nbf a string", bearer(lambda f: f.ours(nbf=str(int(time.time())))), UNAUTHENTICATED),
    Credential("iat a string", bearer(lambda f: f.ours(iat=str(int(time.time())))), UNAUTHENTICATED),
    Credential("exp a boolean", bearer(lambda f: f.ours(exp=True)), UNAUTHENTICATED),
    Credential("exp infinite", bearer(lambda f: f.ours(exp=float("inf"))), UNAUTHENTICATED),
    Credential("exp a list", bearer(lambda f: f.ours(exp=[int(time.time()) + 3600])), UNAUTHENTICATED),
    Credential("org_id not a string", bearer(lambda f: f.ours(org_id=[DEMO_PARTNER])), UNAUTHENTICATED),
    Credential("token without the Bearer scheme", lambda f: f.tokens.mint(), UNAUTHENTICATED),
    Credential("Basic scheme", lambda f: "Basic " + b64url(b"admin:admin"), UNAUTHENTICATED),
    Credential("garbage bearer", lambda f: "Bearer !!garbage!!", UNAUTHENTICATED),
    Credential("bearer with nothing after it", lambda f: "Bearer ", UNAUTHENTICATED),
    Credential("empty Authorization header", lambda f: "", UNAUTHENTICATED),
    Credential("oversized token", lambda f: "Bearer " + "a" * 10_000, UNAUTHENTICATED),
]


def send(
    stack: SecurityStack,
    route: str,
    authorization: str | None,
    *,
    report_id: str = "",
    body: dict[str, Any] | None = None,
    query: dict[str, str] | None = None,
) -> Any:
    client = ApiClient()
    headers = {} if authorization is None else {"authorization": authorization}
    if route == "create":
        return client.post(BASE, body if body is not None else stack.fresh_period(), headers=headers)
    if route == "list":
        return client.get(BASE + ("?" + urlencode(query) if query else ""), headers=headers)
    if route == "subpartners":  # the caller's whole list (a report list's query is not its own)
        return client.get(SUB_PARTNERS, headers=headers)
    if route == "get":
        return client.get(f"{BASE}/{report_id}", headers=headers)
    if route == "manifest":
        return client.get(f"{BASE}/{report_id}/manifest", headers=headers)
    if route == "diff":  # against another COMPLETED report of the demo partner (itself: nothing to compare)
        against = stack.standing_report(DEMO_PARTNER, internal=True).report_id
        return client.get(f"{BASE}/{report_id}/diff?against={against}", headers=headers)
    return client.delete(f"{BASE}/{report_id}", headers=headers)


@pytest.mark.parametrize("credential", CREDENTIALS, ids=lambda credential: credential.name)
@pytest.mark.parametrize("route", ROUTES)
def test_credential_matrix(stack: SecurityStack, forge: Forge, route: str, credential: Credential) -> None:
    own = stack.standing_report(DEMO_PARTNER)
    stack.standing_report(DEMO_PARTNER, internal=True)  # what a diff compares with, made before the footprint
    before = stack.footprint()
    response = send(stack, route, credential.authorization(forge), report_id=own.report_id)
    expected = credential.expected[route]
    assert response.status == expected, (response.status, response.body[:300])
    assert response.header("TrackingID")
    store = stack.container.report_store
    if expected >= 400:
        assert_webex_error(response, expected)
        assert stack.footprint() == before, "a refused request wrote something"
        return
    if route == "create":
        created = store.get(DEMO_PARTNER, response.json()["id"])
        assert created is not None and created.status.value == "IN_PROGRESS"
        assert len(stack.workflow.started) == before[2] + 1
    elif route == "list":
        assert own.report_id in [item["id"] for item in response.json()["items"]]
    elif route == "get":
        body = response.json()
        assert body["id"] == own.report_id and body["status"] == "COMPLETED" and body["tempDownloadURL"]
    elif route == "manifest":
        assert response.json()["id"] == own.report_id and response.json()["sha256"] == own.sha256
    elif route == "diff":
        assert response.body.decode().startswith("CHANGE,") and response.body.count(b"\r\n") == 1
    elif route == "subpartners":
        assert [item["orgId"] for item in response.json()["items"]] == [DEMO_SUB_PARTNER]
    else:
        stack.forget(own)
        assert store.get(DEMO_PARTNER, own.report_id) is None
        assert not object_exists(stack.container, own.s3_key)


@dataclass(frozen=True)
class Target:
    """A report the caller must not reach (or, for the control, may), and the caller."""

    name: str
    caller_org: str
    owner_org: str
    owner_body: dict[str, Any]
    create_body: dict[str, Any]  # an attempt to create a report over the target's tree
    list_query: dict[str, str]
    expected: dict[str, int]


NOT_YOURS = {
    "create": 403, "list": 200, "get": 404, "delete": 404, "manifest": 404, "diff": 404, "subpartners": 200
}
TARGETS = [
    Target(
        "another partner's report", DEMO_PARTNER, OTHER_PARTNER, {}, {"subPartnerOrgId": OTHER_PARTNER}, {}, NOT_YOURS
    ),
    Target(
        "a foreign sub-partner's report (another partner's tree)",
        DEMO_PARTNER,
        OTHER_PARTNER,
        {"subPartnerOrgId": FOREIGN_SUB_PARTNER},
        {"subPartnerOrgId": FOREIGN_SUB_PARTNER},
        {"subPartnerOrgId": FOREIGN_SUB_PARTNER},
        NOT_YOURS,
    ),
    Target(
        "the foreign sub-partner's own report",
        DEMO_PARTNER,
        FOREIGN_SUB_PARTNER,
        {},
        {"subPartnerOrgId": FOREIGN_SUB_PARTNER},
        {},
        NOT_YOURS,
    ),
    Target(
        "the parent's report, by its sub-partner",
        DEMO_SUB_PARTNER,
        DEMO_PARTNER,
        {"subPartnerOrgId": DEMO_SUB_PARTNER},
        {"subPartnerOrgId": DEMO_PARTNER},
        {},
        NOT_YOURS,
    ),
    Target(
        "the other partner reaching into the demo tree",
        OTHER_PARTNER,
        DEMO_SUB_PARTNER,
        {},
        {"subPartnerOrgId": DEMO_SUB_PARTNER},
        {"subPartnerOrgId": DEMO_SUB_PARTNER},
        NOT_YOURS,
    ),
    # Control: a parent may report on its own sub-partner, but the sub-partner's own reports
    # are still another partner's (reports belong to the org that made them).
    Target(
        "the sub-partner's own report, by its parent",
        DEMO_PARTNER,
        DEMO_SUB_PARTNER,
        {},
        {"subPartnerOrgId": DEMO_SUB_PARTNER},
        {},
        {**NOT_YOURS, "create": 200},
    ),
]


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: target.name)
@pytest.mark.parametrize("route", ROUTES)
def test_object_level_authorization(stack: SecurityStack, forge: Forge, route: str, target: Target) -> None:
    victim = stack.standing_report(target.owner_org, **target.owner_body)
    stack.standing_report(DEMO_PARTNER, internal=True)  # what a diff compares with, made before the footprint
    before = stack.footprint()
    token = forge.tokens.mint(org_id=target.caller_org)
    response = send(
        stack,
        route,
        f"Bearer {token}",
        report_id=victim.report_id,
        body={**stack.fresh_period(), **target.create_body},
        query=target.list_query,
    )
    expected = target.expected[route]
    assert response.status == expected, (response.status, response.body[:300])
    if expected >= 400:
        body = assert_webex_error(response, expected)
        assert victim.report_id not in response.body.decode()
        assert target.owner_org not in body["message"] or route == "create"
        assert stack.footprint() == before, "a refused request wrote something"
    elif route == "list":
        listed = [item["id"] for item in response.json()["items"]]
        assert victim.report_id not in listed
        mine = {item["id"] for item in stack.container.report_store.list(target.caller_org, ListQuery(), None, 10_000)}
        assert set(listed) <= mine, "the list shows reports of another partner"
    elif route == "subpartners":
        listed = {item["orgId"] for item in response.json()["items"]}
        tree = PartnerTree(stack.container.directory.partners())
        assert listed == set(tree.subtree(target.caller_org)) - {target.caller_org}, "not exactly the caller's tree"
        assert target.owner_org not in listed or target.owner_org in tree.subtree(target.caller_org)
    # The victim is untouched whatever happened.
    assert stack.container.report_store.get(target.owner_org, victim.report_id) == victim
    assert object_exists(stack.container, victim.s3_key)


def test_another_partners_id_is_indistinguishable_from_an_unknown_id(stack: SecurityStack, forge: Forge) -> None:
    """404 for another partner's id says exactly what it says for an id that never existed."""
    victim = stack.completed_report(OTHER_PARTNER)
    token = f"Bearer {forge.tokens.mint()}"
    for route in ("get", "delete", "manifest", "diff"):
        foreign = assert_webex_error(send(stack, route, token, report_id=victim.report_id), 404)
        unknown = assert_webex_error(send(stack, route, token, report_id=new_report_id()), 404)
        assert (foreign["message"], foreign["errors"]) == (unknown["message"], unknown["errors"])


def test_another_partners_reports_never_appear_in_any_list(stack: SecurityStack, forge: Forge) -> None:
    victims = {stack.completed_report(OTHER_PARTNER).report_id for _ in range(3)}
    victims.add(stack.completed_report(OTHER_PARTNER, subPartnerOrgId=FOREIGN_SUB_PARTNER).report_id)
    stack.completed_report(DEMO_PARTNER)
    token = f"Bearer {forge.tokens.mint()}"
    queries: list[dict[str, str]] = [
        {},
        {"max": "1"},
        {"sortBy": "id"},
        {"sortBy": "status"},
        {"status": "COMPLETED"},
        {"subPartnerOrgId": FOREIGN_SUB_PARTNER},
        {"subPartnerOrgId": OTHER_PARTNER},
        {"sortBy": "created", "order": "desc"},
        {"sortBy": "created", "max": "1"},
        {"sortBy": "billingEndDate", "order": "desc", "max": "2"},
    ]
    for query in queries:
        seen: list[str] = []
        url: str | None = BASE + ("?" + urlencode(query) if query else "")
        while url:
            response = ApiClient().get(url, headers={"authorization": token})
            assert response.status == 200, response.body  # a foreign filter just finds nothing
            seen += [item["id"] for item in response.json()["items"]]
            url = _next_url(response)
        assert not victims & set(seen), query


def _next_url(response: Any) -> str | None:
    link = response.header("Link")
    if not link:
        return None
    parsed = urlparse(link[1 : link.index(">")])
    return f"{parsed.path}?{parsed.query}"


def _cursor_of(response: Any) -> str:
    next_url = _next_url(response)
    assert next_url, "expected a next page"
    return parse_qs(urlparse(next_url).query)["cursor"][0]


def test_cursor_is_refused_for_another_partner_and_another_query(stack: SecurityStack, forge: Forge) -> None:
    for _ in range(3):
        stack.completed_report(DEMO_PARTNER)
    for _ in range(3):
        stack.completed_report(OTHER_PARTNER)
    mine = {"authorization": f"Bearer {forge.tokens.mint()}"}
    first = ApiClient().get(BASE + "?max=1&sortBy=id", headers=mine)
    assert first.status == 200
    cursor = _cursor_of(first)
    assert ApiClient().get(f"{BASE}?{urlencode({'cursor': cursor})}", headers=mine).status == 200
    # Repeating the same query with the cursor is allowed; changing it is not.
    same = ApiClient().get(f"{BASE}?{urlencode({'cursor': cursor, 'max': '1', 'sortBy': 'id'})}", headers=mine)
    assert same.status == 200
    for changed in (
        {"max": "2"},
        {"sortBy": "status"},
        {"type": "USER"},
        {"status": "COMPLETED"},
        {"subPartnerOrgId": DEMO_SUB_PARTNER},
    ):
        body = assert_webex_error(
            ApiClient().get(f"{BASE}?{urlencode({'cursor': cursor, **changed})}", headers=mine), 400
        )
        assert "cursor was issued for another query" in body["message"], changed
    for org in (OTHER_PARTNER, DEMO_SUB_PARTNER, FOREIGN_SUB_PARTNER):
        other = {"authorization": f"Bearer {forge.tokens.mint(org_id=org)}"}
        body = assert_webex_error(ApiClient().get(f"{BASE}?{urlencode({'cursor': cursor})}", headers=other), 400)
        assert body["message"] == "cursor is invalid or was issued for another query"
    # ...and the other partner's own cursor does not work for the demo partner either.
    theirs = {"authorization": f"Bearer {forge.tokens.mint(org_id=OTHER_PARTNER)}"}
    their_cursor = _cursor_of(ApiClient().get(BASE + "?max=1&sortBy=id", headers=theirs))
    body = assert_webex_error(ApiClient().get(f"{BASE}?{urlencode({'cursor': their_cursor})}", headers=mine), 400)
    assert body["message"] == "cursor is invalid or was issued for another query"


def test_tokens_of_other_partners_cannot_create_in_the_demo_tree(stack: SecurityStack, forge: Forge) -> None:
    """The partner named in a report is always the caller's org or one of its descendants."""
    before = stack.footprint()
    for org, sub in (
        (OTHER_PARTNER, DEMO_PARTNER),
        (FOREIGN_SUB_PARTNER, OTHER_PARTNER),
        (DEMO_SUB_PARTNER, DEMO_SUB_PARTNER),
        (DEMO_PARTNER, DEMO_PARTNER),
    ):
        token = f"Bearer {forge.tokens.mint(org_id=org)}"
        body = assert_webex_error(
            send(stack, "create", token, body={**stack.fresh_period(), "subPartnerOrgId": sub}), 403
        )
        assert "subPartnerOrgId" in error_text(body)
    assert stack.footprint() == before


@pytest.mark.parametrize("subject", ["", "   "])
def test_a_token_naming_no_person_is_refused(stack: SecurityStack, forge: Forge, subject: str) -> None:
    """`createdBy` is the caller's person id from the token (ARCHITECTURE.md §2; the document says it is
    non-empty): a token whose `sub` names nobody authenticates no one, and must write nothing."""
    before = stack.footprint()
    token = f"Bearer {forge.tokens.mint(subject=subject)}"
    assert_webex_error(send(stack, "create", token), 401)
    assert stack.footprint() == before


# ---- the console's read API (DESIGN §12): read routes, tenant-checked like list ------------------

USAGE = "/v1/wholesale/billing/usage"
USAGE_ROUTES = ("usage", "series", "explain", "availability")


def send_usage(route: str, authorization: str | None, customer: str | None = None, sub_partner: str | None = None) -> Any:
    headers = {} if authorization is None else {"authorization": authorization}
    day = (TODAY - timedelta(days=1)).isoformat()
    scope = {name: value for name, value in (("customerOrgId", customer), ("subPartnerOrgId", sub_partner)) if value}
    if route == "usage":
        query = {"billingStartDate": day, "billingEndDate": day, "groupBy": "sku", **scope}
        return ApiClient().get(f"{USAGE}?{urlencode(query)}", headers=headers)
    if route == "series":
        return ApiClient().get(f"{USAGE}/series?{urlencode({'groupBy': 'customer', **scope})}", headers=headers)
    if route == "explain":
        query = {"billingStartDate": day, "billingEndDate": day, "sku": "SKU-1", "userId": "someone"}
        if customer:
            query["customerOrgId"] = customer
        return ApiClient().get(f"{USAGE}/explain?{urlencode(query)}", headers=headers)
    return ApiClient().get(f"{USAGE}/availability", headers=headers)


@pytest.mark.parametrize("credential", CREDENTIALS, ids=lambda credential: credential.name)
@pytest.mark.parametrize("route", USAGE_ROUTES)
def test_usage_credential_matrix(stack: SecurityStack, forge: Forge, route: str, credential: Credential) -> None:
    """Each read route of the usage API answers every credential as the reports list does (this
    stack holds the directory but no usage: a period's totals are zeros, explain finds no one)."""
    before = stack.footprint()
    response = send_usage(route, credential.authorization(forge))
    expected = credential.expected["list"]
    if expected == 200 and route == "explain":
        expected = 404
    assert response.status == expected, (response.status, response.body[:300])
    assert response.header("TrackingID")
    assert stack.footprint() == before, "a read wrote something"
    if expected >= 400:
        assert_webex_error(response, expected)
    elif route == "usage":
        assert response.json()["totals"] == {"quantity": "0", "seatEquivalents": "0", "customers": 0, "users": 0}


def _a_customer_of(stack: SecurityStack, org_id: str) -> str:
    return stack.container.directory.customers_of([org_id])[0].org_id


@pytest.mark.parametrize(
    ("caller", "owner", "expected"),
    [
        (DEMO_PARTNER, OTHER_PARTNER, 404),  # another partner's customer: as unknown
        (DEMO_SUB_PARTNER, DEMO_PARTNER, 404),  # the parent's customer, by its sub-partner
        (OTHER_PARTNER, DEMO_SUB_PARTNER, 404),  # the other partner reaching into the demo tree
        (DEMO_PARTNER, DEMO_SUB_PARTNER, 200),  # control: a parent sees its sub-partner's customers
    ],
)
@pytest.mark.parametrize("route", ("usage", "series"))
def test_usage_object_level_authorization(
    stack: SecurityStack, forge: Forge, route: str, caller: str, owner: str, expected: int
) -> None:
    token = f"Bearer {forge.tokens.mint(org_id=caller)}"
    customer = _a_customer_of(stack, owner)
    response = send_usage(route, token, customer=customer)
    assert response.status == expected, (response.status, response.body[:300])
    if expected == 404:
        foreign = assert_webex_error(response, 404)
        unknown = assert_webex_error(send_usage(route, token, customer="never-a-customer"), 404)
        assert (foreign["message"], foreign["errors"]) == (unknown["message"], unknown["errors"])
        assert customer not in response.body.decode()


@pytest.mark.parametrize("sub_partner", [OTHER_PARTNER, FOREIGN_SUB_PARTNER, DEMO_PARTNER])
def test_usage_of_a_foreign_sub_partner_is_403(stack: SecurityStack, forge: Forge, sub_partner: str) -> None:
    token = f"Bearer {forge.tokens.mint()}"
    for route in ("usage", "series"):
        body = assert_webex_error(send_usage(route, token, sub_partner=sub_partner), 403)
        assert "subPartnerOrgId" in error_text(body)
