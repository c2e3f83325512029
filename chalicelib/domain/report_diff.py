"""What changed between two reports of one type (ARCHITECTURE.md §3 diffs): this month against
last, or a report against an earlier revision of itself (what a restatement changed).

Rows are matched by their key: the partner and the ids of the row (the type's row key, as
columns); names and dates describe a row and do not identify it. Each row carries, beside the
partner, customer and SKU ids, their names as the directory knows them now (`RowNames`). A row only in the new report
is ADDED, only in the old one REMOVED, in both with another QUANTITY CHANGED; equal rows are left
out. Quantities are integer micro-units throughout; the difference is new − old, exact.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from chalicelib.domain.proration import format_quantity
from chalicelib.domain.report_rows import GROUP_KEYS, csv_cell
from chalicelib.domain.reports import ReportType

RowKey = tuple[str, ...]

# The row key's fields as report columns (subject_type is not a column: the id columns tell it).
_COLUMN_OF_FIELD = {
    "customer_org_id": "CUSTOMER_ORG_ID",
    "location_id": "LOCATION_ID",
    "subscription_id": "SUBSCRIPTION_ID",
    "sku": "SKU",
    "user_id": "USER_ID",
    "subscriber_id": "SUBSCRIBER_ID",
    "workspace_id": "WORKSPACE_ID",
}
SKU_COLUMN = "SKU"
# The name written beside an id column (empty when the directory does not know the id).
NAME_COLUMNS = {"PARTNER_ORG_ID": "PARTNER_NAME", "CUSTOMER_ORG_ID": "CUSTOMER_NAME", "SKU": "SKU_NAME"}


@dataclass(frozen=True)
class RowNames:
    """Names by id, for the id columns of NAME_COLUMNS: partners and customers by org id, SKUs
    by SKU."""

    partners: Mapping[str, str] = field(default_factory=dict)
    customers: Mapping[str, str] = field(default_factory=dict)
    skus: Mapping[str, str] = field(default_factory=dict)

    def of(self, column: str, value: str) -> str:
        names = {"PARTNER_ORG_ID": self.partners, "CUSTOMER_ORG_ID": self.customers, "SKU": self.skus}[column]
        return names.get(value, "")


class Change(str, Enum):
    ADDED = "ADDED"
    REMOVED = "REMOVED"
    CHANGED = "CHANGED"


def key_columns(report_type: ReportType) -> tuple[str, ...]:
    """The columns that identify a row of a report of `report_type` (both categories)."""
    return (
        "PARTNER_ORG_ID",
        *(_COLUMN_OF_FIELD[field] for field in GROUP_KEYS[report_type] if field in _COLUMN_OF_FIELD),
    )


def diff_columns(report_type: ReportType) -> tuple[str, ...]:
    """The diff's header: each key column, the name of its id beside it where it has one."""
    named = (name for column in key_columns(report_type) for name in (column, NAME_COLUMNS.get(column)) if name)
    return ("CHANGE", *named, "OLD_QUANTITY", "NEW_QUANTITY", "DIFFERENCE")


def named_cells(report_type: ReportType, key: RowKey, names: RowNames) -> list[str]:
    """A row key's cells with the names beside their ids, in `diff_columns` order."""
    cells: list[str] = []
    for column, value in zip(key_columns(report_type), key, strict=True):
        cells.append(value)
        if column in NAME_COLUMNS:
            cells.append(names.of(column, value))
    return cells


@dataclass(frozen=True)
class DiffRow:
    change: Change
    key: RowKey
    old_units: int | None  # None: the row is not in the old report
    new_units: int | None  # None: not in the new one

    @property
    def difference(self) -> int:
        return (self.new_units or 0) - (self.old_units or 0)


def diff_rows(old: Mapping[RowKey, int], new: Mapping[RowKey, int]) -> list[DiffRow]:
    """The rows that differ, in key order."""
    rows = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before is None:
            rows.append(DiffRow(Change.ADDED, key, None, after))
        elif after is None:
            rows.append(DiffRow(Change.REMOVED, key, before, None))
        elif before != after:
            rows.append(DiffRow(Change.CHANGED, key, before, after))
    return rows


