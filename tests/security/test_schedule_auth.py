"""Who may do what with schedules (DESIGN §13; the schedule routes in the credential matrix and
the object-level authorization of tests/security/test_auth_matrix.py): every credential on every
schedule route, every partner against another's schedules, and a schedule never aimed at another
partner's tree, another partner's prefix or the service's own buckets. A refused request writes
nothing (the schedules table is compared before and after)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.schedules import new_schedule_id
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, DEMO_SUB_PARTNER, OTHER_PARTNER
from tests.conftest import ApiClient
from tests.security import test_auth_matrix as matrix
from tests.security.conftest import FOREIGN_SUB_PARTNER, SecurityStack, assert_webex_error
from tests.security.test_auth_matrix import CREDENTIALS, Credential, Forge

SCHEDULES = "/v1/wholesale/billing/schedules"
ROUTES = ("create", "list", "get", "delete")  # each with the expectation of the reports route of that name
forge, foreign_keys = matrix.forge, matrix.foreign_keys  # the matrix's fixtures, used here too


def _footprint(stack: SecurityStack) -> tuple[str, ...]:
    table = stack.container.settings.schedules_table
    return tuple(
        sorted(
            json.dumps(item, sort_keys=True)
            for page in stack.container.dynamodb.get_paginator("scan").paginate(TableName=table)
            for item in page["Items"]
        )
    )


_made: dict[str, str] = {}


def _standing_schedule(stack: SecurityStack, org_id: str) -> str:
    """A schedule of `org_id` that the tests leave alone (one per org)."""
    if org_id not in _made or stack.container.schedule_store.get(org_id, _made[org_id]) is None:
        caller = Caller(org_id, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
        _made[org_id] = stack.container.schedules.create(caller, {"type": "CUSTOMER"}).schedule_id
    return _made[org_id]


def _send(route: str, authorization: str | None, schedule_id: str, body: dict[str, Any] | None = None) -> Any:
    client = ApiClient()
    headers = {} if authorization is None else {"authorization": authorization}
    if route == "create":
        return client.post(SCHEDULES, body if body is not None else {"type": "USER"}, headers=headers)
    if route == "list":
        return client.get(SCHEDULES, headers=headers)
    if route == "get":
        return client.get(f"{SCHEDULES}/{schedule_id}", headers=headers)
    return client.delete(f"{SCHEDULES}/{schedule_id}", headers=headers)


@pytest.mark.parametrize("credential", CREDENTIALS, ids=lambda credential: credential.name)
@pytest.mark.parametrize("route", ROUTES)
def test_schedule_credential_matrix(stack: SecurityStack, forge: Forge, route: str, credential: Credential) -> None:
    """The same expectations as the reports routes: write scope to create and delete, read to
    list and get, a partner org, a valid token."""
    own = _standing_schedule(stack, DEMO_PARTNER)
    before = _footprint(stack)
    response = _send(route, credential.authorization(forge), own)
    expected = credential.expected[route]
    assert response.status == expected, (response.status, response.body[:300])
    if expected >= 400:
        assert_webex_error(response, expected)
        assert _footprint(stack) == before, "a refused request wrote something"
        return
    store = stack.container.schedule_store
    if route == "create":
        created = response.json()
        assert store.get(DEMO_PARTNER, created["id"]) is not None
        stack.container.schedules.delete(Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({WRITE_SCOPE})), created["id"])
    elif route == "list":
        assert own in [item["id"] for item in response.json()["items"]]
    elif route == "get":
        assert response.json()["id"] == own
    else:
        assert store.get(DEMO_PARTNER, own) is None


@pytest.mark.parametrize(
    ("caller_org", "owner_org"),
    [
        (DEMO_PARTNER, OTHER_PARTNER),
        (DEMO_PARTNER, FOREIGN_SUB_PARTNER),
        (DEMO_SUB_PARTNER, DEMO_PARTNER),  # the parent's, by its sub-partner
        (DEMO_PARTNER, DEMO_SUB_PARTNER),  # the sub-partner's own, by its parent
        (OTHER_PARTNER, DEMO_PARTNER),
    ],
)
@pytest.mark.parametrize("route", ["list", "get", "delete"])
def test_schedules_of_another_partner_cannot_be_reached(
    stack: SecurityStack, forge: Forge, route: str, caller_org: str, owner_org: str
) -> None:
    victim = _standing_schedule(stack, owner_org)
    before = _footprint(stack)
    token = f"Bearer {forge.tokens.mint(org_id=caller_org)}"
    response = _send(route, token, victim)
    if route == "list":
        assert response.status == 200
        listed = [item["id"] for item in response.json()["items"]]
        assert victim not in listed
        assert set(listed) <= {s.schedule_id for s in stack.container.schedule_store.list(caller_org, None, 100)}
    else:
        foreign = assert_webex_error(response, 404)
        unknown = assert_webex_error(_send(route, token, new_schedule_id()), 404)
        assert (foreign["message"], foreign["errors"]) == (unknown["message"], unknown["errors"])
        assert victim not in response.body.decode()
    assert _footprint(stack) == before
    assert stack.container.schedule_store.get(owner_org, victim) is not None


@pytest.mark.parametrize(
    ("caller_org", "body", "status"),
    [
        (DEMO_PARTNER, {"subPartnerOrgId": OTHER_PARTNER}, 403),
        (DEMO_PARTNER, {"subPartnerOrgId": FOREIGN_SUB_PARTNER}, 403),
        (DEMO_SUB_PARTNER, {"subPartnerOrgId": DEMO_PARTNER}, 403),
        (OTHER_PARTNER, {"subPartnerOrgId": DEMO_SUB_PARTNER}, 403),
        (DEMO_PARTNER, {"s3Bucket": "partner-exports", "s3Prefix": f"x/{OTHER_PARTNER}"}, 400),
        (DEMO_PARTNER, {"s3Bucket": "partner-exports", "s3Prefix": FOREIGN_SUB_PARTNER + "/"}, 400),
        (DEMO_SUB_PARTNER, {"s3Bucket": "partner-exports", "s3Prefix": DEMO_PARTNER}, 400),
        (DEMO_PARTNER, {"s3Bucket": "wbr-reports", "s3Prefix": f"reports/{OTHER_PARTNER}/"}, 400),
        (DEMO_PARTNER, {"s3Bucket": "wbr-lake", "s3Prefix": "usage/"}, 400),
        (DEMO_PARTNER, {"s3Bucket": "partner-exports", "s3Prefix": "../reports"}, 400),
    ],
)
def test_a_schedule_never_aims_at_another_partners_tree_prefix_or_the_services_buckets(
    stack: SecurityStack, forge: Forge, caller_org: str, body: dict[str, Any], status: int
) -> None:
    before = _footprint(stack)
    response = _send("create", f"Bearer {forge.tokens.mint(org_id=caller_org)}", "", body)
    assert_webex_error(response, status)
    assert _footprint(stack) == before


def test_own_sub_partner_prefix_is_allowed(stack: SecurityStack, forge: Forge) -> None:
    """The control: a partner may name its own and its sub-partners' org ids in its prefix."""
    body = {"s3Bucket": "partner-exports", "s3Prefix": f"{DEMO_PARTNER}/{DEMO_SUB_PARTNER}/", "type": "USER"}
    response = _send("create", f"Bearer {forge.tokens.mint()}", "", body)
    assert response.status == 200, response.body
    stack.container.schedules.delete(Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({WRITE_SCOPE})), response.json()["id"])
