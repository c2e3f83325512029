"""Who may do what with webhooks (the webhook routes in the credential matrix and the object-level
authorization of tests/security/test_auth_matrix.py): every credential on every webhook route,
and every partner against another's webhooks. A refused request writes nothing (the webhooks
table is compared before and after); an answer never carries a secret."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.webhooks import new_webhook_id
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, DEMO_SUB_PARTNER, OTHER_PARTNER
from tests.conftest import ApiClient
from tests.security import test_auth_matrix as matrix
from tests.security.conftest import FOREIGN_SUB_PARTNER, SecurityStack, assert_webex_error
from tests.security.test_auth_matrix import CREDENTIALS, Credential, Forge

HOOKS = "/v1/wholesale/billing/webhooks"
SECRET = "matrix-secret-value"
ROUTES = ("create", "list", "get", "delete")
forge, foreign_keys = (
    matrix.forge,
    matrix.foreign_keys,
)  # the matrix's fixtures, used here too  # each with the expectation of the reports route of that name


def _footprint(stack: SecurityStack) -> tuple[str, ...]:
    table = stack.container.settings.webhooks_table
    return tuple(
        sorted(
            json.dumps(item, sort_keys=True)
            for page in stack.container.dynamodb.get_paginator("scan").paginate(TableName=table)
            for item in page["Items"]
        )
    )


_made: dict[str, str] = {}


def _standing_webhook(stack: SecurityStack, org_id: str) -> str:
    """A webhook of `org_id` that the tests leave alone (one per org)."""
    if org_id not in _made or stack.container.webhook_store.get(org_id, _made[org_id]) is None:
        caller = Caller(org_id, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
        _made[org_id] = stack.container.webhooks.create(
            caller, {"targetUrl": "http://127.0.0.1:9/standing", "secret": SECRET}
        ).webhook_id
    return _made[org_id]


def _send(route: str, authorization: str | None, webhook_id: str) -> Any:
    client = ApiClient()
    headers = {} if authorization is None else {"authorization": authorization}
    if route == "create":
        return client.post(HOOKS, {"targetUrl": "http://127.0.0.1:9/new", "secret": SECRET}, headers=headers)
    if route == "list":
        return client.get(HOOKS, headers=headers)
    if route == "get":
        return client.get(f"{HOOKS}/{webhook_id}", headers=headers)
    return client.delete(f"{HOOKS}/{webhook_id}", headers=headers)


@pytest.mark.parametrize("credential", CREDENTIALS, ids=lambda credential: credential.name)
@pytest.mark.parametrize("route", ROUTES)
def test_webhook_credential_matrix(stack: SecurityStack, forge: Forge, route: str, credential: Credential) -> None:
    """The same expectations as the reports routes: write scope to create and delete, read to
    list and get, a partner org, a valid token."""
    own = _standing_webhook(stack, DEMO_PARTNER)
    before = _footprint(stack)
    response = _send(route, credential.authorization(forge), own)
    expected = credential.expected[route]
    assert response.status == expected, (response.status, response.body[:300])
    assert SECRET not in response.body.decode("utf-8", "replace")
    if expected >= 400:
        assert_webex_error(response, expected)
        assert _footprint(stack) == before, "a refused request wrote something"
        return
    store = stack.container.webhook_store
    if route == "create":
        created = response.json()
        assert store.get(DEMO_PARTNER, created["id"]) is not None
        stack.container.webhooks.delete(Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({WRITE_SCOPE})), created["id"])
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
def test_webhooks_of_another_partner_cannot_be_reached(
    stack: SecurityStack, forge: Forge, route: str, caller_org: str, owner_org: str
) -> None:
    victim = _standing_webhook(stack, owner_org)
    before = _footprint(stack)
    response = _send(route, f"Bearer {forge.tokens.mint(org_id=caller_org)}", victim)
    if route == "list":
        assert response.status == 200
        listed = [item["id"] for item in response.json()["items"]]
        assert victim not in listed
        assert set(listed) <= {webhook.webhook_id for webhook in stack.container.webhook_store.list(caller_org)}
    else:
        foreign = assert_webex_error(response, 404)
        unknown = assert_webex_error(
            _send(route, f"Bearer {forge.tokens.mint(org_id=caller_org)}", new_webhook_id()), 404
        )
        assert (foreign["message"], foreign["errors"]) == (unknown["message"], unknown["errors"])
        assert victim not in response.body.decode()
    assert _footprint(stack) == before
    assert stack.container.webhook_store.get(owner_org, victim) is not None