def signed_quantity(units: int) -> str:
    """Micro-units as the report writes a QUANTITY, with a minus sign when negative."""
    return "-" + format_quantity(-units) if units < 0 else format_quantity(units)


def render_diff_csv(report_type: ReportType, rows: Sequence[DiffRow], names: RowNames | None = None) -> str:
    """The diff as RFC 4180 CSV (CRLF): ids and names through the report's CSV-injection guard,
    the numbers as plain decimals (a number is never a formula, so a negative DIFFERENCE is
    written as it is)."""
    names = names or RowNames()
    lines = [",".join(csv_cell(column) for column in diff_columns(report_type))]
    for row in rows:
        numbers = (
            "" if row.old_units is None else format_quantity(row.old_units),
            "" if row.new_units is None else format_quantity(row.new_units),
            signed_quantity(row.difference),
        )
        cells = named_cells(report_type, row.key, names)
        lines.append(",".join([row.change.value, *(csv_cell(cell) for cell in cells), *numbers]))
    return "".join(line + "\r\n" for line in lines)


@dataclass
class SkuTotals:
    old_units: int = 0
    new_units: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0

    def to_json(self, sku: str, name: str) -> dict[str, object]:
        return {
            "sku": sku,
            "skuName": name,
            "oldQuantity": format_quantity(self.old_units),
            "newQuantity": format_quantity(self.new_units),
            "difference": signed_quantity(self.new_units - self.old_units),
            "rowsAdded": self.added,
            "rowsRemoved": self.removed,
            "rowsChanged": self.changed,
        }


def summarize(
    report_type: ReportType,
    old: Mapping[RowKey, int],
    new: Mapping[RowKey, int],
    rows: Sequence[DiffRow],
    names: RowNames | None = None,
) -> dict[str, object]:
    """Totals per SKU (over all rows of each report, changed or not; each with its name) and
    counts of rows added, removed, changed and unchanged; quantities as exact decimal text."""
    names = names or RowNames()
    sku_at = key_columns(report_type).index(SKU_COLUMN)
    totals: dict[str, SkuTotals] = {}
    for units_by_key, attribute in ((old, "old_units"), (new, "new_units")):
        for key, units in units_by_key.items():
            entry = totals.setdefault(key[sku_at], SkuTotals())
            setattr(entry, attribute, getattr(entry, attribute) + units)
    counted = {Change.ADDED: "added", Change.REMOVED: "removed", Change.CHANGED: "changed"}
    for row in rows:
        entry = totals[row.key[sku_at]]
        setattr(entry, counted[row.change], getattr(entry, counted[row.change]) + 1)
    old_total, new_total = sum(old.values()), sum(new.values())
    return {
        "rowsAdded": sum(1 for row in rows if row.change is Change.ADDED),
        "rowsRemoved": sum(1 for row in rows if row.change is Change.REMOVED),
        "rowsChanged": sum(1 for row in rows if row.change is Change.CHANGED),
        "rowsUnchanged": len(old.keys() & new.keys()) - sum(1 for row in rows if row.change is Change.CHANGED),
        "oldQuantity": format_quantity(old_total),
        "newQuantity": format_quantity(new_total),
        "difference": signed_quantity(new_total - old_total),
        "skus": [totals[sku].to_json(sku, names.of(SKU_COLUMN, sku)) for sku in sorted(totals)],
    }


def named_ids(report_type: ReportType, keys: Iterable[RowKey]) -> dict[str, set[str]]:
    """The ids of each named column (NAME_COLUMNS) that `keys` hold: what a `RowNames` needs."""
    columns = key_columns(report_type)
    ids: dict[str, set[str]] = {column: set() for column in NAME_COLUMNS if column in columns}
    for key in keys:
        for column, values in ids.items():
            values.add(key[columns.index(column)])
    return ids
