"""The directory a report is named from: partners (a tree of sub-partners), their customers
(external id, `internal`), SKUs. Provisioning events upsert it (latest `occurredAt` wins,
adapters/dynamo_directory.py); `domain/partners.py` holds the tree's rules."""

from __future__ import annotations

from dataclasses import dataclass


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
    name: str = ""  # optional on CUSTOMER_UPSERTED; "" when never given


@dataclass(frozen=True)
class Sku:
    sku: str
    service_name: str
    description: str
