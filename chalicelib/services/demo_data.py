"""The demo partner tree and its usage (for `make run`, tests and benchmarks).

A deterministic generator (seeded) of a directory and of assignment intervals: users joining and
leaving mid-day, moving between locations, upgrading SKUs, and workspaces. Until the event
pipeline exists the loader rates those intervals with the domain's proration and writes the
lake days through the same adapter that rating uses, then publishes them.
"""

from __future__ import annotations

import base64
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

from chalicelib.domain.proration import SECONDS_PER_DAY, Interval, day_start_epoch, units_by_day
from chalicelib.domain.report_rows import USAGE_FIELDS, CustomerInfo, PartnerInfo, SkuInfo

_NAMESPACE = uuid.UUID("6f1d8a1e-2b7c-4c1e-9a57-1f3f5e0b9c11")


def webex_id(kind: str, name: str) -> str:
    """A stable Webex-style id: base64url("ciscospark://us/<KIND>/<uuid5(name)>")."""
    raw = f"ciscospark://us/{kind}/{uuid.uuid5(_NAMESPACE, name)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


SKUS = [
    SkuInfo("WXC-WHL-PRO", "WEBEX_CALLING", "Webex Calling Professional"),
    SkuInfo("WXC-WHL-STD", "WEBEX_CALLING", "Webex Calling Standard"),
    SkuInfo("WXM-WHL-MTG", "WEBEX_MEETINGS", "Webex Meetings"),
    SkuInfo("WXS-WHL-SUITE", "WEBEX_SUITE", "Webex Suite (Calling and Meetings)"),
    SkuInfo("WXC-WHL-CAW", "COMMON_AREA_CALLING", "Webex Calling Common Area Workspace"),
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
    partners: list[PartnerInfo]
    customers: list[CustomerInfo]
    skus: list[SkuInfo]
    assignments: list[Assignment] = field(default_factory=list)
    first_day: date = date(1970, 1, 1)
    last_day: date = date(1970, 1, 1)


def demo_world(today: date, days: int = 90, users: int = 320, workspaces: int = 36, seed: int = 7) -> DemoWorld:
    """The demo partner tree with `days` of usage ending yesterday."""
    rng = random.Random(seed)
    partners = [
        PartnerInfo(DEMO_PARTNER, "Acme Wholesale"),
        PartnerInfo(DEMO_SUB_PARTNER, "Acme Reseller East", DEMO_PARTNER),
        PartnerInfo(OTHER_PARTNER, "Globex Telecom"),
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
    customers = [
        CustomerInfo(webex_id("ORGANIZATION", name), partner, f"EXT-{index + 1:04d}", internal)
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
        customer: CustomerInfo,
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


class DemoSink(Protocol):
    def upsert_partner(self, partner: PartnerInfo) -> None: ...
    def upsert_customer(self, customer: CustomerInfo) -> None: ...
    def upsert_sku(self, sku: SkuInfo) -> None: ...


def load_demo(
    world: DemoWorld,
    directory: DemoSink,
    lake: Any,
    calendar: Any,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> int:
    """Write the directory, every day's usage (as version 1) and publish the days; rows written."""
    for partner in world.partners:
        directory.upsert_partner(partner)
    for customer in world.customers:
        directory.upsert_customer(customer)
    for sku in world.skus:
        directory.upsert_sku(sku)
    days = usage_by_day(world.assignments)
    total_rows = 0
    all_days = [world.first_day + timedelta(days=n) for n in range((world.last_day - world.first_day).days + 1)]
    for done, day in enumerate(all_days, start=1):
        version = 1
        written = lake.write_day(day, version, days.get(day, []))
        calendar.publish(day, version, written)
        total_rows += written
        progress(done, len(all_days))
    return total_rows
