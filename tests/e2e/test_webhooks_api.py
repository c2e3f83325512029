"""Webhooks end to end through the HTTP API (the local API Gateway emulation, in process) with a real
receiver on 127.0.0.1: a report created over HTTP completes, the reports stream and the
deliveries queue are delivered to their deployed handlers (as Lambda's event sources do), the
receiver answers 500 twice and sees the retries, each signed; another partner's webhook sees
nothing. Every webhook response is held to the OpenAPI document."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.bootstrap import Container
from chalicelib.config import Settings
from chalicelib.domain.access import READ_SCOPE
from chalicelib.domain.webhooks import new_webhook_id
from chalicelib.local.demo import DEMO_PARTNER, OTHER_PARTNER
from tests.conftest import TODAY, ApiClient, Tokens
from tests.e2e.test_openapi_contract import Contract
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.usefixtures("streams_routed")  # drained by hand: moto's regional streams endpoint

HOOKS = "/v1/wholesale/billing/webhooks"
ITEM = HOOKS + "/{id}"
REPORTS = "/v1/wholesale/billing/reports"
SECRET = "e2e-webhook-secret"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings with retries after about a second, so a test sees them."""
    return replace(settings, webhook_retry_base_seconds=0.5)


def _drive(container: Container, until: object, seconds: float = 40) -> None:
    """Deliver the reports stream and the deliveries queue until `until()` holds."""
    deadline = time.monotonic() + seconds
    while not until():  # type: ignore[operator]
        assert time.monotonic() < deadline, "the deliveries did not arrive"
        container.reports_stream.drain_reports_stream()
        container.reports_stream.deliver_webhook_batch()


def test_a_completed_report_is_delivered_signed_retried_and_only_to_its_partner(
    api: ApiClient, seeded: Container, tokens: Tokens
) -> None:
    contract = Contract()
    theirs = ApiClient(tokens.mint(org_id=OTHER_PARTNER))
    with Receiver([500, 500]) as receiver, Receiver() as other_receiver:
        created = contract.check(
            "POST", HOOKS, api.post(HOOKS, {"targetUrl": receiver.url, "secret": SECRET, "name": "e2e"})
        )
        assert created.status == 200, created.body
        webhook = created.json()
        assert created.header("Location") == f"{HOOKS}/{webhook['id']}"
        assert webhook["events"] == ["report.completed", "report.failed", "report.regenerated", "report.scheduled"]
        assert SECRET not in created.body.decode() and "secret" not in webhook
        other = theirs.post(HOOKS, {"targetUrl": other_receiver.url, "secret": "other-secret"})
        assert other.status == 200, other.body

        start = (TODAY - timedelta(days=6)).isoformat()
        end = (TODAY - timedelta(days=2)).isoformat()
        report = api.post(REPORTS, {"billingStartDate": start, "billingEndDate": end, "type": "CUSTOMER"})
        assert report.status == 200, report.body
        report_id = report.json()["id"]
        seeded.workflow.join(60)
        assert api.get(f"{REPORTS}/{report_id}").json()["status"] == "COMPLETED"

        seen: list[str] = []

        def three_attempts() -> bool:
            last = api.get(f"{HOOKS}/{webhook['id']}").json().get("lastDelivery")
            if last:
                seen.append(last["status"])
            return len(receiver.of_report(report_id)) >= 3

        _drive(seeded, three_attempts)
        _drive(seeded, lambda: api.get(f"{HOOKS}/{webhook['id']}").json()["lastDelivery"]["status"] == "DELIVERED")
        seeded.reports_stream.deliver_webhook_batch()  # nothing more is on its way

        attempts = receiver.of_report(report_id)
        assert len(attempts) == 3
        assert all(attempt.signed_with(SECRET) for attempt in attempts)
        assert not attempts[0].signed_with("other-secret")
        assert len({attempt.body for attempt in attempts}) == 1, "every attempt sends the same body"
        body = attempts[0].json()
        assert body["event"] == "report.completed" and body["resource"] == "billingReports"
        assert body["webhookId"] == webhook["id"] and body["name"] == "e2e"
        assert body["data"]["id"] == report_id and body["data"]["status"] == "COMPLETED"
        assert body["data"]["revision"] == 1 and body["orgId"] == DEMO_PARTNER
        assert {attempt.headers["x-wbr-delivery-id"] for attempt in attempts} == {body["id"]}
        waits = [later.at - earlier.at for earlier, later in zip(attempts, attempts[1:], strict=False)]
        assert all(wait >= 0.5 for wait in waits), waits  # backoff, not a hot loop
        assert "RETRYING" in seen

        got = contract.check("GET", ITEM, api.get(f"{HOOKS}/{webhook['id']}"))
        last = got.json()["lastDelivery"]
        assert (last["status"], last["httpStatus"], last["attempt"], last["reportId"]) == (
            "DELIVERED",
            200,
            3,
            report_id,
        )
        assert other_receiver.received == [], "another partner's webhook saw this partner's report"

        # Isolation over HTTP: the other partner neither sees nor deletes this webhook.
        listed = contract.check("GET", HOOKS, theirs.get(HOOKS)).json()["items"]
        assert [item["id"] for item in listed] == [other.json()["id"]]
        for response in (theirs.get(f"{HOOKS}/{webhook['id']}"), theirs.delete(f"{HOOKS}/{webhook['id']}")):
            assert response.status == 404 and response.json()["message"] == "Webhook not found"
        assert contract.check("GET", HOOKS, api.get(HOOKS)).json()["items"][0]["id"] == webhook["id"]
        assert SECRET not in json.dumps(api.get(HOOKS).json())

        # Delete, then nothing more is delivered to it.
        assert contract.check("DELETE", ITEM, api.delete(f"{HOOKS}/{webhook['id']}")).status == 204
        assert contract.check("GET", ITEM, api.get(f"{HOOKS}/{webhook['id']}")).status == 404
        assert contract.check("DELETE", ITEM, api.delete(f"{HOOKS}/{new_webhook_id()}")).status == 404


