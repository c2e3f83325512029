"""Report rows as CSV text computed by DuckDB, in one pass over the usage rows.

This is the engine's rendering of the rules in `domain/report_rows.py` (group keys and their
order, the columns of each report type, naming from the directory, `format_quantity`, the CSV
injection guard and RFC 4180 minimal quoting with CRLF line ends). Grouping, naming, quoting and
joining happen inside DuckDB, off the GIL; Python only concatenates the finished lines.
`tests/unit/test_report_sql.py` holds it byte-for-byte to `RowContext.cells` + `CsvRenderer`.
"""

from __future__ import annotations

import re
from typing import Any

import pyarrow as pa

from chalicelib.adapters.engine import sealed_connection, sql_literal, sql_literals
from chalicelib.domain.proration import MICRO_UNITS_PER_UNIT, QUANTITY_DECIMALS
from chalicelib.domain.report_rows import (
    CSV_QUOTE,
    CSV_QUOTED_WHEN,
    GROUP_KEYS,
    GUARD_PREFIX,
    INJECTION_LEADS,
    RowContext,
    columns_for,
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
]

_COLUMN_SQL = {
    "PARTNER_NAME": "$partner_name",
    "PARTNER_ORG_ID": "$partner_org_id",
    "SUBSCRIPTION_ID": "a.subscription_id",
    "SERVICE_NAME": "k.service_name",
    "SKU": "a.sku",
    "DESCRIPTION": "k.description",
    "CONSUMPTION_START_DATE": "strftime(a.first_day, '%Y-%m-%d')",
    "CONSUMPTION_END_DATE": "strftime(a.last_day, '%Y-%m-%d')",
    "QUANTITY": "wbr_quantity(a.units)",
    "CUSTOMER_ORG_ID": "a.customer_org_id",
    "CUSTOMER_EXTERNAL_ID": "c.external_id",
    "SUBSCRIBER_ID": "a.subscriber_id",
    "USER_ID": "a.user_id",
    "WORKSPACE_ID": "a.workspace_id",
    "LOCATION_ID": "a.location_id",
}


def report_lines_sql(context: RowContext) -> str:
    """One `line` (CRLF-terminated) per report row, in the file's order."""
    keys = GROUP_KEYS[context.report_type]
    key_list = ", ".join(keys)
    cells = ", ".join(
        f"wbr_cell(coalesce(CAST({_COLUMN_SQL[column]} AS VARCHAR), ''))" for column in columns_for(context.report_type)
    )
    customer_join = "LEFT JOIN wbr_customers c ON c.org_id = a.customer_org_id" if "customer_org_id" in keys else ""
    return (
        f"WITH a AS (SELECT {key_list}, CAST(SUM(units) AS BIGINT) AS units, "
        f"MIN(usage_date) AS first_day, MAX(usage_date) AS last_day "
        f"FROM usage WHERE units > 0 GROUP BY {key_list} HAVING SUM(units) > 0) "
        f"SELECT concat_ws(',', {cells}) || chr(13) || chr(10) AS line "
        f"FROM a LEFT JOIN wbr_skus k ON k.sku = a.sku {customer_join} "
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
    lines = connection.sql(
        report_lines_sql(context),
        params={"partner_name": context.partner.name, "partner_org_id": context.partner.org_id},
    ).to_arrow_table()["line"]
    return "".join(lines.to_pylist()), len(lines)


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
