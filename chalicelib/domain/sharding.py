"""How Plan splits a report into shards (ARCHITECTURE.md §5).

A shard is a range of customer ids ``[customersFrom, customersBefore)``; together the shards
cover every id exactly once (the first starts at "the beginning", the last runs to "the end"),
so usage of a customer the directory does not know yet is still counted, and no customer is
counted twice. Shards are cut so that each holds about `target_rows` usage rows; a customer is
never split (report rows are sorted customer-first, so shard files join by concatenation).

Plan also decides where the shard list travels (`carries_shards_inline`): in the workflow's state
for an inline Map, or, past `INLINE_MAX_SHARDS` shards or what a state may carry, in an S3 object
(`shard_list_key`) that a Distributed Map reads. Either way the shards' results come back in the
state, so Plan caps the shard count at what fits (`StateBudget.max_shards`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


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

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Shard:
        return cls(data["index"], data["customersFrom"], data["customersBefore"], data.get("rows", 0))


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


# ---- where the shard list travels (ARCHITECTURE.md §5, "Distributed Map") ------------------

# Step Functions carries at most 256 KiB of state (its UTF-8 JSON) into and out of every state.
STATE_LIMIT_BYTES = 256 * 1024
# Kept free beside what `StateBudget` counts: a caught ``$.error`` (a Lambda error's Cause holds
# its message and stack trace) and the small results of Assemble and Finalize.
STATE_MARGIN_BYTES = 48 * 1024
# An inline Map runs every iteration in the parent execution (one history of at most 25,000
# events); past this many shards a Distributed Map runs each shard as a child execution.
INLINE_MAX_SHARDS = 40
# What one shard's Aggregate result adds to ``$.parts`` beside its parts prefix:
# {"partKey": "<prefix>part-NNNNN.csv", "rows": <up to 15 digits>, "sha256": <64 hex>} and a comma.
PART_RESULT_BYTES = 128
# The object, under the run's parts prefix, that holds the shard list of a distributed run.
SHARD_LIST_NAME = "shards.json"


def json_size(value: object) -> int:
    """Bytes of `value` as compact UTF-8 JSON (how a state's size is measured)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def shard_list_key(parts_prefix: str) -> str:
    """Where a run keeps its shard list: under its parts prefix, so whatever removes the run's
    parts (Finalize, MarkFailed, delete, the sweeper) removes the list too."""
    return parts_prefix + SHARD_LIST_NAME


@dataclass(frozen=True)
class StateBudget:
    """What the workflow's state holds beside the shard list, from Plan's result to Finalize:
    `base_bytes` (the job, the pinned day versions and rows) and `part_bytes` per shard (its
    Aggregate result in ``$.parts``, which both Map flavours hand to Assemble in the state)."""

    base_bytes: int
    part_bytes: int

    @classmethod
    def of(cls, state: object, parts_prefix: str) -> StateBudget:
        return cls(json_size(state), len(parts_prefix.encode("utf-8")) + PART_RESULT_BYTES)

    def room(self) -> int:
        return STATE_LIMIT_BYTES - STATE_MARGIN_BYTES - self.base_bytes

    def max_shards(self, limit: int = 1000) -> int:
        """The most shards whose results fit in the state (at least one, at most `limit`):
        Plan makes shards larger than `target_rows` rather than let ``$.parts`` overflow."""
        return max(1, min(limit, self.room() // self.part_bytes))


def carries_shards_inline(
    shards: list[dict[str, object]], budget: StateBudget, max_inline: int = INLINE_MAX_SHARDS
) -> bool:
    """Does the shard list travel in the state, for an inline Map? Only for at most `max_inline`
    shards whose list fits beside everything else the state carries to Finalize; any other run
    writes the list to S3 for a Distributed Map's ItemReader."""
    if len(shards) > max_inline:
        return False
    return json_size(shards) + len(shards) * budget.part_bytes <= budget.room()
