"""How Plan splits a report into shards (ARCHITECTURE.md §5).

A shard is a range of customer ids ``[customersFrom, customersBefore)``; together the shards
cover every id exactly once (the first starts at "the beginning", the last runs to "the end"),
so usage of a customer the directory does not know yet is still counted, and no customer is
counted twice. Shards are cut so that each holds about `target_rows` usage rows; a customer is
never split (report rows are sorted customer-first, so shard files join by concatenation).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Shard:
    index: int
    customers_from: str | None  # inclusive; None: from the first id
    customers_before: str | None  # exclusive; None: through the last id
    rows: int

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "customersFrom": self.customers_from,
            "customersBefore": self.customers_before,
            "rows": self.rows,
        }


def plan_shards(rows_by_customer: Iterable[tuple[str, int]], target_rows: int, max_shards: int = 1000) -> list[Shard]:
    """Consecutive id ranges of about `target_rows` usage rows each (at most `max_shards`)."""
    if target_rows < 1:
        raise ValueError("target_rows must be positive")
    counts: dict[str, int] = {}
    for customer_id, rows in rows_by_customer:
        counts[customer_id] = counts.get(customer_id, 0) + rows
    customers = sorted(counts)
    total = sum(counts.values())
    target = max(target_rows, -(-total // max_shards))  # never more than max_shards shards
    starts: list[str] = []  # the first customer of every shard after the first
    sizes: list[int] = [0]
    for customer_id in customers:
        if sizes[-1] and sizes[-1] + counts[customer_id] > target:
            starts.append(customer_id)
            sizes.append(0)
        sizes[-1] += counts[customer_id]
    bounds: list[str | None] = [None, *starts, None]
    return [Shard(index, bounds[index], bounds[index + 1], sizes[index]) for index in range(len(sizes))]
