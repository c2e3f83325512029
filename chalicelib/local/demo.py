"""The demo partner tree and its usage (for `make run`, tests and benchmarks).

A fixture generator, not a use case: a deterministic (seeded) directory and assignment
intervals — users joining and leaving mid-day, moving between locations, upgrading SKUs,
workspaces, a sub-partner and an internal customer. `demo_events` turns them into provisioning
events (with duplicate deliveries, redundant ASSIGNED events and a batch of late events), and
`load_demo` puts those through the real pipeline: ingestion, rating of every day, then the late
events, which restate the last days. `usage_by_day` is the same intervals prorated directly by the
domain: the expectation tests hold the pipeline's lake to. Worlds made to size for benchmarks are
local/scaled_world.py's.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from chalicelib.domain.proration import SECONDS_PER_DAY, Interval, day_start_epoch, units_by_day
from chalicelib.domain.report_ids import new_webex_id
from chalicelib.domain.report_rows import USAGE_FIELDS, Customer, Partner, Sku
from chalicelib.domain.timestamps import iso_seconds

_NAMESPACE = uuid.UUID("6f1d8a1e-2b7c-4c1e-9a57-1f3f5e0b9c11")


def webex_id(kind: str, name: str) -> str:
    """A stable Webex-style id: base64url("ciscospark://us/<KIND>/<uuid5(name)>")."""
    return new_webex_id(kind, uuid.uuid5(_NAMESPACE, name))


SKUS = [
    Sku("WXC-WHL-PRO", "WEBEX_CALLING", "Webex Calling Professional"),
    Sku("WXC-WHL-STD", "WEBEX_CALLING", "Webex Calling Standard"),
    Sku("WXM-WHL-MTG", "WEBEX_MEETINGS", "Webex Meetings"),
    Sku("WXS-WHL-SUITE", "WEBEX_SUITE", "Webex Suite (Calling and Meetings)"),
    Sku("WXC-WHL-CAW", "COMMON_AREA_CALLING", "Webex Calling Common Area Workspace"),
]
USER_SKUS = ["WXC-WHL-PRO", "WXC-WHL-STD", "WXM-WHL-MTG", "WXS-WHL-SUITE"]
WORKSPACE_SKU = "WXC-WHL-CAW"

DEMO_PARTNER = webex_id("ORGANIZATION", "acme-wholesale")
DEMO_SUB_PARTNER = webex_id("ORGANIZATION", "acme-reseller-east")
OTHER_PARTNER = webex_id("ORGANIZATION", "globex-telecom")
DEMO_ADMIN = webex_id("PEOPLE", "acme-admin")


@dataclass(frozen=True)
class Assignment:
    """One usage key with the intervals during which its package was assigned."""

    partner_org_id: str
    customer_org_id: str
    location_id: str
    subscription_id: str
    sku: str
    subject_type: str
    user_id: str
    subscriber_id: str
    workspace_id: str
    intervals: tuple[Interval, ...]


@dataclass
class DemoWorld:
    partners: list[Partner]
    customers: list[Customer]
    skus: list[Sku]
    assignments: list[Assignment] = field(default_factory=list)
    first_day: date = date(1970, 1, 1)
    last_day: date = date(1970, 1, 1)


def demo_world(
    today: date, days: int = 90, users: int = 320, workspaces: int = 36, seed: int = 7, extra_customers: int = 0
) -> DemoWorld:
    """The demo partner tree with `days` of usage ending yesterday; `extra_customers` more
    customers of the demo partner (a report of many shards: one customer is never split)."""
    rng = random.Random(seed)
    def since(days_ago: int) -> str:  # a sub-partner fact: ISO-8601 UTC, milliseconds
        return f"{(today - timedelta(days=days_ago)).isoformat()}T09:30:00.000Z"

    partners = [
        Partner(DEMO_PARTNER, "Acme Wholesale", None, "Sub-ACME-0001", "active", since(730), since(723)),
        Partner(
            DEMO_SUB_PARTNER, "Acme Reseller East", DEMO_PARTNER, "Sub-EAST-0001", "active", since(365), since(358)
        ),
        Partner(OTHER_PARTNER, "Globex Telecom", None, "Sub-GLOBEX-0001", "active", since(500), since(493)),
    ]
    customer_plan = [
        (DEMO_PARTNER, "Bluebird Dental", False),
        (DEMO_PARTNER, "Cedar Logistics", False),
        (DEMO_PARTNER, "Delta Legal LLP", False),
        (DEMO_PARTNER, "Evergreen Schools", False),
        (DEMO_PARTNER, "Fjord Architects", False),
        (DEMO_PARTNER, "Acme Internal Lab", True),
        (DEMO_SUB_PARTNER, "Granite Clinics", False),
        (DEMO_SUB_PARTNER, "Harbor Freight Co", False),
        (DEMO_SUB_PARTNER, "Ivy Accounting", False),
        (OTHER_PARTNER, "Juniper Hotels", False),
        (OTHER_PARTNER, "Kestrel Media", False),
    ]
    customer_plan += [(DEMO_PARTNER, f"Customer {number:03d}", False) for number in range(extra_customers)]
    customers = [
        Customer(webex_id("ORGANIZATION", name), partner, f"EXT-{index + 1:04d}", internal, name)
        for index, (partner, name, internal) in enumerate(customer_plan)
    ]
    subscriptions = {
        DEMO_PARTNER: ["Sub-ACME-0001", "Sub-ACME-0002"],
        DEMO_SUB_PARTNER: ["Sub-EAST-0001"],
        OTHER_PARTNER: ["Sub-GLOBEX-0001"],
    }
    locations = {
        customer.org_id: [webex_id("LOCATION", f"{customer.org_id}-{n}") for n in range(rng.randint(1, 3))]
        for customer in customers
    }
    customers = [  # the locations' names (LOCATION_UPSERTED): the customer's head office, then sites
        customer_with_named_locations(customer, locations[customer.org_id]) for customer in customers
    ]
    first_day = today - timedelta(days=days)
    window_start = day_start_epoch(first_day)
    window_end = day_start_epoch(today)  # usage stops at the end of yesterday
    world = DemoWorld(partners, customers, list(SKUS), first_day=first_day, last_day=today - timedelta(days=1))

    def interval() -> Interval:
        # A third of the subjects are there from before the window; others join at any second.
        start = window_start - SECONDS_PER_DAY if rng.random() < 0.35 else rng.randrange(window_start, window_end)
        end = window_end if rng.random() < 0.7 else rng.randrange(start + 1, window_end + 1)
        return (max(start, window_start - SECONDS_PER_DAY), min(end, window_end))

    def add(
        customer: Customer,
        location: str,
        sku: str,
        subject: tuple[str, str, str, str],
        intervals: Iterable[Interval],
    ) -> None:
        kept = tuple((max(a, window_start), b) for a, b in intervals if b > window_start)
        if kept:
            world.assignments.append(
                Assignment(
                    customer.partner_org_id,
                    customer.org_id,
                    location,
                    rng.choice(subscriptions[customer.partner_org_id]),
                    sku,
                    *subject,
                    kept,
                )
            )

    for number in range(users):
        customer = customers[number % len(customers)]
        subject = ("USER", webex_id("PEOPLE", f"user-{number}"), f"SUBSCRIBER-{number:06d}", "")
        start, end = interval()
        location, sku = rng.choice(locations[customer.org_id]), rng.choice(USER_SKUS)
        change = rng.random()
        if change < 0.1 and end - start > 2 * SECONDS_PER_DAY:  # moves to another location mid-way
            middle = rng.randrange(start + 1, end)
            add(customer, location, sku, subject, [(start, middle)])
            add(customer, rng.choice(locations[customer.org_id]), sku, subject, [(middle, end)])
        elif change < 0.2 and end - start > 2 * SECONDS_PER_DAY and sku == "WXC-WHL-STD":  # upgrade
            middle = rng.randrange(start + 1, end)
            add(customer, location, sku, subject, [(start, middle)])
            add(customer, location, "WXC-WHL-PRO", subject, [(middle, end)])
        elif change < 0.3:  # leaves and comes back, with an overlapping duplicate assignment
            middle = rng.randrange(start, end) if end > start else start
            add(customer, location, sku, subject, [(start, middle), (max(start, middle - 3600), end)])
        else:
            add(customer, location, sku, subject, [(start, end)])
    for number in range(workspaces):
        customer = customers[(number * 3) % len(customers)]
        subject = ("WORKSPACE", "", "", webex_id("PLACE", f"workspace-{number}"))
        add(customer, rng.choice(locations[customer.org_id]), WORKSPACE_SKU, subject, [interval()])
    return world


def customer_with_named_locations(customer: Customer, location_ids: list[str]) -> Customer:
    for number, location_id in enumerate(location_ids):
        label = "Head Office" if number == 0 else f"Site {number + 1}"
        customer = customer.with_location(location_id, f"{customer.name} {label}")
    return customer


def usage_by_day(assignments: Iterable[Assignment]) -> dict[date, list[dict[str, Any]]]:
    """Rate the assignments: one usage row per key and UTC day with micro-units."""
    days: dict[date, list[dict[str, Any]]] = {}
    for assignment in assignments:
        for day, units in units_by_day(assignment.intervals).items():
            row = {name: getattr(assignment, name) for name in USAGE_FIELDS if hasattr(assignment, name)}
            row["usage_date"] = day
            row["units"] = units
            days.setdefault(day, []).append(row)
    return days


def _merged(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(start, end) for start, end in merged]


def demo_events(
    world: DemoWorld, seed: int = 7, late_days: int = 3
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The world as provisioning events: (on-time events, late events).

    On-time events include duplicates (same eventId twice) and redundant ASSIGNED events while
    assigned, which rating must ignore. Late events are UNASSIGNED events of the last
    `late_days` days held back, so that ingesting them after rating restates those days."""
    rng = random.Random(seed)
    directory_time = iso_seconds(day_start_epoch(world.first_day) - 2 * SECONDS_PER_DAY)
    counter = iter(range(10**9))

    def event_id() -> str:
        return f"evt-{seed}-{next(counter):09d}"

    events: list[dict[str, Any]] = []
    for partner in world.partners:
        events.append(
            {
                "eventId": event_id(),
                "eventType": "PARTNER_UPSERTED",
                "occurredAt": directory_time,
                "partnerOrgId": partner.org_id,
                "name": partner.name,
                "parentPartnerOrgId": partner.parent_org_id,
                "subscriptionId": partner.subscription_id,
                "provisioningState": partner.provisioning_state,
                "created": partner.created,
                "billingStartDate": partner.billing_start_date,
            }
        )
    for customer in world.customers:
        events.append(
            {
                "eventId": event_id(),
                "eventType": "CUSTOMER_UPSERTED",
                "occurredAt": directory_time,
                "customerOrgId": customer.org_id,
                "partnerOrgId": customer.partner_org_id,
                "externalId": customer.external_id,
                "internal": customer.internal,
                "name": customer.name,
            }
        )
        for number, (location_id, location_name) in enumerate(customer.locations):
            events.append(
                {
                    "eventId": f"evt-{seed}-location-{customer.org_id}-{number}",
                    "eventType": "LOCATION_UPSERTED",
                    "occurredAt": directory_time,
                    "partnerOrgId": customer.partner_org_id,
                    "customerOrgId": customer.org_id,
                    "locationId": location_id,
                    "name": location_name,
                }
            )
    for sku in world.skus:
        events.append(
            {
                "eventId": event_id(),
                "eventType": "SKU_UPSERTED",
                "occurredAt": directory_time,
                "sku": sku.sku,
                "serviceName": sku.service_name,
                "description": sku.description,
            }
        )
    late: list[dict[str, Any]] = []
    late_after = day_start_epoch(world.last_day) - (late_days - 1) * SECONDS_PER_DAY
    usage_end = day_start_epoch(world.last_day) + SECONDS_PER_DAY
    for assignment in world.assignments:
        subject: dict[str, str] = {"type": assignment.subject_type}
        if assignment.subject_type == "USER":
            subject.update(userId=assignment.user_id, subscriberId=assignment.subscriber_id)
        else:
            subject["workspaceId"] = assignment.workspace_id
        common = {
            "partnerOrgId": assignment.partner_org_id,
            "customerOrgId": assignment.customer_org_id,
            "locationId": assignment.location_id,
            "subscriptionId": assignment.subscription_id,
            "sku": assignment.sku,
            "subject": subject,
        }
        for start, end in _merged(assignment.intervals):
            assigned = {
                "eventId": event_id(),
                "eventType": "PACKAGE_ASSIGNED",
                "occurredAt": iso_seconds(start),
                **common,
            }
            events.append(assigned)
            if rng.random() < 0.03:
                events.append(dict(assigned))  # delivered twice
            if rng.random() < 0.03 and end - start > 2:
                moment = rng.randrange(start + 1, end)  # a redundant ASSIGNED while assigned
                events.append({**assigned, "eventId": event_id(), "occurredAt": iso_seconds(moment)})
            if end < usage_end:
                unassigned = {
                    "eventId": event_id(),
                    "eventType": "PACKAGE_UNASSIGNED",
                    "occurredAt": iso_seconds(end),
                    **common,
                }
                (late if end >= late_after else events).append(unassigned)
    rng.shuffle(events)  # ingestion is order-free
    return events, late


@dataclass(frozen=True)
class DemoLoad:
    events: int
    days_rated: int
    usage_rows: int
    restated_from: date | None


def load_demo(
    world: DemoWorld, ingestion: Any, rating: Any, progress: Callable[[int, int], None] = lambda done, total: None
) -> DemoLoad:
    """Ingest the world's events, rate every day through the last, then ingest the late events,
    which restates the days they fall on (through the real pipeline, as production data)."""
    on_time, late = demo_events(world)
    ingestion.ingest_lines((json.dumps(event) for event in on_time), source="demo")
    rated = rating.rate_through(world.last_day, progress)
    late_report = ingestion.ingest_lines((json.dumps(event) for event in late), source="demo-late")
    while rating.restate_pending():  # the late events' restatement, before the stack serves
        pass
    return DemoLoad(
        events=len(on_time) + len(late),
        days_rated=len(rated),
        usage_rows=sum(day.usage_rows for day in rated),
        restated_from=late_report.restated_from,
    )
