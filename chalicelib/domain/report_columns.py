"""The report columns, in one table (DESIGN §4, §4a; the create extension `columns` of §3).

Each column says its name, the row key field it shows or is looked up by, how its text is
written (`Text`), which report types carry it, and its place in the files of each category that
carries it. Webex's columns are in every file of their type; the extensions only in a file whose
create request names them (`columns`). Everything else is derived from `COLUMNS`: the default
columns of a file (`default_columns`), what a request may name (`column_problems`), the cells of a
row (`cell_text`), the typed formats' column types, and the DuckDB rendering of
`adapters/report_sql.py`, whose SQL for each `Text` is held to `cell_text` by
`tests/unit/test_report_sql.py`. A new column is one entry here (and, for a new kind of text,
one `Text` with its rule below and its SQL twin), plus tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Protocol

from chalicelib.domain.directory import Customer, Partner, Sku
from chalicelib.domain.proration import format_quantity, format_seats, seat_equivalents
from chalicelib.domain.report_kinds import POINT_IN_TIME_TYPES, ReportCategory, ReportType
from chalicelib.domain.timestamps import iso_seconds


class Text(str, Enum):
    """How a column's text is written."""

    KEY = "key"  # the row key field the column shows, as it is
    PARTNER_NAME = "partner name"  # the report's partner (the sub-partner when one is asked for)
    PARTNER_ORG_ID = "partner org id"
    SERVICE_NAME = "service name of the SKU"
    DESCRIPTION = "description of the SKU"
    CUSTOMER_EXTERNAL_ID = "external id of the customer"
    CUSTOMER_NAME = "name of the customer"
    LOCATION_NAME = "name of the customer's location"
    FIRST_DAY = "first day with usage, ISO"
    LAST_DAY = "last day with usage, ISO"
    QUANTITY = "units as a plain decimal (format_quantity)"
    SEAT_EQUIVALENTS = "units ÷ days of the period, 6 decimals, half up (seat_equivalents)"
    ASSIGNED_SINCE = "when the allocation began, ISO seconds UTC"


REC = ReportCategory.RECONCILIATION
PIT = ReportCategory.POINT_IN_TIME
_ALL = frozenset(ReportType)
_CUSTOMER_ROWS = frozenset({ReportType.CUSTOMER, ReportType.USER})
_USER_ROWS = frozenset({ReportType.USER})


@dataclass(frozen=True)
class ReportColumn:
    name: str
    text: Text
    types: frozenset[ReportType]  # the report types whose rows carry it
    places: Mapping[ReportCategory, int]  # its place in the files of each category carrying it
    key: str | None = None  # the row key field (GROUP_KEYS) it shows or is looked up by
    webex: bool = True  # in Webex's file; False: an extension, only when `columns` names it
    value_type: str = "string"  # in typed formats: string, date, timestamp, decimal

    def carried_by(self, report_type: ReportType, category: ReportCategory) -> bool:
        return report_type in self.types and category in self.places


