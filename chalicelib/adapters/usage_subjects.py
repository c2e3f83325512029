"""One customer's, or one subject's, usage for the console's read API (DESIGN §12): a customer's
users and the explanation of one subject's quantity.

Never the whole lake: of each day only the partition object that holds the customer (the lake's
partitions are customer ranges of one org), the closing state partition of one day (when the
subject's assignment began before the period), and the event log of only the days the service
names, read with the key pushed into the Parquet reader.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from chalicelib.domain.events import ASSIGNMENT_TYPES
from chalicelib.domain.usage_view import Subject, SubjectKey, UserRow

_USER_KEYS = ("location_id", "subscription_id", "sku", "subject_type", "user_id", "subscriber_id", "workspace_id")
_KEY_OF_ROW = ("partner_org_id", "customer_org_id", *_USER_KEYS)


@dataclass(frozen=True)
class CustomerUsage:
    """A customer's usage rows of some days (the lake's fields)."""

    table: pa.Table

    def user_totals(self) -> list[UserRow]:
        """Units per USER report key of the customer, in the report's order."""
        table = self.table.filter(pc.greater(self.table["units"], 0))
        summed = (
            table.select([*_USER_KEYS, "units"])
            .group_by(list(_USER_KEYS), use_threads=False)
            .aggregate([("units", "sum")])
            .rename_columns([*_USER_KEYS, "units"])
            .sort_by([(name, "ascending") for name in _USER_KEYS])
        )
        summed = summed.filter(pc.greater(summed["units"], 0))
        return list(zip(*(summed[name].to_pylist() for name in (*_USER_KEYS, "units")), strict=True))

    def subject_keys(self, subject: Subject, sku: str) -> list[SubjectKey]:
        """The subject's keys of `sku` (one per location and subscription) with their day units."""
        is_subject = pc.equal(
            self.table["user_id" if subject.subject_type == "USER" else "workspace_id"], subject.subject_id
        )
        rows = self.table.filter(
            pc.and_(
                pc.and_(is_subject, pc.equal(self.table["subject_type"], subject.subject_type)),
                pc.and_(pc.equal(self.table["sku"], sku), pc.greater(self.table["units"], 0)),
            )
        ).to_pylist()
        keys: dict[tuple[str, ...], dict[date, int]] = {}
        for row in rows:
            days = keys.setdefault(tuple(row[name] for name in _KEY_OF_ROW), {})
            days[row["usage_date"]] = days.get(row["usage_date"], 0) + row["units"]
        return [
            SubjectKey(**dict(zip(_KEY_OF_ROW, key, strict=True)), units_by_day=tuple(sorted(days.items())))
            for key, days in sorted(keys.items())
        ]


class LakeSubjectReads:
    """`customer_usage`, `assigned_since` and `key_events` over the lake and the event log."""

    def __init__(self, lake: Any, event_log: Any) -> None:
        self._lake = lake
        self._events = event_log

    def customer_usage(
        self, day_versions: Mapping[date, int], partner_org_id: str, customer_org_id: str
    ) -> CustomerUsage:
        return CustomerUsage(self._lake.customer_usage(dict(day_versions), partner_org_id, customer_org_id))

    def assigned_since(self, day: date, version: int, key: SubjectKey, partner_org_id: str) -> int | None:
        """When the key's assignment open at the end of `day` began (epoch seconds), if open."""
        state = self._lake.customer_state(day, version, partner_org_id, key.customer_org_id)
        for row in state.filter(_key_condition(state, key)).to_pylist():
            since = row.get("assigned_since")
            return int(since) if since is not None else None
        return None

    def key_events(self, days: Iterable[date], key: SubjectKey) -> list[tuple[int, str, str]]:
        """(occurred_at, event_id, event_type) of the key's assignment events on `days`, each
        once, by time then event id (rating's replay order)."""
        filters = [
            ("event_type", "in", sorted(ASSIGNMENT_TYPES)),
            ("customer_org_id", "=", key.customer_org_id),
            ("sku", "=", key.sku),
            ("user_id" if key.subject_type == "USER" else "workspace_id", "=", key.user_id or key.workspace_id),
        ]
        table = self._events.read_days_where(days, filters)
        table = table.filter(_key_condition(table, key))
        events = {}
        for row in table.select(["occurred_at", "event_id", "event_type"]).to_pylist():
            events[row["event_id"]] = (int(row["occurred_at"]), row["event_id"], row["event_type"])
        return sorted(events.values())


def _key_condition(table: pa.Table, key: SubjectKey) -> Any:
    condition = None
    for name in _KEY_OF_ROW:
        equal = pc.equal(table[name], getattr(key, name))
        condition = equal if condition is None else pc.and_(condition, equal)
    return condition
