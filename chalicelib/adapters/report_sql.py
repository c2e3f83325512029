"""Report rows as CSV text computed by DuckDB, in one pass over the usage rows.

This is the engine's rendering of the rules in `domain/report_rows.py` and
`domain/report_columns.py` (group keys and their order, the columns of each file and how each
column's text is written, naming from the directory, `format_quantity`, `seat_equivalents`, the CSV
injection guard and RFC 4180 minimal quoting with CRLF line ends). Grouping, naming, quoting and
joining happen inside DuckDB, off the GIL; Python only concatenates the finished lines.
`tests/unit/test_report_sql.py` holds it byte-for-byte to the reference aggregation and naming
(`aggregate_reference`, `cells`: tests/oracles.py) + `CsvRenderer`.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from chalicelib.adapters.engine import sealed_connection, sql_literal, sql_literals
from chalicelib.domain.proration import MICRO_UNITS_PER_UNIT, QUANTITY_DECIMALS
from chalicelib.domain.report_columns import COLUMN_BY_NAME, ReportColumn, Text
from chalicelib.domain.report_rows import (
    CSV_QUOTE,
    CSV_QUOTED_WHEN,
    GROUP_KEYS,
    GUARD_PREFIX,
    INJECTION_LEADS,
    RowContext,
)
from chalicelib.services.ports import SliceFiles


def _char(character: str) -> str:
    """A one-character SQL string literal (control characters as chr(n))."""
    if character.isprintable():
        return sql_literal(character)
    return f"chr({ord(character)})"


def _pattern(characters: tuple[str, ...]) -> str:
    """A regular-expression class matching any of `characters`, as a SQL string literal."""
    escapes = {"\r": r"\r", "\n": r"\n", "\t": r"\t"}
    body = "".join(escapes.get(character, re.escape(character)) for character in characters)
    return "'" + f"[{body}]".replace("'", "''") + "'"


# What a cell becomes, built from the domain's rules (domain/report_rows.py, domain/proration.py):
# GUARD_PREFIX before an INJECTION_LEADS character a spreadsheet would evaluate, then quoted
# (quotes doubled) if it holds one of CSV_QUOTED_WHEN; exactly what CsvRenderer does.
_MACROS = [
    "CREATE OR REPLACE TEMP MACRO wbr_neutral(v) AS "
    f"CASE WHEN left(v, 1) IN ({', '.join(_char(lead) for lead in INJECTION_LEADS)}) "
    f"THEN {_char(GUARD_PREFIX)} || v ELSE v END",
    "CREATE OR REPLACE TEMP MACRO wbr_cell(v) AS "
    f"CASE WHEN regexp_matches(wbr_neutral(v), {_pattern(CSV_QUOTED_WHEN)}) "
    f"THEN {_char(CSV_QUOTE)} || replace(wbr_neutral(v), {_char(CSV_QUOTE)}, {_char(CSV_QUOTE * 2)}) "
    f"|| {_char(CSV_QUOTE)} ELSE wbr_neutral(v) END",
    # format_quantity: whole units plain, else QUANTITY_DECIMALS decimals, trailing zeros removed
    f"CREATE OR REPLACE TEMP MACRO wbr_quantity(u) AS "
    f"CASE WHEN u % {MICRO_UNITS_PER_UNIT} = 0 THEN CAST(u // {MICRO_UNITS_PER_UNIT} AS VARCHAR) "
    f"ELSE CAST(u // {MICRO_UNITS_PER_UNIT} AS VARCHAR) || '.' || "
    f"rtrim(lpad(CAST(u % {MICRO_UNITS_PER_UNIT} AS VARCHAR), {QUANTITY_DECIMALS}, '0'), '0') END",
    # seat_equivalents + format_seats: round_half_up(u / d) micro-seats, QUANTITY_DECIMALS decimals kept
    "CREATE OR REPLACE TEMP MACRO wbr_micro_seats(u, d) AS (CAST(u AS HUGEINT) * 2 + d) // (2 * d)",
    f"CREATE OR REPLACE TEMP MACRO wbr_seats(u, d) AS "
    f"CAST(wbr_micro_seats(u, d) // {MICRO_UNITS_PER_UNIT} AS VARCHAR) || '.' || "
    f"lpad(CAST(wbr_micro_seats(u, d) % {MICRO_UNITS_PER_UNIT} AS VARCHAR), {QUANTITY_DECIMALS}, '0')",
]

# Each `Text` of the column table (domain/report_columns.py) in DuckDB over the aggregate `a`
# (its key fields, units, first_day, last_day), the SKU `k`, the customer `c` and the location `l`.
# A column's SQL is its text's: the table decides which columns a file has and in what order.
# tests/unit/test_report_sql.py holds every one to `cell_text`, byte for byte.
_TEXT_SQL: dict[Text, str] = {
    Text.PARTNER_NAME: "$partner_name",
    Text.PARTNER_ORG_ID: "$partner_org_id",
    Text.SERVICE_NAME: "k.service_name",
    Text.DESCRIPTION: "k.description",
    Text.CUSTOMER_EXTERNAL_ID: "c.external_id",
    Text.CUSTOMER_NAME: "c.name",
    Text.LOCATION_NAME: "l.name",
    Text.FIRST_DAY: "strftime(a.first_day, '%Y-%m-%d')",
    Text.LAST_DAY: "strftime(a.last_day, '%Y-%m-%d')",
    Text.QUANTITY: "wbr_quantity(a.units)",
    Text.SEAT_EQUIVALENTS: "wbr_seats(a.units, $period_days)",
}


def column_sql(column: ReportColumn) -> str:
    """A column's cell text in SQL (before quoting): a key field as it is, else its text's SQL."""
    if column.text is Text.KEY:
        assert column.key is not None
        return f"a.{column.key}"
    try:
        return _TEXT_SQL[column.text]
    except KeyError:
        raise ValueError(f"{column.name} is not a column DuckDB renders") from None


def report_lines_sql(context: RowContext) -> str:
    """One `line` (CRLF-terminated) per report row, in the file's order."""
    keys = GROUP_KEYS[context.report_type]
    key_list = ", ".join(keys)
    columns = [COLUMN_BY_NAME[name] for name in context.file_columns]
    cells = ", ".join(f"wbr_cell(coalesce(CAST({column_sql(column)} AS VARCHAR), ''))" for column in columns)
    joins = "LEFT JOIN wbr_customers c ON c.org_id = a.customer_org_id" if "customer_org_id" in keys else ""
    if any(column.text is Text.LOCATION_NAME for column in columns):
        joins += " LEFT JOIN wbr_locations l ON l.customer_org_id = a.customer_org_id AND l.location_id = a.location_id"
    return (
        f"WITH a AS (SELECT {key_list}, CAST(SUM(units) AS BIGINT) AS units, "
        f"MIN(usage_date) AS first_day, MAX(usage_date) AS last_day "
        f"FROM usage WHERE units > 0 GROUP BY {key_list} HAVING SUM(units) > 0) "
        f"SELECT concat_ws(',', {cells}) || chr(13) || chr(10) AS line "
        f"FROM a LEFT JOIN wbr_skus k ON k.sku = a.sku {joins} "
        f"ORDER BY {', '.join('a.' + key for key in keys)}"
    )


