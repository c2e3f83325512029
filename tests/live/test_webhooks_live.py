"""Webhooks over real processes (make test-live): a `wbr dev` process of the test's own consumes
the reports stream and the deliveries queue itself, and POSTs a signed delivery to a receiver in
this test process after a report created over HTTP completes; the first answer is a 500, so the
retry is seen too. The webhook is managed with `wbr webhooks` CLI processes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.local.demo import DEMO_PARTNER, demo_events, demo_world
from tests.live.test_event_paths import _wait_until
from tests.stack import BASE, Stack
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.live

TODAY = datetime.now(timezone.utc).date()
YESTERDAY = TODAY - timedelta(days=1)
WORLD = demo_world(TODAY, days=6, users=12, workspaces=2, seed=31)
SECRET = "live-webhook-secret"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("webhook-stack")
    running = Stack(state, WBR_WEBHOOK_RETRY_BASE_SECONDS="0.5")
    running.start()
    on_time, _ = demo_events(WORLD, seed=5)
    (state / "events.ndjson").write_text("".join(json.dumps(event) + "\n" for event in on_time))
    try:
        ingested = running.cli("ingest", str(state / "events.ndjson"))
        assert ingested.returncode == 0, ingested.stderr
        rated = running.cli("rate", "--to", YESTERDAY.isoformat())
        assert rated.returncode == 0, rated.stderr
        yield running
    finally:
        running.stop()


def _wbr(stack: Stack, *arguments: str):  # type: ignore[no-untyped-def]
    """`wbr webhooks …` with this stack's partner admin token (a stack without the demo writes none)."""
    return stack.cli("webhooks", *arguments, "--token", stack.token)


def test_wbr_dev_delivers_a_signed_post_when_a_report_created_over_http_completes(stack: Stack) -> None:
    with Receiver([500]) as receiver:
        created = _wbr(
            stack, "create", "--url", receiver.url, "--secret", SECRET, "--events", "report.completed",
            "--name", "live",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        webhook = json.loads(created.stdout)
        assert webhook["events"] == ["report.completed"] and SECRET not in created.stdout
        listed = _wbr(stack, "list", "--json")
        assert listed.returncode == 0 and [item["id"] for item in json.loads(listed.stdout)] == [webhook["id"]]

        period = {
            "billingStartDate": (YESTERDAY - timedelta(days=3)).isoformat(),
            "billingEndDate": YESTERDAY.isoformat(),
        }
        status, report = stack.request("POST", BASE, {**period, "type": "PARTNER"})
        assert status == 200, report
        done = stack.wait_for(report["id"], lambda r: r["status"] != "IN_PROGRESS")
        assert done["status"] == "COMPLETED", done
        completed_at = time.monotonic()

        attempts = _wait_until(lambda: receiver.of_report(report["id"])[1:] and receiver.of_report(report["id"]))
        print(f"signed delivery retried and accepted {time.monotonic() - completed_at:.1f} s after COMPLETED")
        first, second = attempts[:2]
        assert first.signed_with(SECRET) and second.signed_with(SECRET)
        assert first.body == second.body
        body = first.json()
        assert body["event"] == "report.completed" and body["orgId"] == DEMO_PARTNER
        assert body["webhookId"] == webhook["id"] and body["data"]["id"] == report["id"]
        assert body["data"]["status"] == "COMPLETED" and body["data"]["revision"] == 1
        assert first.headers["x-wbr-delivery-id"] == body["id"] == second.headers["x-wbr-delivery-id"]

        def delivered() -> dict | None:
            got = _wbr(stack, "get", webhook["id"])
            last = json.loads(got.stdout).get("lastDelivery") if got.returncode == 0 else None
            return last if last and last["status"] == "DELIVERED" else None

        last = _wait_until(delivered, timeout=20)
        assert last["attempt"] == 2 and last["httpStatus"] == 200 and last["reportId"] == report["id"]
        deleted = _wbr(stack, "delete", webhook["id"])
        assert deleted.returncode == 0, deleted.stderr
        gone = _wbr(stack, "get", webhook["id"])
        assert gone.returncode == 2 and "Webhook not found" in gone.stderr
