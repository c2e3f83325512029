"""Completion webhooks (ARCHITECTURE.md §6 "Webhooks"): the rules, with no I/O.

A partner registers webhooks (`targetUrl`, `secret`, the events it wants). When one of its
reports settles (completed, failed, regenerated), each subscribed webhook gets one delivery: a
JSON POST signed as Webex signs its webhooks (`X-Spark-Signature`: hex HMAC-SHA1 of the body),
retried with exponential backoff until 24 h after the event. Here: the create body, the target
rules against server-side request forgery, the stream transition that names an event, the
delivery id, the body and its signature, and the retry schedule.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.report_ids import is_webex_id, new_webex_id
from chalicelib.domain.reports import ReportStatus
from chalicelib.domain.timestamps import iso_millis

MAX_NAME_LENGTH = 100
MAX_TARGET_URL_LENGTH = 2048
MIN_SECRET_LENGTH = 8
MAX_SECRET_LENGTH = 256
MAX_WEBHOOKS_PER_PARTNER = 20  # a create beyond it is a 409
DELIVERY_WINDOW = timedelta(hours=24)  # retries stop this long after the event
RESOURCE = "billingReports"
STATUS_ACTIVE = "active"
WEBHOOK_NOT_FOUND = "Webhook not found"
KNOWN_FIELDS = frozenset({"name", "targetUrl", "secret", "events"})

_KIND = "WEBHOOK"
# NAT64 (RFC 6052) embeds an IPv4 address in its last 32 bits: judge that address.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAMES = re.compile(r"(^|\.)(localhost|localdomain)$")


class WebhookEvent(str, Enum):
    COMPLETED = "report.completed"
    FAILED = "report.failed"
    REGENERATED = "report.regenerated"
    SCHEDULED = "report.scheduled"  # a standing schedule's report of a month is ready (§13)


class DeliveryStatus(str, Enum):
    DELIVERED = "DELIVERED"
    RETRYING = "RETRYING"
    GAVE_UP = "GAVE_UP"


# ---- ids ---------------------------------------------------------------------------------


def new_webhook_id(webhook_uuid: uuid.UUID | None = None) -> str:
    """A Webex-style webhook id: base64url("ciscospark://us/WEBHOOK/<uuid4>") without padding."""
    return new_webex_id(_KIND, webhook_uuid)


def is_webhook_id(candidate: str) -> bool:
    """Does `candidate` name a webhook exactly as `new_webhook_id` writes it?"""
    return is_webex_id(_KIND, candidate)


def delivery_id(
    webhook_id: str, report_id: str, revision: int, event: WebhookEvent, schedule_id: str | None = None
) -> str:
    """The same for every attempt (and redelivery) of one event to one webhook: receivers
    deduplicate by it. A `report.scheduled` event names its schedule too (two schedules may
    adopt one report)."""
    key = "\n".join((webhook_id, report_id, str(revision), event.value, *([schedule_id] if schedule_id else [])))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


# ---- the target: SSRF rules ----------------------------------------------------------------


def legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address that `inet_aton` (and so many resolvers and HTTP clients) reads in
    `host`: `127.1`, `0x7f.0.0.1`, `0177.0.0.1`, `2130706433`; None if it is a name."""
    parts = host.removesuffix(".").split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        if re.fullmatch(r"0[xX][0-9a-fA-F]*", part):
            values.append(int(part[2:] or "0", 16))
        elif re.fullmatch(r"0[0-7]*", part):
            values.append(int(part, 8))
        elif re.fullmatch(r"[1-9][0-9]*", part):
            values.append(int(part))
        else:
            return None
    *leading, last = values
    if any(value > 255 for value in leading) or last >= 256 ** (4 - len(leading)):
        return None
    number = last
    for position, value in enumerate(leading):
        number += value << (8 * (3 - position))
    return ipaddress.IPv4Address(number)


def address_problem(address: str, allow_loopback: bool) -> str | None:
    """Why a webhook may not be sent to `address` (an IPv4 or IPv6 literal), or None.

    Refused: private, loopback (allowed in the local stage), link-local, multicast, reserved,
    unspecified and any other non-global address; an IPv6 address that embeds an IPv4 one
    (IPv4-mapped, NAT64, 6to4, Teredo) is judged by the embedded address as well."""
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    except ValueError:
        return f"{address} is not an IP address"
    candidates = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            candidates = [ip.ipv4_mapped]
        elif ip in _NAT64:
            candidates.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        elif ip.sixtofour is not None:
            candidates.append(ip.sixtofour)
        elif ip.teredo is not None:
            candidates.extend(ip.teredo)
    for candidate in candidates:
        if candidate.is_loopback:
            if allow_loopback and candidate is candidates[0]:
                continue
            return "a loopback address"
        for kind, refused in (
            ("an unspecified address", candidate.is_unspecified),
            ("a link-local address", candidate.is_link_local),
            ("a multicast address", candidate.is_multicast),
            ("a private address", candidate.is_private),
            ("a reserved address", candidate.is_reserved),
            ("a non-public address", not candidate.is_global),
        ):
            if refused:
                return kind
    return None