def render_report_lines(connection: Any, context: RowContext) -> tuple[str, int]:
    """The CSV text (no header) of the relation `usage` (the lake's rows, any source the caller
    defined) aggregated as `context`'s report, and its row count."""
    for macro in _MACROS:
        connection.execute(macro)
    customers = list(context.customers.values())
    skus = list(context.skus.values())
    connection.register(
        "wbr_customers",
        pa.table(
            {
                "org_id": pa.array([customer.org_id for customer in customers], pa.string()),
                "external_id": pa.array([customer.external_id for customer in customers], pa.string()),
                "name": pa.array([customer.name for customer in customers], pa.string()),
            }
        ),
    )
    locations = [(customer.org_id, *location) for customer in customers for location in customer.locations]
    connection.register(
        "wbr_locations",
        pa.table(
            {
                "customer_org_id": pa.array([location[0] for location in locations], pa.string()),
                "location_id": pa.array([location[1] for location in locations], pa.string()),
                "name": pa.array([location[2] for location in locations], pa.string()),
            }
        ),
    )
    connection.register(
        "wbr_skus",
        pa.table(
            {
                "sku": pa.array([sku.sku for sku in skus], pa.string()),
                "service_name": pa.array([sku.service_name for sku in skus], pa.string()),
                "description": pa.array([sku.description for sku in skus], pa.string()),
            }
        ),
    )
    sql = report_lines_sql(context)
    lines = connection.sql(
        sql,
        params=_params(context, sql),
    ).to_arrow_table()["line"]
    return "".join(lines.to_pylist()), len(lines)


def _params(context: RowContext, sql: str) -> dict[str, object]:
    """The named parameters `sql` uses (DuckDB refuses one it does not)."""
    params: dict[str, object] = {"partner_name": context.partner.name, "partner_org_id": context.partner.org_id}
    if "$period_days" in sql:
        params["period_days"] = context.period_days
    return params


class DuckDbReportRenderer:
    """The report renderer: the lake's files of a slice (`SliceFiles`) → CSV lines, in DuckDB.
    DuckDB's own Parquet reader scans the files with the row condition pushed down, streams the
    row groups and holds the report's groups, never the month's usage rows; filtering,
    grouping, naming, quoting and sorting all run in DuckDB, off the GIL."""

    def __init__(self, threads: int = 2) -> None:
        self._threads = threads

    def render(self, files: SliceFiles, context: RowContext, excluded_customer_ids: tuple[str, ...]) -> tuple[str, int]:
        if not files.paths:
            return "", 0
        condition = files.row_condition
        if excluded_customer_ids:
            condition += f" AND customer_org_id NOT IN ({sql_literals(sorted(set(excluded_customer_ids)))})"
        connection = sealed_connection(self._threads)
        try:
            connection.execute(
                f"CREATE TEMP VIEW usage AS SELECT * FROM read_parquet([{sql_literals(files.paths)}]) WHERE {condition}"
            )
            return render_report_lines(connection, context)
        finally:
            connection.close()
