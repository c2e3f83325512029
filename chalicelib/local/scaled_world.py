"""Worlds made to size, for benchmarks: `scaled_world` (one partner with as many users and
workspaces as asked, each assigned from before the first day through the last) and
`merge_worlds` (several in one lake). `demo_events` and `load_demo` (local/demo.py) put them
through the real pipeline as they do the demo world."""

from __future__ import annotations

import random
from datetime import date

from chalicelib.domain.proration import SECONDS_PER_DAY, day_start_epoch
from chalicelib.domain.report_rows import Customer, Partner
from chalicelib.local.demo import SKUS, USER_SKUS, WORKSPACE_SKU, Assignment, DemoWorld, webex_id

SCALED_PARTNER = webex_id("ORGANIZATION", "scaled-wholesale")


def scaled_world(
    first_day: date,
    last_day: date,
    subjects: int,
    subjects_per_customer: int = 50,
    workspace_share: float = 0.1,
    seed: int = 17,
    partner_org_id: str = SCALED_PARTNER,
    partner_name: str = "Scale Wholesale",
) -> DemoWorld:
    """One partner (`SCALED_PARTNER`, or `partner_org_id`) with `subjects` users and workspaces,
    for benchmarks (`merge_worlds` puts several in one lake; their ids never collide).

    The subjects are spread at random over ``ceil(subjects / subjects_per_customer)`` customers
    of one to three locations each, two subscriptions and the five SKUs (workspaces the common
    area one). Every subject joins at a random second of the day before `first_day` and stays
    assigned through the end of `last_day`, so a USER report over first_day..last_day has
    exactly `subjects` rows, made of ``subjects × days`` usage rows. `demo_events` turns the
    world into events as for the demo (with duplicate deliveries and redundant ASSIGNED events);
    nothing is unassigned, so there are no late events."""
    rng = random.Random(seed)
    partner = Partner(partner_org_id, partner_name)
    tag = "" if partner_org_id == SCALED_PARTNER else f"{partner_org_id[-12:]}-"  # ids of another partner differ
    customer_count = max(1, -(-subjects // subjects_per_customer))
    customers = [
        Customer(webex_id("ORGANIZATION", f"{tag}scaled-customer-{n}"), partner_org_id, f"EXT-{tag}S{n + 1:07d}")
        for n in range(customer_count)
    ]
    locations = [
        [webex_id("LOCATION", f"{tag}scaled-customer-{n}-location-{k}") for k in range(rng.randint(1, 3))]
        for n in range(customer_count)
    ]
    subscriptions = ["Sub-SCALE-0001", "Sub-SCALE-0002"]
    world = DemoWorld([partner], customers, list(SKUS), first_day=first_day, last_day=last_day)
    joined_day = day_start_epoch(first_day) - SECONDS_PER_DAY
    end = day_start_epoch(last_day) + SECONDS_PER_DAY
    for number in range(subjects):
        index = rng.randrange(customer_count)
        customer = customers[index]
        if rng.random() < workspace_share:
            subject = ("WORKSPACE", "", "", webex_id("PLACE", f"{tag}scaled-workspace-{number}"))
            sku = WORKSPACE_SKU
        else:
            subject = ("USER", webex_id("PEOPLE", f"{tag}scaled-user-{number}"), f"SUBSCRIBER-{tag}S{number:07d}", "")
            sku = rng.choice(USER_SKUS)
        world.assignments.append(
            Assignment(
                partner_org_id,
                customer.org_id,
                rng.choice(locations[index]),
                rng.choice(subscriptions),
                sku,
                *subject,
                ((joined_day + rng.randrange(SECONDS_PER_DAY), end),),
            )
        )
    return world


def merge_worlds(*worlds: DemoWorld) -> DemoWorld:
    """Several worlds in one lake (one directory, the SKUs once): e.g. a small partner beside a
    large one, for a report whose cost must follow its partner, not the lake."""
    first = worlds[0]
    return DemoWorld(
        [partner for world in worlds for partner in world.partners],
        [customer for world in worlds for customer in world.customers],
        list(first.skus),
        [assignment for world in worlds for assignment in world.assignments],
        first_day=min(world.first_day for world in worlds),
        last_day=max(world.last_day for world in worlds),
    )