def test_bad_bodies_name_every_problem_and_write_nothing(api: ApiClient, seeded: Container, tokens: Tokens) -> None:
    contract = Contract()
    response = contract.check(
        "POST",
        HOOKS,
        api.post(HOOKS, {"targetUrl": "http://169.254.169.254/latest", "secret": "short", "events": ["x"], "name": 7}),
    )
    assert response.status == 400
    described = [error["description"].split(":")[0] for error in response.json()["errors"]]
    assert described == ["name", "targetUrl", "secret", "events"]
    assert contract.check("POST", HOOKS, api.post(HOOKS, raw=b"[1]")).status == 400
    assert (
        contract.check("POST", HOOKS, api.post(HOOKS, headers={"content-type": "text/plain"}, raw=b"x")).status == 415
    )
    big = {"targetUrl": "http://127.0.0.1:9/x", "secret": "s" * 20, "pad": "x" * 17_000}
    assert contract.check("POST", HOOKS, api.post(HOOKS, big)).status == 413
    read_only = ApiClient(tokens.mint(scopes=(READ_SCOPE,)))
    refused = read_only.post(HOOKS, {"targetUrl": "http://127.0.0.1:9/x", "secret": "s" * 20})
    assert contract.check("POST", HOOKS, refused).status == 403
    assert contract.check("GET", HOOKS, read_only.get(HOOKS)).status == 200
    assert contract.check("GET", HOOKS, ApiClient().get(HOOKS)).status == 401
    assert api.get(HOOKS).json() == {"items": []}
    # The cap: 20, then a 409.
    for index in range(20):
        assert api.post(HOOKS, {"targetUrl": f"http://127.0.0.1:9/{index}", "secret": "s" * 20}).status == 200
    capped = contract.check("POST", HOOKS, api.post(HOOKS, {"targetUrl": "http://127.0.0.1:9/x", "secret": "s" * 20}))
    assert capped.status == 409 and "20 webhooks" in capped.json()["message"]
    assert len(contract.check("GET", HOOKS, api.get(HOOKS)).json()["items"]) == 20
