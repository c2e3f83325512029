"""Report columns, row keys, row order and the CSV rendering of rows (ARCHITECTURE.md §3).

The group key and the sort order of every report type are defined here once, the columns in
`domain/report_columns.py`; the aggregation engine (adapters/report_sql.py), the tests and their
reference aggregation (`aggregate_reference`, tests/oracles.py) all derive from them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chalicelib.domain.directory import Customer, Partner, Sku
from chalicelib.domain.events import KEY_FIELDS
from chalicelib.domain.report_columns import COLUMN_BY_NAME, RowFacts, cell_text, default_columns, file_columns
from chalicelib.domain.report_kinds import ReportCategory, ReportType

# Webex's columns of a reconciliation report of each type (domain/report_columns.py); USER's are all.
ALL_COLUMNS: tuple[str, ...] = default_columns(ReportType.USER)

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
    """Webex's columns of a reconciliation report of `report_type`, in file order."""
    return default_columns(report_type)


@dataclass(frozen=True)
class RowContext:
    """What a report's rows are named with: the partner the report is for and the directory;
    which columns its file has (`columns`: those its request chose, else Webex's of the type and
    category) and the days of its period (SEAT_EQUIVALENTS divides by them)."""

    report_type: ReportType
    partner: Partner
    customers: Mapping[str, Customer]
    skus: Mapping[str, Sku]
    category: ReportCategory = ReportCategory.RECONCILIATION
    columns: tuple[str, ...] | None = None
    period_days: int = 0

    @property
    def file_columns(self) -> tuple[str, ...]:
        return file_columns(self.report_type, self.category, self.columns)

    def cells_of(self, facts: RowFacts) -> list[str]:
        """The cells of the row `facts`, in `file_columns` order."""
        return [cell_text(COLUMN_BY_NAME[name], self, facts) for name in self.file_columns]

    def header(self) -> list[str]:
        return list(self.file_columns)


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
        """The header line of Webex's file of `report_type` (a context's: `render([context.header()])`)."""
        return self.render([list(columns_for(report_type))])