COLUMNS: tuple[ReportColumn, ...] = (
    ReportColumn("PARTNER_NAME", Text.PARTNER_NAME, _ALL, {REC: 1, PIT: 1}),
    ReportColumn("PARTNER_ORG_ID", Text.PARTNER_ORG_ID, _ALL, {REC: 2, PIT: 2}),
    ReportColumn("SUBSCRIPTION_ID", Text.KEY, _ALL, {REC: 3, PIT: 3}, key="subscription_id"),
    ReportColumn("SERVICE_NAME", Text.SERVICE_NAME, _ALL, {REC: 4, PIT: 4}, key="sku"),
    ReportColumn("SKU", Text.KEY, _ALL, {REC: 5, PIT: 5}, key="sku"),
    ReportColumn("DESCRIPTION", Text.DESCRIPTION, _ALL, {REC: 6, PIT: 6}, key="sku"),
    ReportColumn("CONSUMPTION_START_DATE", Text.FIRST_DAY, _ALL, {REC: 7}, value_type="date"),
    ReportColumn("CONSUMPTION_END_DATE", Text.LAST_DAY, _ALL, {REC: 8}, value_type="date"),
    ReportColumn("QUANTITY", Text.QUANTITY, _ALL, {REC: 9, PIT: 14}, value_type="decimal"),
    ReportColumn("CUSTOMER_ORG_ID", Text.KEY, _CUSTOMER_ROWS, {REC: 10, PIT: 7}, key="customer_org_id"),
    ReportColumn(
        "CUSTOMER_EXTERNAL_ID", Text.CUSTOMER_EXTERNAL_ID, _CUSTOMER_ROWS, {REC: 11, PIT: 8}, key="customer_org_id"
    ),
    ReportColumn("SUBSCRIBER_ID", Text.KEY, _USER_ROWS, {REC: 12, PIT: 10}, key="subscriber_id"),
    ReportColumn("USER_ID", Text.KEY, _USER_ROWS, {REC: 13, PIT: 11}, key="user_id"),
    ReportColumn("WORKSPACE_ID", Text.KEY, _USER_ROWS, {REC: 14, PIT: 12}, key="workspace_id"),
    ReportColumn("LOCATION_ID", Text.KEY, _CUSTOMER_ROWS, {REC: 15, PIT: 9}, key="location_id"),
    ReportColumn("ASSIGNED_SINCE", Text.ASSIGNED_SINCE, _USER_ROWS, {PIT: 13}, value_type="timestamp"),
    # Extensions (DESIGN §3 create extensions): named by `columns` only.
    ReportColumn(
        "CUSTOMER_NAME", Text.CUSTOMER_NAME, _CUSTOMER_ROWS, {REC: 16, PIT: 15}, key="customer_org_id", webex=False
    ),
    ReportColumn(
        "LOCATION_NAME", Text.LOCATION_NAME, _CUSTOMER_ROWS, {REC: 17, PIT: 16}, key="location_id", webex=False
    ),
    # a snapshot has no period to divide by: reconciliation reports only
    ReportColumn("SEAT_EQUIVALENTS", Text.SEAT_EQUIVALENTS, _ALL, {REC: 18}, value_type="decimal", webex=False),
)
COLUMN_BY_NAME: dict[str, ReportColumn] = {column.name: column for column in COLUMNS}
EXTENSION_COLUMNS: tuple[str, ...] = tuple(column.name for column in COLUMNS if not column.webex)
# Most column names a create request may give (every column once).
MAX_COLUMNS = len(COLUMNS)


def _ordered(report_type: ReportType, category: ReportCategory, webex_only: bool) -> tuple[str, ...]:
    carried = [
        column for column in COLUMNS if column.carried_by(report_type, category) and (column.webex or not webex_only)
    ]
    return tuple(column.name for column in sorted(carried, key=lambda column: column.places[category]))


def default_columns(report_type: ReportType, category: ReportCategory = REC) -> tuple[str, ...]:
    """The columns of Webex's file of the type and category, in file order."""
    return _ordered(report_type, category, webex_only=True)


def available_columns(report_type: ReportType, category: ReportCategory = REC) -> tuple[str, ...]:
    """Every column a file of the type and category may carry (Webex's, then the extensions)."""
    return _ordered(report_type, category, webex_only=False)


def file_columns(
    report_type: ReportType, category: ReportCategory, chosen: Sequence[str] | None = None
) -> tuple[str, ...]:
    """The columns of a report's file: those its request chose, else Webex's."""
    return tuple(chosen) if chosen else default_columns(report_type, category)


def _kind(report_type: ReportType, category: ReportCategory) -> str:
    return f"{report_type.value} report" if category is REC else f"{category.value} {report_type.value} report"


def column_problems(requested: Sequence[str], report_type: ReportType, category: ReportCategory) -> list[str]:
    """What is wrong with `requested` as the `columns` of a report of the type and category
    (nothing: it is a file's columns): each name once, a column the type carries, and every
    one of Webex's columns of the type present (the rows' keys and QUANTITY stay in the file)."""
    problems: list[str] = []
    if not requested:
        return ["columns must name the file's columns (omit it for Webex's)"]
    seen: set[str] = set()
    for name in requested:
        if name in seen:
            problems.append(f"columns: {name} is named twice")
        seen.add(name)
    unknown = [name for name in requested if name not in COLUMN_BY_NAME]
    if unknown:
        problems.append(f"columns: unknown column {', '.join(unknown)}; columns are {', '.join(COLUMN_BY_NAME)}")
    available = available_columns(report_type, category)
    foreign = [name for name in requested if name in COLUMN_BY_NAME and name not in available]
    if foreign:
        problems.append(
            f"columns: a {_kind(report_type, category)} has no column {', '.join(foreign)}; "
            f"it has {', '.join(available)}"
        )
    missing = [name for name in default_columns(report_type, category) if name not in seen]
    if missing:
        problems.append(
            f"columns: a {_kind(report_type, category)} keeps Webex's columns; missing {', '.join(missing)}"
        )
    return problems


