"""Webex's sub-partner list (`GET /v1/wholesale/subPartners`, ARCHITECTURE.md §2.7): its query
(`provisioningState`, `offset`, `max`), the caller's direct and nested sub-partners it pages
through, and a partner as the list answers it (Webex's `SubPartner`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from chalicelib.domain.directory import Partner
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.listing import DEFAULT_PAGE_SIZE, parse_max, parse_parameters, refuse_unknown_parameters
from chalicelib.domain.partners import PartnerTree
from chalicelib.domain.reports import parse_enum

MAX_OFFSET = 1_000_000
KNOWN_PARAMETERS = frozenset({"provisioningState", "offset", "max"})


class ProvisioningState(str, Enum):
    ACTIVE = "active"  # the state of a partner whose upserts never stated one
    SUSPENDED = "suspended"


@dataclass(frozen=True)
class SubPartnerQuery:
    provisioning_state: ProvisioningState | None = None
    offset: int = 0
    max_items: int = DEFAULT_PAGE_SIZE

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> SubPartnerQuery:
        """Validate the query parameters; every problem is named, an unknown parameter too."""
        refuse_unknown_parameters(params, KNOWN_PARAMETERS)
        parsers: dict[str, tuple[str, Callable[[str], Any]]] = {
            "provisioningState": (
                "provisioning_state",
                lambda v: parse_enum(ProvisioningState, "provisioningState", v),
            ),
            "offset": ("offset", _parse_offset),
            "max": ("max_items", parse_max),
        }
        return cls(**parse_parameters(params, parsers))

    def next_params(self) -> dict[str, str]:
        """The query of the page after this one."""
        params = {"offset": str(self.offset + self.max_items), "max": str(self.max_items)}
        if self.provisioning_state is not None:
            params["provisioningState"] = self.provisioning_state.value
        return params


def _parse_offset(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_OFFSET:
        raise InvalidRequest(
            f"offset must be an integer from 0 to {MAX_OFFSET}",
            [f"offset: expected an integer from 0 to {MAX_OFFSET}, got {value!r}"],
        )
    return int(value)


def provisioning_state(partner: Partner) -> ProvisioningState:
    return ProvisioningState(partner.provisioning_state or ProvisioningState.ACTIVE.value)


def sub_partner_json(partner: Partner) -> dict[str, Any]:
    """Webex's `SubPartner`: `subscriptionId` only when known; `created` is the directory's
    (when no event stated it, the time of the first upsert applied); `billingStartDate`, when
    never stated, is `created`."""
    item: dict[str, Any] = {"orgId": partner.org_id}
    if partner.subscription_id:
        item["subscriptionId"] = partner.subscription_id
    item["provisioningState"] = provisioning_state(partner).value
    if partner.created:
        item["created"] = partner.created
    if partner.billing_start_date or partner.created:
        item["billingStartDate"] = partner.billing_start_date or partner.created
    return item


def sub_partners_page(tree: PartnerTree, org_id: str, query: SubPartnerQuery) -> tuple[list[dict[str, Any]], bool]:
    """The page `query` names of `org_id`'s sub-partners, direct and nested (never `org_id`
    itself, never outside its subtree), oldest first (ties by org id); and whether more follow."""
    matching = [
        partner
        for partner in (tree.get(sub) for sub in tree.subtree(org_id) if sub != org_id)
        if partner is not None
        and (query.provisioning_state is None or provisioning_state(partner) is query.provisioning_state)
    ]
    matching.sort(key=lambda partner: (partner.created or "", partner.org_id))
    end = query.offset + query.max_items
    return [sub_partner_json(partner) for partner in matching[query.offset : end]], end < len(matching)
