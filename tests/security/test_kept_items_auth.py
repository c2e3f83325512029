"""Who may do what with what a partner keeps besides its reports, webhooks and schedules (the
routes of each in the credential matrix and the object-level authorization of
tests/security/test_auth_matrix.py): every credential on every route of each kind, and every
partner against another's items. A refused request writes nothing (the kind's table is compared
before and after); an answer never carries a webhook's secret. The `kept` fixture is each kind."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.schedules import new_schedule_id
from chalicelib.domain.webhooks import new_webhook_id
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, DEMO_SUB_PARTNER, OTHER_PARTNER
from tests.conftest import ApiClient
from tests.security import test_auth_matrix as matrix
from tests.security.conftest import FOREIGN_SUB_PARTNER, SecurityStack, assert_webex_error
from tests.security.test_auth_matrix import CREDENTIALS, Credential, Forge

SECRET = "matrix-secret-value"
ROUTES = ("create", "list", "get", "delete")  # each with the expectation of the reports route of that name
forge, foreign_keys = matrix.forge, matrix.foreign_keys  # the matrix's fixtures, used here too
ADMIN_SCOPES = frozenset({READ_SCOPE, WRITE_SCOPE})


@dataclass(frozen=True)
class Kept:
    """One kind of item a partner keeps: its routes, its table and store, how to make one."""

    name: str
    path: str
    table: str  # the Settings field naming its table
    store: str  # the Container's store of the kind
    service: str  # the Container's service of the kind
    body: dict[str, Any]  # a create body the API accepts
    new_id: Callable[[], str]  # a well-formed id that names nothing
    listed: Callable[[Any, str], list[Any]]  # a store's items of an org
    item_id: Callable[[Any], str]


WEBHOOKS = Kept(
    "webhooks",
    "/v1/wholesale/billing/webhooks",
    "webhooks_table",
    "webhook_store",
    "webhooks",
    {"targetUrl": "http://127.0.0.1:9/new", "secret": SECRET},
    new_webhook_id,
    lambda store, org_id: store.list(org_id),
    lambda webhook: webhook.webhook_id,
)
SCHEDULES = Kept(
    "schedules",
    "/v1/wholesale/billing/schedules",
    "schedules_table",
    "schedule_store",
    "schedules",
    {"type": "USER"},
    new_schedule_id,
    lambda store, org_id: store.list(org_id, None, 100),
    lambda schedule: schedule.schedule_id,
)


@pytest.fixture(params=[WEBHOOKS, SCHEDULES], ids=lambda kept: kept.name)
def kept(request: pytest.FixtureRequest) -> Kept:
    return request.param


def footprint(stack: SecurityStack, kept: Kept) -> tuple[str, ...]:
    table = getattr(stack.container.settings, kept.table)
    return tuple(
        sorted(
            json.dumps(item, sort_keys=True)
            for page in stack.container.dynamodb.get_paginator("scan").paginate(TableName=table)
            for item in page["Items"]
        )
    )


_made: dict[tuple[str, str], str] = {}


def standing(stack: SecurityStack, kept: Kept, org_id: str) -> str:
    """An item of `org_id` that the tests leave alone (one per kind and org)."""
    made = _made.get((kept.name, org_id))
    if made is None or getattr(stack.container, kept.store).get(org_id, made) is None:
        item = getattr(stack.container, kept.service).create(Caller(org_id, DEMO_ADMIN, ADMIN_SCOPES), kept.body)
        _made[(kept.name, org_id)] = kept.item_id(item)
    return _made[(kept.name, org_id)]


def send(kept: Kept, route: str, authorization: str | None, item_id: str, body: dict[str, Any] | None = None) -> Any:
    client = ApiClient()
    headers = {} if authorization is None else {"authorization": authorization}
    if route == "create":
        return client.post(kept.path, kept.body if body is None else body, headers=headers)
    if route == "list":
        return client.get(kept.path, headers=headers)
    if route == "get":
        return client.get(f"{kept.path}/{item_id}", headers=headers)
    return client.delete(f"{kept.path}/{item_id}", headers=headers)


@pytest.mark.parametrize("credential", CREDENTIALS, ids=lambda credential: credential.name)
@pytest.mark.parametrize("route", ROUTES)
def test_credential_matrix(stack: SecurityStack, forge: Forge, kept: Kept, route: str, credential: Credential) -> None:
    """The same expectations as the reports routes: write scope to create and delete, read to
    list and get, a partner org, a valid token."""
    own = standing(stack, kept, DEMO_PARTNER)
    before = footprint(stack, kept)
    response = send(kept, route, credential.authorization(forge), own)
    expected = credential.expected[route]
    assert response.status == expected, (response.status, response.body[:300])
    assert SECRET not in response.body.decode("utf-8", "replace")
    if expected >= 400:
        assert_webex_error(response, expected)
        assert footprint(stack, kept) == before, "a refused request wrote something"
        return
    store = getattr(stack.container, kept.store)
    if route == "create":
        created = response.json()
        assert store.get(DEMO_PARTNER, created["id"]) is not None
        getattr(stack.container, kept.service).delete(Caller(DEMO_PARTNER, DEMO_ADMIN, ADMIN_SCOPES), created["id"])
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
def test_items_of_another_partner_cannot_be_reached(
    stack: SecurityStack, forge: Forge, kept: Kept, route: str, caller_org: str, owner_org: str
) -> None:
    victim = standing(stack, kept, owner_org)
    before = footprint(stack, kept)
    token = f"Bearer {forge.tokens.mint(org_id=caller_org)}"
    response = send(kept, route, token, victim)
    store = getattr(stack.container, kept.store)
    if route == "list":
        assert response.status == 200
        listed = [item["id"] for item in response.json()["items"]]
        assert victim not in listed
        assert set(listed) <= {kept.item_id(item) for item in kept.listed(store, caller_org)}
    else:
        foreign = assert_webex_error(response, 404)
        unknown = assert_webex_error(send(kept, route, token, kept.new_id()), 404)
        assert (foreign["message"], foreign["errors"]) == (unknown["message"], unknown["errors"])
        assert victim not in response.body.decode()
    assert footprint(stack, kept) == before
    assert store.get(owner_org, victim) is not None