def target_url_problems(url: str, local: bool) -> list[str]:
    """What is wrong with a `targetUrl` by itself (the adapter also checks what its host resolves
    to). Outside the local stage only `https`; no credentials in the URL; a host that is an
    address (in any notation) or a local name must be a public address."""
    if any(character.isspace() or ord(character) < 0x20 or ord(character) == 0x7F for character in url):
        return ["targetUrl: must not contain spaces or control characters"]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return ["targetUrl: is not a valid URL"]
    allowed_schemes = ("http", "https") if local else ("https",)
    problems = []
    if parts.scheme.lower() not in allowed_schemes:
        problems.append(f"targetUrl: must be an {' or '.join(allowed_schemes)} URL")
    host = parts.hostname or ""
    if not host:
        problems.append("targetUrl: must name a host")
    if parts.username is not None or parts.password is not None:
        problems.append("targetUrl: must not carry credentials (user:password@)")
    if host:
        problem = host_problem(host, local)
        if problem:
            problems.append(f"targetUrl: {problem}")
    return problems


def host_problem(host: str, allow_loopback: bool) -> str | None:
    """Why a host written in a URL is refused before any resolution, or None."""
    literal: str | None = None
    try:
        literal = str(ipaddress.ip_address(host))
    except ValueError:
        legacy = legacy_ipv4(host)
        literal = str(legacy) if legacy is not None else None
    if literal is not None:
        problem = address_problem(literal, allow_loopback)
        return f"{host} is {problem}" if problem else None
    if _LOCAL_NAMES.search(host.lower().removesuffix(".")) and not allow_loopback:
        return f"{host} is a loopback name"
    return None


# ---- the create body -----------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookRequest:
    name: str
    target_url: str
    secret: str = field(repr=False)
    events: tuple[WebhookEvent, ...]

    @classmethod
    def from_body(cls, body: Mapping[str, Any], local: bool) -> WebhookRequest:
        """The webhook a create body asks for; InvalidRequest naming every problem. Unknown
        fields are ignored (as the reports create does)."""
        problems: list[str] = []
        name = body.get("name", "")
        if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH:
            problems.append(f"name: must be a string of at most {MAX_NAME_LENGTH} characters")
        target_url = body.get("targetUrl")
        if not isinstance(target_url, str) or not target_url:
            problems.append("targetUrl: required, a URL")
        elif len(target_url) > MAX_TARGET_URL_LENGTH:
            problems.append(f"targetUrl: must be at most {MAX_TARGET_URL_LENGTH} characters")
        else:
            problems += target_url_problems(target_url, local)
        secret = body.get("secret")
        if not isinstance(secret, str) or not MIN_SECRET_LENGTH <= len(secret) <= MAX_SECRET_LENGTH:
            problems.append(f"secret: required, a string of {MIN_SECRET_LENGTH} to {MAX_SECRET_LENGTH} characters")
        events = body.get("events", [event.value for event in WebhookEvent])  # default: all of them
        chosen: list[WebhookEvent] = []
        if not isinstance(events, list) or not events:
            problems.append(f"events: must be a non-empty list of {', '.join(event.value for event in WebhookEvent)}")
        else:
            known = {event.value: event for event in WebhookEvent}
            unknown = [str(event) for event in events if not isinstance(event, str) or event not in known]
            if unknown:
                problems.append(
                    f"events: unknown {', '.join(unknown)[:200]}; "
                    f"one or more of {', '.join(event.value for event in WebhookEvent)}"
                )
            chosen = [known[event] for event in dict.fromkeys(e for e in events if isinstance(e, str) and e in known)]
        if problems:
            raise InvalidRequest(problems[0], problems)
        assert isinstance(target_url, str) and isinstance(secret, str) and isinstance(name, str)
        return cls(name, target_url, secret, tuple(chosen))


# ---- webhooks and their last delivery --------------------------------------------------------


