"""How a usage day is cut into partitions (ARCHITECTURE.md §4 lake): they follow the partner tree.

Every org of the tree (a partner, each sub-partner) has partitions of its own, and a large org's
customers are cut into consecutive id ranges of about `customers_per_partition` customers each.
The cut points are content-defined: a customer id starts a new partition when its CRC-32 is a
multiple of `customers_per_partition`. So the cuts do not move when customers come and go (a new
customer moves no other customer's partition; only a new cut customer splits one range in two),
the same customer lands in the same partition every day, and a report shard cut at partition
starts reads whole objects of its own customers, with no ranged reads.

A partition is named by its org and its first cut customer ("" for the range before the first
cut); its id, which the object is called by, is a digest of both (ids may hold any character).
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

# About this many customers per partition (the bench world's 50 subjects per customer make it
# ~50 000 usage rows per partition and day: a few hundred KiB of Parquet).
CUSTOMERS_PER_PARTITION = 1024


@dataclass(frozen=True, order=True)
class Partition:
    partner_org_id: str
    start: str  # the first cut customer id of the range; "" for the range before the first cut

    @property
    def partition_id(self) -> str:
        digest = hashlib.sha256(f"{self.partner_org_id}\n{self.start}".encode()).hexdigest()
        return f"p-{digest[:24]}"


def starts_partition(customer_org_id: str, customers_per_partition: int = CUSTOMERS_PER_PARTITION) -> bool:
    """Does this customer id begin a partition (a content-defined cut)?"""
    return zlib.crc32(customer_org_id.encode("utf-8")) % customers_per_partition == 0


def cut_points(customer_ids: Iterable[str], customers_per_partition: int = CUSTOMERS_PER_PARTITION) -> list[str]:
    """The partition starts among `customer_ids` (sorted), "" first."""
    return [""] + sorted({c for c in customer_ids if c and starts_partition(c, customers_per_partition)})


def overlaps(start: str, end: str | None, customers_from: str | None, customers_before: str | None) -> bool:
    """Does the customer range [start, end) (end None: to the last id) meet a shard's range
    [customers_from, customers_before)?"""
    if customers_before is not None and start >= customers_before:
        return False
    if customers_from is not None and end is not None and end <= customers_from:
        return False
    return True
