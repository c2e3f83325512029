"""Where the usage lake's objects are and what a day version's manifest names (adapters/usage_lake.py).

A day version is ``usage/date=D/v=N/<partition>.parquet`` (rows of `USAGE_SCHEMA`), its closing
rating state ``state/date=D/v=N/``, each with a manifest (`MANIFEST`) naming every partition's
object, rows and SHA-256: a `PartitionEntry`, which knows where its org's next partition starts,
so which customers it may hold. A day written before partitions is one `LEGACY_DAY_OBJECT` with a
counts object beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa

from chalicelib.domain.lake_partitions import Partition
from chalicelib.domain.report_rows import USAGE_FIELDS
from chalicelib.services.ports import UsageSlice

USAGE_SCHEMA = pa.schema(
    [
        ("usage_date", pa.date32()),
        ("partner_org_id", pa.string()),
        ("customer_org_id", pa.string()),
        ("location_id", pa.string()),
        ("subscription_id", pa.string()),
        ("sku", pa.string()),
        ("subject_type", pa.string()),
        ("user_id", pa.string()),
        ("subscriber_id", pa.string()),
        ("workspace_id", pa.string()),
        ("units", pa.int64()),
    ]
)
assert tuple(USAGE_SCHEMA.names) == USAGE_FIELDS
MANIFEST = "_partitions.json"
LEGACY_DAY_OBJECT = "part-00000.parquet"  # a day version written before partitions


def day_prefix(day: date, version: int) -> str:
    return f"usage/date={day.isoformat()}/v={version}/"


def state_prefix(day: date, version: int) -> str:
    """The rating state at the end of a day (the usage keys assigned at midnight), partitioned."""
    return f"state/date={day.isoformat()}/v={version}/"


def legacy_counts_key(day: date, version: int) -> str:
    return f"counts/date={day.isoformat()}/v={version}/customers.parquet"


@dataclass(frozen=True)
class PartitionEntry:
    """One partition of a day version, as its manifest names it."""

    partition: Partition
    key: str  # the object (this version's, or the older version's it was kept from)
    rows: int
    sha256: str
    end: str | None  # the next partition start of the same org; None: through the last id

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.partition.partition_id,
            "partnerOrgId": self.partition.partner_org_id,
            "start": self.partition.start,
            "key": self.key,
            "rows": self.rows,
            "sha256": self.sha256,
        }


def manifest_entries(listed: list[dict[str, Any]]) -> list[PartitionEntry]:
    """Manifest items → entries, each knowing where its org's next partition starts."""
    ordered = sorted(listed, key=lambda item: (item["partnerOrgId"], item["start"]))
    entries = []
    for index, item in enumerate(ordered):
        following = ordered[index + 1] if index + 1 < len(ordered) else None
        end = following["start"] if following and following["partnerOrgId"] == item["partnerOrgId"] else None
        entries.append(
            PartitionEntry(
                Partition(item["partnerOrgId"], item["start"]), item["key"], int(item["rows"]), item["sha256"], end
            )
        )
    return entries


def holds_chosen(usage: UsageSlice, start: str, end: str | None) -> bool:
    """May a partition of customers [start, end) hold one of the slice's chosen customers?"""
    chosen = usage.customer_org_ids
    return chosen is None or any(start <= org_id and (end is None or org_id < end) for org_id in chosen)


def holding(entries: list[PartitionEntry], partner_org_id: str, customer_org_id: str) -> list[PartitionEntry]:
    """The partition of `partner_org_id` whose customer range holds `customer_org_id`."""
    return [
        entry
        for entry in entries
        if entry.partition.partner_org_id == partner_org_id
        and entry.partition.start <= customer_org_id
        and (entry.end is None or customer_org_id < entry.end)
    ]
