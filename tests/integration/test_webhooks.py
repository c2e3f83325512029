"""Webhooks against moto (ARCHITECTURE.md §6 "Webhooks"): the store (isolation, the cap, the last
delivery), the reports stream → the deliveries queue and the event bus, and delivery to a real
receiver on 127.0.0.1."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.bootstrap import Container
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.errors import Conflict, InvalidRequest, NotFound, ReportErrorCode
from chalicelib.domain.reports import Report, ReportError
from chalicelib.domain.webhooks import MAX_WEBHOOKS_PER_PARTNER, DeliveryRecord, DeliveryStatus, WebhookEvent
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, OTHER_PARTNER
from chalicelib.services.ports import ReportFile
from tests.conftest import TODAY
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.usefixtures("streams_routed")  # drained by hand: moto's regional streams endpoint

MINE = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
THEIRS = Caller(OTHER_PARTNER, "someone-else", frozenset({READ_SCOPE, WRITE_SCOPE}))
SECRET = "integration-secret"


class _HeldWorkflow:
    """Reports stay IN_PROGRESS until the test settles them."""

    def start(self, *args: Any) -> None:
        pass

    def stop(self, *args: Any) -> None:
        pass

    def stop_all(self) -> None:
        pass

    def join(self, timeout: float = 0) -> None:
        pass


@pytest.fixture
def held(seeded: Container) -> Container:
    seeded.override(workflow=_HeldWorkflow())
    return seeded


def _webhook(container: Container, caller: Caller, url: str, **body: Any) -> str:
    return container.webhooks.create(caller, {"targetUrl": url, "secret": SECRET, **body}).webhook_id


_days = iter(range(2, 40))


def _report(container: Container, caller: Caller = MINE) -> Report:
    day = (TODAY - timedelta(days=next(_days))).isoformat()
    report, created = container.reports.create(caller, {"billingStartDate": day, "billingEndDate": day}, "WBR_hook")
    assert created
    return report


def _complete(container: Container, report: Report) -> None:
    file = ReportFile(f"reports/{report.partner_org_id}/{report.report_id}/r1.csv", 3, "ab" * 32, {}, size=30)
    assert container.report_store.complete(report, file, datetime.now(timezone.utc))


def _queued(container: Container) -> list[dict[str, Any]]:
    """Every message on the deliveries queue (received and left there to time out)."""
    messages: list[dict[str, Any]] = []
    while batch := container.sqs.receive_message(
        QueueUrl=container.deliveries.url, MaxNumberOfMessages=10, VisibilityTimeout=30
    ).get("Messages", []):
        messages += [json.loads(message["Body"]) for message in batch]
    return messages


def _bus_events(container: Container) -> Any:
    """A rule of the bus with an SQS target: what EventBridge receives lands there."""
    queue = container.sqs.create_queue(QueueName="bus-tap")["QueueUrl"]
    arn = container.sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = container.settings.event_bus
    container.eventbridge.put_rule(Name="tap", EventBusName=bus, EventPattern=json.dumps({"source": [SOURCE]}))
    container.eventbridge.put_targets(Rule="tap", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])

    def received() -> list[dict[str, Any]]:
        found = []
        while batch := container.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            found += [json.loads(message["Body"]) for message in batch]
        return found

    return received


SOURCE = "wholesale-billing-reports"


def test_webhooks_are_the_partners_own_and_capped(held: Container) -> None:
    mine = _webhook(held, MINE, "http://127.0.0.1:9/a", name="ops", events=["report.failed"])
    theirs = _webhook(held, THEIRS, "http://127.0.0.1:9/b")
    listed = held.webhooks.list(MINE)
    assert [item["id"] for item in listed] == [mine]
    assert listed[0]["events"] == ["report.failed"] and listed[0]["status"] == "active"
    assert "secret" not in json.dumps(listed) and SECRET not in json.dumps(listed)
    for caller, other in ((MINE, theirs), (THEIRS, mine)):
        with pytest.raises(NotFound):
            held.webhooks.get(caller, other)
        with pytest.raises(NotFound):
            held.webhooks.delete(caller, other)
    assert held.webhook_store.get(OTHER_PARTNER, theirs) is not None  # untouched
    # The cap: 20 per partner, atomically counted; a delete frees a place.
    for index in range(MAX_WEBHOOKS_PER_PARTNER - 1):
        _webhook(held, MINE, f"http://127.0.0.1:9/{index}")
    with pytest.raises(Conflict):
        _webhook(held, MINE, "http://127.0.0.1:9/one-too-many")
    assert len(held.webhooks.list(MINE)) == MAX_WEBHOOKS_PER_PARTNER
    _webhook(held, THEIRS, "http://127.0.0.1:9/c")  # another partner's count is its own
    held.webhooks.delete(MINE, mine)
    _webhook(held, MINE, "http://127.0.0.1:9/again")
    # Refused targets write nothing.
    with pytest.raises(InvalidRequest):
        held.webhooks.create(THEIRS, {"targetUrl": "http://10.0.0.1/x", "secret": SECRET})
    assert len(held.webhooks.list(THEIRS)) == 2


def test_the_last_delivery_never_goes_back_in_time_nor_revives_a_deleted_webhook(held: Container) -> None:
    webhook_id = _webhook(held, MINE, "http://127.0.0.1:9/a")
    now = datetime.now(timezone.utc)
    later = DeliveryRecord(WebhookEvent.COMPLETED, "r", DeliveryStatus.DELIVERED, 2, now, http_status=200)
    earlier = DeliveryRecord(WebhookEvent.COMPLETED, "r", DeliveryStatus.RETRYING, 1, now - timedelta(seconds=5))
    assert held.webhook_store.record_delivery(DEMO_PARTNER, webhook_id, later)
    assert not held.webhook_store.record_delivery(DEMO_PARTNER, webhook_id, earlier)
    assert held.webhooks.get(MINE, webhook_id)["lastDelivery"]["status"] == "DELIVERED"
    held.webhooks.delete(MINE, webhook_id)
    assert not held.webhook_store.record_delivery(DEMO_PARTNER, webhook_id, replace(later, at=now + timedelta(1)))
    assert held.webhook_store.get(DEMO_PARTNER, webhook_id) is None


def test_settled_reports_queue_one_delivery_per_subscribed_webhook_and_reach_the_bus(held: Container) -> None:
    bus = _bus_events(held)
    every = _webhook(held, MINE, "http://127.0.0.1:9/every")
    only_failed = _webhook(held, MINE, "http://127.0.0.1:9/failed", events=["report.failed"])
    _webhook(held, THEIRS, "http://127.0.0.1:9/theirs")  # another partner's: never
    stream = held.reports_stream
    stream.drain_reports_stream()  # nothing settled yet: creates are not events
    assert _queued(held) == []

    completed, failed = _report(held), _report(held)
    _complete(held, completed)
    error = ReportError(ReportErrorCode.GENERATION_FAILED, "The report could not be generated.")
    assert held.report_store.fail(failed, [error])
    stored = held.report_store.get(DEMO_PARTNER, completed.report_id)
    assert stored is not None
    file = ReportFile(f"reports/{DEMO_PARTNER}/{completed.report_id}/r2.csv", 4, "cd" * 32, {}, size=40)
    assert held.report_store.replace_file(replace(stored, revision=2), 1, file, datetime.now(timezone.utc))
    assert stream.drain_reports_stream() > 0

    queued = sorted(_queued(held), key=lambda message: (message["event"], message["webhookId"]))
    assert [(message["event"], message["webhookId"], message["reportId"]) for message in queued] == sorted(
        [
            ("report.completed", every, completed.report_id),
            ("report.failed", every, failed.report_id),
            ("report.failed", only_failed, failed.report_id),
            ("report.regenerated", every, completed.report_id),
        ],
        key=lambda row: (row[0], row[1]),
    )
    regenerated = next(message for message in queued if message["event"] == "report.regenerated")
    assert regenerated["revision"] == 2 and regenerated["data"]["status"] == "COMPLETED"
    assert all(message["partnerOrgId"] == DEMO_PARTNER for message in queued)
    assert len({message["deliveryId"] for message in queued}) == 4

    events = bus()
    assert sorted(event["detail-type"] for event in events) == [
        "Billing Report Completed",
        "Billing Report Failed",
        "Billing Report Regenerated",
    ]
    assert {event["source"] for event in events} == {SOURCE}
    assert {event["detail"]["reportId"] for event in events} == {completed.report_id, failed.report_id}
    assert all(event["detail"]["orgId"] == DEMO_PARTNER for event in events)


def test_a_queued_delivery_reaches_a_real_receiver_signed_and_a_deleted_webhook_gets_none(held: Container) -> None:
    with Receiver() as receiver:
        kept = _webhook(held, MINE, receiver.url, name="kept")
        gone = _webhook(held, MINE, receiver.url + "?gone=1")
        report = _report(held)
        _complete(held, report)
        held.reports_stream.drain_reports_stream()
        held.webhooks.delete(MINE, gone)
        deadline = time.monotonic() + 20
        while len(receiver.received) < 1 and time.monotonic() < deadline:
            held.reports_stream.deliver_webhook_batch()
        held.reports_stream.deliver_webhook_batch()  # anything else would arrive by now
        (delivery,) = receiver.received
        assert delivery.signed_with(SECRET)
        body = delivery.json()
        assert body["webhookId"] == kept and body["name"] == "kept" and body["event"] == "report.completed"
        assert body["data"]["id"] == report.report_id and body["data"]["revision"] == 1
        assert delivery.headers["x-wbr-delivery-id"] == body["id"]
        assert delivery.headers["content-type"] == "application/json"
        assert delivery.headers["user-agent"].startswith("wholesale-billing-reports")
        last = held.webhooks.get(MINE, kept)["lastDelivery"]
        assert last["status"] == "DELIVERED" and last["httpStatus"] == 200 and last["attempt"] == 1
