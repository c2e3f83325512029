"""The usage rollup's tables (DESIGN §12) and their sums, in Arrow: a day's usage rows rolled up
into sums and subjects (`rollup_of`), the keys its events touched (`touched_of`), and
`RollupTables`, what the read API sums over a day, a month or a period. Their objects in S3:
adapters/usage_rollup.py."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from chalicelib.domain.events import KEY_FIELDS
from chalicelib.domain.usage_view import RollupRow

ROLLUP_KEYS = ("customer_org_id", "location_id", "subscription_id", "sku")
SUMS_SCHEMA = pa.schema(
    [
        ("partner_org_id", pa.string()),
        *((name, pa.string()) for name in ROLLUP_KEYS),
        ("units", pa.int64()),
        ("subjects", pa.int64()),
    ]
)
SUBJECTS_SCHEMA = pa.schema(
    [("partner_org_id", pa.string()), ("customer_org_id", pa.string()), ("subject", pa.string())]
)
# Each key an event touched that day: one row per (deduplicated) event, in rating's replay order,
# with the key's units that day: what explain and a customer's users walk through the days.
TOUCHED_SCHEMA = pa.schema(
    [
        *((name, pa.string()) for name in KEY_FIELDS),
        ("units", pa.int64()),
        ("occurred_at", pa.int64()),
        ("event_id", pa.string()),
        ("event_type", pa.string()),
    ]
)


def subject_column(usage: pa.Table) -> pa.ChunkedArray:
    """A subject as one string: its type and its id (a USER's userId, a WORKSPACE's workspaceId)."""
    is_user = pc.equal(usage["subject_type"], "USER")
    ident = pc.if_else(is_user, usage["user_id"], usage["workspace_id"])
    return pc.binary_join_element_wise(usage["subject_type"], ident, ":")


def subject_text(subject_type: str, subject_id: str) -> str:
    return f"{subject_type}:{subject_id}"


def rollup_of(usage: pa.Table) -> tuple[pa.Table, pa.Table]:
    """A day's usage rows (the lake's fields) → (sums, subjects), sorted by partner."""
    usage = usage.filter(pc.greater(usage["units"], 0))
    keys = ["partner_org_id", *ROLLUP_KEYS]
    sums = (
        usage.select([*keys, "units"])
        .group_by(keys, use_threads=False)
        .aggregate([("units", "sum"), ("units", "count")])
        .rename_columns([*keys, "units", "subjects"])
    )
    sums = sums.sort_by([(name, "ascending") for name in keys]).cast(SUMS_SCHEMA)
    pairs = pa.table(
        {
            "partner_org_id": usage["partner_org_id"],
            "customer_org_id": usage["customer_org_id"],
            "subject": subject_column(usage),
        }
    )
    subjects = pairs.group_by(list(SUBJECTS_SCHEMA.names), use_threads=False).aggregate([])
    subjects = subjects.sort_by([(name, "ascending") for name in SUBJECTS_SCHEMA.names]).cast(SUBJECTS_SCHEMA)
    return sums, subjects


def touched_of(usage: pa.Table, events: pa.Table | None) -> pa.Table:
    """The day's assignment events (each eventId once) with their key's units that day, sorted by
    partner, customer, key, then replay order (time, eventId)."""
    if events is None or events.num_rows == 0:
        return TOUCHED_SCHEMA.empty_table()
    ids = events["event_id"]
    first = pc.index_in(pc.unique(ids), value_set=ids)  # the first row of each eventId
    events = events.take(first).select([*KEY_FIELDS, "occurred_at", "event_id", "event_type"])
    units = (
        usage.select([*KEY_FIELDS, "units"]).group_by(list(KEY_FIELDS), use_threads=False).aggregate([("units", "sum")])
    )
    joined = events.join(units.rename_columns([*KEY_FIELDS, "units"]), keys=list(KEY_FIELDS), join_type="left outer")
    joined = joined.set_column(joined.schema.get_field_index("units"), "units", pc.fill_null(joined["units"], 0))
    order = [(name, "ascending") for name in (*KEY_FIELDS, "occurred_at", "event_id")]
    return joined.select(TOUCHED_SCHEMA.names).cast(TOUCHED_SCHEMA).sort_by(order)


def by_org(table: pa.Table) -> dict[str, pa.Table]:
    """A table sorted by partner_org_id → its rows per org."""
    if table.num_rows == 0:
        return {}
    values, counts = pc.value_counts(table["partner_org_id"]).flatten()
    pieces: dict[str, pa.Table] = {}
    start = 0
    for org, count in sorted(zip(values.to_pylist(), counts.to_pylist(), strict=True)):
        pieces[org] = table.slice(start, count)
        start += count
    return pieces


@dataclass(frozen=True)
class RollupTables:
    """Sums and subjects of some orgs over some days (one day, a month, or their union)."""

    sums: pa.Table
    subjects: pa.Table
    distinct: bool = True  # each (customer, subject) pair once: one day, one month, or orgs apart

    @classmethod
    def empty(cls) -> RollupTables:
        return cls(SUMS_SCHEMA.empty_table(), SUBJECTS_SCHEMA.empty_table())

    @classmethod
    def combined(cls, parts: Iterable[RollupTables], disjoint: bool = False) -> RollupTables:
        """The parts side by side; `disjoint`: they hold different customers (orgs apart)."""
        parts = list(parts)
        if not parts:
            return cls.empty()
        if len(parts) == 1:
            return parts[0]
        return cls(
            pa.concat_tables([part.sums for part in parts]),
            pa.concat_tables([part.subjects for part in parts]),
            disjoint and all(part.distinct for part in parts),
        )

    def summed(self) -> RollupTables:
        """Equal keys summed, subjects distinct (a period made of several days or months)."""
        keys = ["partner_org_id", *ROLLUP_KEYS]
        sums = (
            self.sums.group_by(keys, use_threads=False)
            .aggregate([("units", "sum"), ("subjects", "sum")])
            .rename_columns([*keys, "units", "subjects"])
            .sort_by([(name, "ascending") for name in keys])
            .cast(SUMS_SCHEMA)
        )
        subjects = self.subjects.group_by(list(SUBJECTS_SCHEMA.names), use_threads=False).aggregate([])
        return RollupTables(sums, subjects.cast(SUBJECTS_SCHEMA))

    def _kept(self, table: pa.Table, excluded: Iterable[str], only: Iterable[str] | None) -> pa.Table:
        if only is not None:
            table = table.filter(pc.is_in(table["customer_org_id"], value_set=pa.array(sorted(only), pa.string())))
        excluded = sorted(excluded)
        if excluded:
            table = table.filter(
                pc.invert(pc.is_in(table["customer_org_id"], value_set=pa.array(excluded, pa.string())))
            )
        return table

    def rows(
        self, excluded: Iterable[str] = (), only: Iterable[str] | None = None, by: Iterable[str] = ROLLUP_KEYS
    ) -> list[RollupRow]:
        """(customer, location, subscription, sku, units) rows with units, the customers
        `excluded` left out, of the customers `only` when given; summed over the fields not in
        `by` (those are "" in the rows), in Arrow, so a partner's thousands of rows stay cheap."""
        by = [name for name in ROLLUP_KEYS if name in set(by)]
        table = self._kept(self.sums, excluded, only)
        table = table.filter(pc.greater(table["units"], 0))
        summed = table.group_by(by, use_threads=False).aggregate([("units", "sum")]).rename_columns([*by, "units"])
        blank = [""] * summed.num_rows
        columns = [summed[name].to_pylist() if name in by else blank for name in ROLLUP_KEYS]
        return list(zip(*columns, summed["units"].to_pylist(), strict=True))

    def customer_count(self, excluded: Iterable[str] = (), only: Iterable[str] | None = None) -> int:
        """Customers with units."""
        table = self._kept(self.sums, excluded, only)
        table = table.filter(pc.greater(table["units"], 0))
        return int(pc.count_distinct(table["customer_org_id"]).as_py())

    def subject_count(self, excluded: Iterable[str] = (), only: Iterable[str] | None = None) -> int:
        """Distinct (customer, subject) pairs with units (a subject is counted once per period)."""
        table = self._kept(self.subjects, excluded, only).select(["customer_org_id", "subject"])
        if self.distinct:
            return table.num_rows
        return table.group_by(["customer_org_id", "subject"], use_threads=False).aggregate([]).num_rows

    def customers_of_subject(self, subject_type: str, subject_id: str) -> list[str]:
        found = self.subjects.filter(pc.equal(self.subjects["subject"], subject_text(subject_type, subject_id)))
        return sorted(set(found["customer_org_id"].to_pylist()))
