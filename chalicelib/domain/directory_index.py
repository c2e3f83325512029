"""The whole directory held in memory, as a report reads it (the `Directory` port): partners,
SKUs, and each partner's customers as a sorted id array, so a shard's customer range is two
bisections per partner, never one read per customer (adapters/directory_snapshot.py loads it
from one S3 object; ARCHITECTURE.md §5.1)."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field

from chalicelib.domain.directory import Customer, Partner, Sku


@dataclass(frozen=True)
class DirectoryIndex:
    """An immutable directory: what one snapshot version holds."""

    partner_list: tuple[Partner, ...]
    sku_list: tuple[Sku, ...]
    # partner org id → (its customers' ids, ascending; the customers, in the same order)
    by_partner: dict[str, tuple[tuple[str, ...], tuple[Customer, ...]]] = field(repr=False)

    @classmethod
    def of(cls, partners: Iterable[Partner], customers: Iterable[Customer], skus: Iterable[Sku]) -> DirectoryIndex:
        """Index the entities; a customer id appears at most once per partner (the last wins)."""
        grouped: dict[str, dict[str, Customer]] = {}
        for customer in customers:
            grouped.setdefault(customer.partner_org_id, {})[customer.org_id] = customer
        by_partner: dict[str, tuple[tuple[str, ...], tuple[Customer, ...]]] = {}
        for partner_org_id, by_id in grouped.items():
            ids = tuple(sorted(by_id))
            by_partner[partner_org_id] = (ids, tuple(by_id[org_id] for org_id in ids))
        return cls(
            tuple(sorted(partners, key=lambda partner: partner.org_id)),
            tuple(sorted(skus, key=lambda sku: sku.sku)),
            by_partner,
        )

    @property
    def is_empty(self) -> bool:
        """No partner: nothing a report could be named from (never taken as the truth)."""
        return not self.partner_list

    @property
    def customer_count(self) -> int:
        return sum(len(ids) for ids, _ in self.by_partner.values())

    def customers(self) -> list[Customer]:
        """Every customer, by (partner, id)."""
        return [customer for _, (_, customers) in sorted(self.by_partner.items()) for customer in customers]

    # ---- the Directory port -------------------------------------------------------------

    def partners(self) -> list[Partner]:
        return list(self.partner_list)

    def customers_of(
        self, partner_org_ids: Iterable[str], customers_from: str | None = None, customers_before: str | None = None
    ) -> list[Customer]:
        """Customers of the partners with ids in [customers_from, customers_before), sorted by id
        (as `DynamoDirectory.customers_of` answers: a partner named twice is listed twice)."""
        found: list[Customer] = []
        for partner_org_id in partner_org_ids:
            ids, customers = self.by_partner.get(partner_org_id, ((), ()))
            low = 0 if customers_from is None else bisect_left(ids, customers_from)
            high = len(ids) if customers_before is None else bisect_left(ids, customers_before)
            if low < high:
                found.extend(customers[low:high])
        return sorted(found, key=lambda customer: customer.org_id)

    def skus(self) -> list[Sku]:
        return list(self.sku_list)
