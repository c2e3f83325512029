"""Report columns, row keys, row order and the CSV rendering of rows (ARCHITECTURE.md §3).

The column list, the group key and the sort order of every report type are defined here once;
the aggregation engine, the reference implementation and the tests all derive from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date

from chalicelib.domain.directory import Customer, Partner, Sku
from chalicelib.domain.events import KEY_FIELDS
from chalicelib.domain.proration import format_quantity
from chalicelib.domain.reports import ReportType

ALL_COLUMNS: tuple[str, ...] = (
    "PARTNER_NAME",
    "PARTNER_ORG_ID",
    "SUBSCRIPTION_ID",
    "SERVICE_NAME",
    "SKU",
    "DESCRIPTION",
    "CONSUMPTION_START_DATE",
    "CONSUMPTION_END_DATE",
    "QUANTITY",
    "CUSTOMER_ORG_ID",
    "CUSTOMER_EXTERNAL_ID",
    "SUBSCRIBER_ID",
    "USER_ID",
    "WORKSPACE_ID",
    "LOCATION_ID",
)
_CUSTOMER_COLUMNS = {"CUSTOMER_ORG_ID", "CUSTOMER_EXTERNAL_ID", "LOCATION_ID"}
_USER_COLUMNS = {"SUBSCRIBER_ID", "USER_ID", "WORKSPACE_ID"}

# Fields of the usage lake (one row per key and day); absent ids are empty strings, never null.
USAGE_FIELDS: tuple[str, ...] = ("usage_date", *KEY_FIELDS, "units")

# Row key of each report type, in sort order: rows of a file are sorted by these fields.
# Customer-led order lets shards (ranges of customers) be concatenated without a merge.
GROUP_KEYS: dict[ReportType, tuple[str, ...]] = {
    ReportType.PARTNER: ("subscription_id", "sku"),
    ReportType.CUSTOMER: ("customer_org_id", "location_id", "subscription_id", "sku"),
    ReportType.USER: (
        "customer_org_id",
        "location_id",
        "subscription_id",
        "sku",
        "subject_type",
        "user_id",
        "subscriber_id",
        "workspace_id",
    ),
}

# The CSV-injection guard: a cell starting with one of these (a spreadsheet would evaluate it)
# gets GUARD_PREFIX in front. The DuckDB rendering (adapters/report_sql.py) is built from these.
INJECTION_LEADS = ("=", "+", "-", "@", "\t", "\r")
GUARD_PREFIX = "'"
# RFC 4180 minimal quoting, as csv.writer(QUOTE_MINIMAL) with CRLF line ends: a cell holding
# one of these is quoted, its quotes doubled.
CSV_QUOTE = '"'
CSV_QUOTED_WHEN = (",", CSV_QUOTE, "\r", "\n")


def columns_for(report_type: ReportType) -> tuple[str, ...]:
    excluded: set[str] = set()
    if report_type is ReportType.PARTNER:
        excluded = _CUSTOMER_COLUMNS | _USER_COLUMNS
    elif report_type is ReportType.CUSTOMER:
        excluded = _USER_COLUMNS
    return tuple(column for column in ALL_COLUMNS if column not in excluded)


@dataclass(frozen=True)
class AggregatedRow:
    """One report row before naming: its key values (GROUP_KEYS order) and its usage."""

    key: tuple[str, ...]
    units: int
    first_day: date
    last_day: date


@dataclass(frozen=True)
class RowContext:
    """What a report's rows are named with: the partner the report is for and the directory."""

    report_type: ReportType
    partner: Partner
    customers: Mapping[str, Customer]
    skus: Mapping[str, Sku]

    def cells(self, row: AggregatedRow) -> list[str]:
        """The row's cells in `columns_for(report_type)` order."""
        values = self.named(dict(zip(GROUP_KEYS[self.report_type], row.key, strict=True)))
        values["CONSUMPTION_START_DATE"] = row.first_day.isoformat()
        values["CONSUMPTION_END_DATE"] = row.last_day.isoformat()
        values["QUANTITY"] = format_quantity(row.units)
        return [values[column] for column in columns_for(self.report_type)]

    def named(self, fields: Mapping[str, str]) -> dict[str, str]:
        """The columns that name a row, from its key `fields` (GROUP_KEYS of the type) and the
        directory: the partner, the subscription and SKU, and for CUSTOMER and USER rows the
        customer and location, for USER rows the subject."""
        sku_info = self.skus.get(fields["sku"])
        values = {
            "PARTNER_NAME": self.partner.name,
            "PARTNER_ORG_ID": self.partner.org_id,
            "SUBSCRIPTION_ID": fields["subscription_id"],
            "SERVICE_NAME": sku_info.service_name if sku_info else "",
            "SKU": fields["sku"],
            "DESCRIPTION": sku_info.description if sku_info else "",
        }
        if self.report_type is not ReportType.PARTNER:
            customer = self.customers.get(fields["customer_org_id"])
            values["CUSTOMER_ORG_ID"] = fields["customer_org_id"]
            values["CUSTOMER_EXTERNAL_ID"] = customer.external_id if customer else ""
            values["LOCATION_ID"] = fields["location_id"]
        if self.report_type is ReportType.USER:
            values["SUBSCRIBER_ID"] = fields["subscriber_id"]
            values["USER_ID"] = fields["user_id"]
            values["WORKSPACE_ID"] = fields["workspace_id"]
        return values


def neutralise_cell(value: str) -> str:
    """Guard against CSV injection: a cell a spreadsheet would evaluate gets a leading quote."""
    return GUARD_PREFIX + value if value.startswith(INJECTION_LEADS) else value


def csv_cell(value: str) -> str:
    """One cell as the file holds it: the injection guard, then quoted (quotes doubled) when
    it holds any of CSV_QUOTED_WHEN (RFC 4180 minimal quoting)."""
    neutral = neutralise_cell(value)
    if any(character in neutral for character in CSV_QUOTED_WHEN):
        return CSV_QUOTE + neutral.replace(CSV_QUOTE, CSV_QUOTE * 2) + CSV_QUOTE
    return neutral


def _csv_line(row: list[str]) -> str:
    if row == [""]:  # a lone empty cell is written quoted, so the line is not read as no cells
        return CSV_QUOTE * 2 + "\r\n"
    return ",".join(csv_cell(cell) for cell in row) + "\r\n"


class CsvRenderer:
    """RFC 4180 CSV (CRLF line ends, minimal quoting) with the injection guard on every cell."""

    def render(self, rows: Iterable[list[str]]) -> str:
        return "".join(_csv_line(row) for row in rows)

    def header(self, report_type: ReportType) -> str:
        return self.render([list(columns_for(report_type))])


def aggregate_reference(report_type: ReportType, usage: Iterable[Mapping[str, object]]) -> Iterator[AggregatedRow]:
    """Straightforward pure-Python aggregation of usage rows; the engine must agree with it."""
    keys = GROUP_KEYS[report_type]
    totals: dict[tuple[str, ...], list] = {}
    for record in usage:
        units = int(record["units"])  # type: ignore[call-overload]
        if units <= 0:
            continue
        key = tuple(str(record[field]) for field in keys)
        day = record["usage_date"]
        entry = totals.get(key)
        if entry is None:
            totals[key] = [units, day, day]
        else:
            entry[0] += units
            entry[1] = min(entry[1], day)
            entry[2] = max(entry[2], day)
    for key in sorted(totals):
        units, first, last = totals[key]
        yield AggregatedRow(key, units, first, last)