# ---- a row's cells --------------------------------------------------------------------------


class RowNaming(Protocol):
    """What a report's rows are named with (`report_rows.RowContext`)."""

    @property
    def partner(self) -> Partner: ...

    @property
    def customers(self) -> Mapping[str, Customer]: ...

    @property
    def skus(self) -> Mapping[str, Sku]: ...

    @property
    def period_days(self) -> int: ...


@dataclass(frozen=True)
class RowFacts:
    """One report row before naming: its key (`fields`, GROUP_KEYS of the type), its units and
    what else its columns may show."""

    fields: Mapping[str, str]
    units: int
    first_day: date | None = None  # reconciliation rows
    last_day: date | None = None
    since: int | None = None  # point-in-time USER rows: epoch seconds; None: unknown


def _sku_of(naming: RowNaming, facts: RowFacts) -> Sku | None:
    return naming.skus.get(facts.fields["sku"])


def _customer_of(naming: RowNaming, facts: RowFacts) -> Customer | None:
    return naming.customers.get(facts.fields["customer_org_id"])


def _day(day: date | None) -> str:
    return day.isoformat() if day is not None else ""


def _key_text(column: ReportColumn, naming: RowNaming, facts: RowFacts) -> str:
    assert column.key is not None
    return facts.fields[column.key]


def _location_name(column: ReportColumn, naming: RowNaming, facts: RowFacts) -> str:
    customer = _customer_of(naming, facts)
    return customer.location_name(facts.fields["location_id"]) if customer else ""


# The rule of each Text (adapters/report_sql.py `_TEXT_SQL` is its DuckDB twin).
_TEXTS: dict[Text, Callable[[ReportColumn, RowNaming, RowFacts], str]] = {
    Text.KEY: _key_text,
    Text.PARTNER_NAME: lambda column, naming, facts: naming.partner.name,
    Text.PARTNER_ORG_ID: lambda column, naming, facts: naming.partner.org_id,
    Text.SERVICE_NAME: lambda column, naming, facts: sku.service_name if (sku := _sku_of(naming, facts)) else "",
    Text.DESCRIPTION: lambda column, naming, facts: sku.description if (sku := _sku_of(naming, facts)) else "",
    Text.CUSTOMER_EXTERNAL_ID: lambda column, naming, facts: (
        customer.external_id if (customer := _customer_of(naming, facts)) else ""
    ),
    Text.CUSTOMER_NAME: lambda column, naming, facts: (
        customer.name if (customer := _customer_of(naming, facts)) else ""
    ),
    Text.LOCATION_NAME: _location_name,
    Text.FIRST_DAY: lambda column, naming, facts: _day(facts.first_day),
    Text.LAST_DAY: lambda column, naming, facts: _day(facts.last_day),
    Text.QUANTITY: lambda column, naming, facts: format_quantity(facts.units),
    Text.SEAT_EQUIVALENTS: lambda column, naming, facts: format_seats(
        seat_equivalents(facts.units, naming.period_days)
    ),
    Text.ASSIGNED_SINCE: lambda column, naming, facts: "" if facts.since is None else iso_seconds(facts.since),
}


def cell_text(column: ReportColumn, naming: RowNaming, facts: RowFacts) -> str:
    """The text of `column` in the row `facts`, named from `naming` (before CSV quoting)."""
    return _TEXTS[column.text](column, naming, facts)


# The columns of each category's Webex file, by type (what a file has without `columns`).
WEBEX_COLUMNS: dict[ReportCategory, dict[ReportType, tuple[str, ...]]] = {
    REC: {report_type: default_columns(report_type, REC) for report_type in ReportType},
    PIT: {report_type: default_columns(report_type, PIT) for report_type in POINT_IN_TIME_TYPES},
}
