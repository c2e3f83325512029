"""The webhook rules of chalicelib/domain/webhooks.py and the typing of reports-stream records
(ARCHITECTURE.md §6 "Webhooks")."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.dynamo_codec import to_item
from chalicelib.adapters.report_stream import settled_of_stream_record
from chalicelib.adapters.sqs_deliveries import delivery_from_json, delivery_json
from chalicelib.adapters.webhook_http import HttpWebhookSender
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.report_ids import new_report_id
from chalicelib.domain.webhooks import (
    DELIVERY_WINDOW,
    Webhook,
    WebhookDelivery,
    WebhookEvent,
    WebhookRequest,
    address_problem,
    delivery_body,
    delivery_id,
    host_problem,
    is_webhook_id,
    legacy_ipv4,
    new_webhook_id,
    next_attempt_at,
    retry_delay,
    settled_event,
    signature,
    target_url_problems,
)

T0 = datetime(2026, 11, 24, 10, 15, 30, 123000, tzinfo=timezone.utc)
VALID = {"targetUrl": "https://hooks.example.com/wbr", "secret": "s3cret-value"}


# ---- signature, body, ids ------------------------------------------------------------------


def test_signature_is_hex_hmac_sha1_of_the_raw_body() -> None:
    body = b'{"id":"x","data":{"a":1}}'
    assert signature("s3cret-value", body) == hmac.new(b"s3cret-value", body, hashlib.sha1).hexdigest()
    assert signature("s3cret-value", body) != signature("s3cret-valuf", body)
    assert signature("s3cret-value", body) != signature("s3cret-value", body + b" ")
    assert len(signature("k" * 8, b"")) == 40


def _webhook(**overrides: object) -> Webhook:
    values: dict = {
        "partner_org_id": "org-1",
        "webhook_id": new_webhook_id(uuid.UUID(int=1)),
        "name": "ops",
        "target_url": "https://hooks.example.com/wbr",
        "secret": "s3cret-value",
        "events": tuple(WebhookEvent),
        "created": T0,
        "created_by": "person-1",
    }
    values.update(overrides)
    return Webhook(**values)


def _delivery(**overrides: object) -> WebhookDelivery:
    webhook = _webhook()
    values: dict = {
        "delivery_id": delivery_id(webhook.webhook_id, "r-1", 2, WebhookEvent.REGENERATED),
        "partner_org_id": "org-1",
        "webhook_id": webhook.webhook_id,
        "report_id": "r-1",
        "revision": 2,
        "event": WebhookEvent.REGENERATED,
        "occurred": T0,
        "data": {"id": "r-1", "status": "COMPLETED"},
    }
    values.update(overrides)
    return WebhookDelivery(**values)


def test_the_body_is_webex_shaped_and_carries_the_report_and_its_revision() -> None:
    webhook, delivery = _webhook(), _delivery()
    body = json.loads(delivery_body(webhook, delivery))
    assert body == {
        "id": delivery.delivery_id,
        "webhookId": webhook.webhook_id,
        "name": "ops",
        "resource": "billingReports",
        "event": "report.regenerated",
        "orgId": "org-1",
        "created": "2026-11-24T10:15:30.123Z",
        "data": {"id": "r-1", "status": "COMPLETED", "revision": 2},
    }
    assert "s3cret" not in delivery_body(webhook, delivery).decode()
    assert "s3cret" not in repr(webhook) and "s3cret" not in json.dumps(webhook.to_json())


def test_delivery_id_is_deterministic_and_tells_every_part_apart() -> None:
    base = delivery_id("w", "r", 1, WebhookEvent.COMPLETED)
    assert base == delivery_id("w", "r", 1, WebhookEvent.COMPLETED)
    others = {
        delivery_id("w2", "r", 1, WebhookEvent.COMPLETED),
        delivery_id("w", "r2", 1, WebhookEvent.COMPLETED),
        delivery_id("w", "r", 2, WebhookEvent.COMPLETED),
        delivery_id("w", "r", 1, WebhookEvent.FAILED),
    }
    assert base not in others and len(others) == 4


def test_webhook_ids_round_trip_and_nothing_else_is_one() -> None:
    webhook_id = new_webhook_id()
    assert is_webhook_id(webhook_id)
    assert not is_webhook_id(new_report_id())
    assert not is_webhook_id(webhook_id + "A") and not is_webhook_id("") and not is_webhook_id("#count")


def test_a_queued_delivery_survives_the_queue_unchanged() -> None:
    delivery = _delivery(attempt=3, not_before=T0 + timedelta(seconds=90))
    again = delivery_from_json(delivery_json(delivery))
    assert again == delivery and again.data == delivery.data


# ---- backoff ---------------------------------------------------------------------------------


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    assert [retry_delay(attempt, 30, 3600) for attempt in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
    assert retry_delay(10_000, 0.5, 5) == 5  # no overflow for absurd attempts


def test_retries_end_24_hours_after_the_event() -> None:
    """Walk the whole schedule: every retry is inside the window, the one after it is not."""
    delivery, failed_at, attempts = _delivery(), T0, []
    while (retry := next_attempt_at(delivery, failed_at, 30, 3600)) is not None:
        attempts.append(retry)
        delivery = WebhookDelivery(**{**delivery.__dict__, "attempt": delivery.attempt + 1})
        failed_at = retry
    assert attempts and attempts[-1] <= T0 + DELIVERY_WINDOW
    assert failed_at + timedelta(seconds=retry_delay(delivery.attempt, 30, 3600)) > T0 + DELIVERY_WINDOW
    assert 25 <= len(attempts) <= 35  # 8 doublings, then hourly for the rest of the day
    # a failure just before the end: given up rather than retried past the window
    assert next_attempt_at(_delivery(), T0 + DELIVERY_WINDOW - timedelta(seconds=10), 30, 3600) is None
    assert next_attempt_at(_delivery(), T0 + DELIVERY_WINDOW - timedelta(seconds=31), 30, 3600) is not None


# ---- SSRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "127.255.0.9",
        "169.254.169.254",  # the metadata service
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "100.64.0.1",  # shared address space
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.1.2.3",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "::127.0.0.1",  # IPv4-compatible (deprecated)
    ],
)
def test_non_public_addresses_are_refused(address: str) -> None:
    assert address_problem(address, allow_loopback=False) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_problem(address, allow_loopback=False) is None


def test_the_local_stage_allows_loopback_only() -> None:
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert address_problem(address, allow_loopback=True) is None
    for address in ("10.0.0.1", "169.254.169.254", "0.0.0.0", "64:ff9b::7f00:1"):
        assert address_problem(address, allow_loopback=True) is not None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("0", "0.0.0.0"),
        ("3232235777", "192.168.1.1"),
        ("169.254.169.254.", "169.254.169.254"),
    ],
)
def test_decimal_octal_and_short_hosts_read_as_the_address_they_are(host: str, address: str) -> None:
    assert str(legacy_ipv4(host)) == address
    assert host_problem(host, allow_loopback=False) is not None


@pytest.mark.parametrize("host", ["example.com", "0x.example", "1.2.3.4.5", "08.1.1.1", "256.1.1.1", "hooks"])
def test_names_are_not_addresses(host: str) -> None:
    assert legacy_ipv4(host) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/x",  # not https outside local
        "ftp://hooks.example.com/x",
        "https://user:pw@hooks.example.com/x",
        "https:///nohost",
        "https://localhost/x",
        "https://a.localhost/x",
        "https://[::1]/x",
        "https://[::ffff:7f00:1]/x",
        "https://2130706433/x",
        "https://169.254.169.254/latest/meta-data",
        "https://hooks.example.com:99999/x",
        "https://hooks.example.com/a b",
    ],
)
def test_target_urls_refused_outside_the_local_stage(url: str) -> None:
    assert target_url_problems(url, local=False)


def test_the_local_stage_takes_http_and_loopback() -> None:
    assert target_url_problems("http://127.0.0.1:8080/hook", local=True) == []
    assert target_url_problems("http://localhost:8080/hook", local=True) == []
    assert target_url_problems("http://10.0.0.1/hook", local=True)
    assert target_url_problems("https://hooks.example.com/wbr", local=False) == []


def _resolver(*addresses: str):  # type: ignore[no-untyped-def]
    def resolve(host: str, port: int, **kwargs: object) -> list:
        return [(0, 0, 0, "", (address, port)) for address in addresses]

    return resolve


def test_a_host_resolving_to_any_refused_address_is_refused_and_nothing_is_sent() -> None:
    sender = HttpWebhookSender(allow_loopback=False, resolve=_resolver("93.184.216.34", "10.0.0.7"))
    problems = sender.target_problems("https://rebind.example.com/x")
    assert problems and "10.0.0.7" in problems[0]
    result = sender.post("https://rebind.example.com/x", b"{}", {})
    assert result.http_status is None and "10.0.0.7" in (result.error or "")
    assert HttpWebhookSender(False, resolve=_resolver("93.184.216.34")).target_problems("https://ok.example/x") == []

    def unresolvable(*args: object, **kwargs: object) -> list:
        raise OSError("Name or service not known")

    assert "does not resolve" in HttpWebhookSender(False, resolve=unresolvable).target_problems("https://x.invalid/")[0]


# ---- the create body -------------------------------------------------------------------------


def test_a_valid_body_defaults_to_all_events_and_ignores_unknown_fields() -> None:
    request = WebhookRequest.from_body({**VALID, "extra": 1}, local=False)
    assert request.events == tuple(WebhookEvent) and request.name == ""
    chosen = WebhookRequest.from_body({**VALID, "events": ["report.failed", "report.failed"], "name": "n"}, False)
    assert chosen.events == (WebhookEvent.FAILED,) and chosen.name == "n"


def test_every_problem_is_named() -> None:
    with pytest.raises(InvalidRequest) as raised:
        WebhookRequest.from_body(
            {"name": "x" * 101, "targetUrl": "http://10.0.0.1/x", "secret": "short", "events": ["report.done"]},
            local=False,
        )
    problems = raised.value.problems
    assert [problem.split(":")[0] for problem in problems] == ["name", "targetUrl", "targetUrl", "secret", "events"]
    assert "report.done" in problems[-1]
    for body, field in (
        ({"secret": "s3cret-value"}, "targetUrl"),
        ({**VALID, "targetUrl": "https://h.example/" + "a" * 2048}, "targetUrl"),
        ({**VALID, "secret": "k" * 257}, "secret"),
        ({**VALID, "secret": 12345678}, "secret"),
        ({**VALID, "events": []}, "events"),
        ({**VALID, "events": "report.completed"}, "events"),
        ({**VALID, "name": 5}, "name"),
    ):
        with pytest.raises(InvalidRequest) as raised:
            WebhookRequest.from_body(body, local=False)
        assert [problem.split(":")[0] for problem in raised.value.problems] == [field], body


# ---- reports-stream records ------------------------------------------------------------------


def _record(event_name: str, old: dict | None, new: dict | None) -> dict:
    change: dict = {"ApproximateCreationDateTime": T0.timestamp()}
    if old is not None:
        change["OldImage"] = to_item(old)
    if new is not None:
        change["NewImage"] = to_item(new)
    return {"eventName": event_name, "dynamodb": change}


def _item(status: str, revision: int = 1, **extra: object) -> dict:
    report_id = new_report_id(uuid.UUID(int=7))
    listing = json.dumps({"id": report_id, "status": status, "type": "USER"})
    return {
        "partnerOrgId": "org-1",
        "reportId": report_id,
        "status": status,
        "revision": revision,
        "listing": listing,
        **extra,
    }


def test_transitions_that_are_events() -> None:
    assert settled_event("IN_PROGRESS", 1, "COMPLETED", 1) is WebhookEvent.COMPLETED
    assert settled_event("IN_PROGRESS", 1, "FAILED", 1) is WebhookEvent.FAILED
    assert settled_event("COMPLETED", 1, "COMPLETED", 2) is WebhookEvent.REGENERATED
    for change in (
        ("IN_PROGRESS", 1, "IN_PROGRESS", 1),  # parked, leased, woken
        ("COMPLETED", 2, "COMPLETED", 2),  # versions recorded, regeneration claimed
        (None, 1, "IN_PROGRESS", 1),
        ("COMPLETED", 1, None, 1),
    ):
        assert settled_event(*change) is None, change


def test_stream_records_are_typed_at_the_edge() -> None:
    completed = settled_of_stream_record(_record("MODIFY", _item("IN_PROGRESS"), _item("COMPLETED")))
    assert completed is not None and completed.event == "report.completed" and completed.revision == 1
    assert completed.partner_org_id == "org-1" and completed.summary["status"] == "COMPLETED"
    assert completed.at == datetime.fromtimestamp(T0.timestamp(), tz=timezone.utc)
    regenerated = settled_of_stream_record(_record("MODIFY", _item("COMPLETED"), _item("COMPLETED", 2)))
    assert regenerated is not None and regenerated.event == "report.regenerated" and regenerated.revision == 2
    failed = settled_of_stream_record(_record("MODIFY", _item("IN_PROGRESS"), _item("FAILED")))
    assert failed is not None and failed.event == "report.failed"
    lock = {"partnerOrgId": "org-1", "reportId": "LOCK#USER|…", "lockedReportId": "x"}
    counter = {"partnerOrgId": "org-1", "reportId": "COUNTER#IN_PROGRESS", "inProgress": 1}
    for record in (
        _record("INSERT", None, _item("IN_PROGRESS")),
        _record("REMOVE", _item("COMPLETED"), None),
        _record("MODIFY", _item("IN_PROGRESS"), _item("IN_PROGRESS", waitingFor="2026-11-20")),
        _record("MODIFY", _item("COMPLETED"), _item("COMPLETED", runName="regen")),
        _record("MODIFY", lock, {**lock, "lockedReportId": "y"}),
        _record("MODIFY", counter, {**counter, "inProgress": 0}),
    ):
        assert settled_of_stream_record(record) is None, record


def test_null_is_not_a_default() -> None:
    for field in ("name", "events"):
        with pytest.raises(InvalidRequest) as raised:
            WebhookRequest.from_body({**VALID, field: None}, local=False)
        assert raised.value.problems[0].startswith(field)
