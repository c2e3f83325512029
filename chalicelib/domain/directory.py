"""The directory a report is named from: partners (a tree of sub-partners), their customers
(external id, name, `internal`, the names of their locations), SKUs. Provisioning events upsert it (latest `occurredAt` wins,
adapters/dynamo_directory.py); `domain/partners.py` holds the tree's rules."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Partner:
    """A partner; the last four fields are what Webex's sub-partner list answers of it
    (PARTNER_UPSERTED's optional fields; None when never stated: `domain/sub_partners.py` says
    what is answered then). Report generation names rows from the first three."""

    org_id: str
    name: str
    parent_org_id: str | None = None
    subscription_id: str | None = None
    provisioning_state: str | None = None  # active | suspended
    created: str | None = None  # ISO-8601 UTC, milliseconds
    billing_start_date: str | None = None  # ISO-8601 UTC, milliseconds


@dataclass(frozen=True)
class Customer:
    org_id: str
    partner_org_id: str
    external_id: str
    internal: bool = False
    name: str = ""  # CUSTOMER_UPSERTED `name` (optional): the CUSTOMER_NAME column
    # (location id, name) pairs, by id: LOCATION_UPSERTED events name a customer's locations
    locations: tuple[tuple[str, str], ...] = ()

    def location_name(self, location_id: str) -> str:
        """The name of one of the customer's locations ("" when it has none)."""
        return dict(self.locations).get(location_id, "")

    def with_location(self, location_id: str, name: str) -> Customer:
        """The customer with location `location_id` named `name`."""
        named = dict(self.locations)
        named[location_id] = name
        return replace(self, locations=tuple(sorted(named.items())))


@dataclass(frozen=True)
class Sku:
    sku: str
    service_name: str
    description: str


@dataclass(frozen=True)
class Location:
    """A customer's location and its name (LOCATION_UPSERTED): the LOCATION_NAME column."""

    partner_org_id: str
    customer_org_id: str
    location_id: str
    name: str


def with_locations(customers: list[Customer], locations: list[Location]) -> list[Customer]:
    """`customers` with the names of their locations attached (a location of another customer,
    or of an unknown one, names nothing)."""
    by_customer: dict[tuple[str, str], list[Location]] = {}
    for location in locations:
        by_customer.setdefault((location.partner_org_id, location.customer_org_id), []).append(location)
    named = []
    for customer in customers:
        for location in by_customer.get((customer.partner_org_id, customer.org_id), []):
            customer = customer.with_location(location.location_id, location.name)
        named.append(customer)
    return named