@dataclass(frozen=True)
class DeliveryRecord:
    """What became of the latest delivery attempt of a webhook."""

    event: WebhookEvent
    report_id: str
    status: DeliveryStatus
    attempt: int
    at: datetime
    http_status: int | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event": self.event.value,
            "reportId": self.report_id,
            "status": self.status.value,
            "attempt": self.attempt,
            "at": iso_millis(self.at),
        }
        if self.http_status is not None:
            body["httpStatus"] = self.http_status
        if self.error is not None:
            body["error"] = self.error
        if self.next_attempt_at is not None:
            body["nextAttemptAt"] = iso_millis(self.next_attempt_at)
        return body


@dataclass(frozen=True)
class Webhook:
    partner_org_id: str
    webhook_id: str
    name: str
    target_url: str
    secret: str = field(repr=False)  # signs the deliveries; never in an answer or a log line
    events: tuple[WebhookEvent, ...]
    created: datetime
    created_by: str
    last_delivery: DeliveryRecord | None = None

    def to_json(self) -> dict[str, Any]:
        """The API's view: everything but the secret."""
        body: dict[str, Any] = {
            "id": self.webhook_id,
            "name": self.name,
            "targetUrl": self.target_url,
            "events": [event.value for event in self.events],
            "created": iso_millis(self.created),
            "createdBy": self.created_by,
            "status": STATUS_ACTIVE,
        }
        if self.last_delivery is not None:
            body["lastDelivery"] = self.last_delivery.to_json()
        return body


# ---- which report transitions are events ------------------------------------------------------


def settled_event(
    old_status: str | None, old_revision: int, new_status: str | None, new_revision: int
) -> WebhookEvent | None:
    """The event a change of a report item announces: IN_PROGRESS → COMPLETED is
    `report.completed`, IN_PROGRESS → FAILED `report.failed`, a COMPLETED report at a higher
    revision `report.regenerated`; anything else (parking, leases, versions recorded) none."""
    if old_status == ReportStatus.IN_PROGRESS.value and new_status == ReportStatus.COMPLETED.value:
        return WebhookEvent.COMPLETED
    if old_status == ReportStatus.IN_PROGRESS.value and new_status == ReportStatus.FAILED.value:
        return WebhookEvent.FAILED
    if old_status == new_status == ReportStatus.COMPLETED.value and new_revision > old_revision:
        return WebhookEvent.REGENERATED
    return None


# ---- one delivery: its body, its signature, its retries ----------------------------------------


@dataclass(frozen=True)
class WebhookDelivery:
    """A command on the deliveries queue: send `event` of report `report_id` at `revision` to
    webhook `webhook_id`, attempt `attempt`, not before `not_before`. `data` is the report's list
    item at the event, so every attempt sends the same body."""

    delivery_id: str
    partner_org_id: str
    webhook_id: str
    report_id: str
    revision: int
    event: WebhookEvent
    occurred: datetime
    data: Mapping[str, Any] = field(compare=False)
    attempt: int = 1
    not_before: datetime | None = None

    def gives_up_at(self) -> datetime:
        return self.occurred + DELIVERY_WINDOW


def delivery_body(webhook: Webhook, delivery: WebhookDelivery) -> bytes:
    """The POST body, as Webex shapes a webhook notification (`data`: the report's list item and
    its revision)."""
    body = {
        "id": delivery.delivery_id,
        "webhookId": webhook.webhook_id,
        "name": webhook.name,
        "resource": RESOURCE,
        "event": delivery.event.value,
        "orgId": delivery.partner_org_id,
        "created": iso_millis(delivery.occurred),
        "data": {**delivery.data, "revision": delivery.revision},
    }
    return json.dumps(body, separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    """`X-Spark-Signature`: hex HMAC-SHA1 of the raw body bytes under the webhook's secret."""
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


def retry_delay(attempt: int, base_seconds: float, max_seconds: float) -> float:
    """Seconds to wait after failed attempt `attempt` (1 is the first): base, doubling, capped."""
    return min(base_seconds * 2.0 ** min(attempt - 1, 64), max_seconds)


def next_attempt_at(
    delivery: WebhookDelivery, failed_at: datetime, base_seconds: float, max_seconds: float
) -> datetime | None:
    """When to try again after `delivery` failed at `failed_at`; None: give up (the next try
    would come after the delivery window of 24 h from the event)."""
    at = failed_at + timedelta(seconds=retry_delay(delivery.attempt, base_seconds, max_seconds))
    return at if at <= delivery.gives_up_at() else None


def is_delivered(http_status: int | None) -> bool:
    return http_status is not None and 200 <= http_status < 300
