"""The DuckDB rendering of report rows equals the domain's rules byte for byte:
`aggregate_reference` → `cells` (tests/oracles.py) → `CsvRenderer`, for any text the directory or the
events may carry (injection leads, quotes, commas, line breaks, non-ASCII), and for every column
of the column table (`report_columns.cell_text` ⇄ `report_sql._TEXT_SQL`) in any chosen order."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters.engine import sealed_connection
from chalicelib.adapters.report_sql import _TEXT_SQL, column_sql, render_report_lines
from chalicelib.adapters.usage_lake_layout import USAGE_SCHEMA
from chalicelib.domain.report_columns import COLUMNS, REC, Text, available_columns, default_columns
from chalicelib.domain.report_rows import (
    CsvRenderer,
    Customer,
    Partner,
    RowContext,
    Sku,
)
from chalicelib.domain.reports import ReportType
from tests.oracles import aggregate_reference, cells
from tests.tiers import examples

TRICKY = st.sampled_from(
    [
        "",
        "=1+1",
        "+x",
        "-3",
        "@SUM(A1)",
        "\tTab",
        "\rcr",
        'say "hi"',
        "a,b",
        "two\nlines",
        "crlf\r\n",
        "Zürich",
        "plain",
        "'quoted",
        " space",
    ]
)
TEXT = st.one_of(TRICKY, st.text(min_size=0, max_size=6))
IDS = st.sampled_from(["c1", "c2", "=c3", "c,4"])


def _usage(rows):
    return pa.Table.from_pylist(rows, schema=USAGE_SCHEMA)


usage_rows = st.lists(
    st.fixed_dictionaries(
        {
            "usage_date": st.integers(0, 40).map(lambda n: date(2026, 9, 1) + timedelta(days=n)),
            "partner_org_id": st.just("P"),
            "customer_org_id": IDS,
            "location_id": st.sampled_from(["L1", "-L2"]),
            "subscription_id": st.sampled_from(["S1", "S,2"]),
            "sku": st.sampled_from(["SKU_A", "SKU_B", "SKU_UNKNOWN"]),
            "subject_type": st.sampled_from(["USER", "WORKSPACE"]),
            "user_id": TEXT,
            "subscriber_id": TEXT,
            "workspace_id": st.sampled_from(["", "W1"]),
            "units": st.one_of(st.just(0), st.just(1_000_000), st.integers(0, 3_000_000)),
        }
    ),
    max_size=40,
)


@pytest.mark.tiered
@settings(max_examples=examples(deep=60, quick=20), deadline=None)  # each example opens a DuckDB connection; CI runs new ones each time
@given(
    rows=usage_rows,
    report_type=st.sampled_from(list(ReportType)),
    partner_name=TEXT,
    external_ids=st.lists(TEXT, min_size=4, max_size=4),
    sku_texts=st.lists(TEXT, min_size=4, max_size=4),
)
def test_engine_csv_equals_the_domain_rendering(rows, report_type, partner_name, external_ids, sku_texts):
    context = RowContext(
        report_type=report_type,
        partner=Partner("P", partner_name),
        customers={  # c2 is unknown to the directory: empty external id
            org_id: Customer(org_id, "P", external_id)
            for org_id, external_id in zip(["c1", "=c3", "c,4"], external_ids, strict=False)
        },
        skus={
            "SKU_A": Sku("SKU_A", sku_texts[0], sku_texts[1]),
            "SKU_B": Sku("SKU_B", sku_texts[2], sku_texts[3]),
        },
    )
    expected_rows = list(aggregate_reference(report_type, rows))
    expected = CsvRenderer().render([cells(context, row) for row in expected_rows])

    text, count = _render(rows, context)

    assert count == len(expected_rows)
    assert text == expected


def test_quantities_are_exact_decimals():
    rows = [
        {
            **dict.fromkeys(USAGE_SCHEMA.names, ""),
            "usage_date": date(2026, 10, 1),
            "partner_org_id": "P",
            "customer_org_id": f"c{index}",
            "sku": "SKU_A",
            "units": units,
        }
        for index, units in enumerate([31_000_000, 15_500_000, 41_667, 1, 9_999_999_999_999])
    ]
    context = RowContext(ReportType.CUSTOMER, Partner("P", "Partner"), {}, {})
    text, count = _render(rows, context)
    quantities = [line.split(",")[8] for line in text.split("\r\n") if line]
    assert count == 5 and quantities == ["31", "15.5", "0.041667", "0.000001", "9999999.999999"]


def _render(rows: list[dict], context: RowContext) -> tuple[str, int]:
    connection = sealed_connection(1)
    try:
        connection.register("usage", _usage(rows))
        return render_report_lines(connection, context)
    finally:
        connection.close()


# ---- the column table's SQL twin (domain/report_columns.py ⇄ adapters/report_sql.py) -----------


def _chosen_columns(report_type: ReportType):
    """Any file a create request may ask for: Webex's columns of the type plus any extensions,
    in any order."""
    webex = default_columns(report_type)
    extensions = [name for name in available_columns(report_type) if name not in webex]
    return st.lists(st.sampled_from(extensions), unique=True).flatmap(
        lambda chosen: st.permutations([*webex, *chosen])
    )


@pytest.mark.tiered
@settings(max_examples=examples(deep=60, quick=20), deadline=None)
@given(
    data=st.data(),
    rows=usage_rows,
    report_type=st.sampled_from(list(ReportType)),
    names=st.lists(TEXT, min_size=6, max_size=6),
    period_days=st.integers(1, 1827),
)
def test_engine_renders_every_chosen_column_as_cell_text_does(data, rows, report_type, names, period_days):
    """`report_sql._TEXT_SQL` (DuckDB) and `report_columns.cell_text` (the domain's rule) write
    every column the same bytes, whatever columns a request chose and in whatever order:
    CUSTOMER_NAME, LOCATION_NAME (from the directory, tricky text, unknown ids) and
    SEAT_EQUIVALENTS (half-up division by any period length)."""
    columns = tuple(data.draw(_chosen_columns(report_type)))
    customers = {
        "c1": Customer("c1", "P", "X1", name=names[0], locations=(("L1", names[1]), ("-L2", names[2]))),
        "=c3": Customer("=c3", "P", "X3", name=names[3], locations=(("L1", names[4]),)),
        "c,4": Customer("c,4", "P", "X4", name=names[5]),
    }
    context = RowContext(
        report_type,
        Partner("P", "Partner"),
        customers,
        {"SKU_A": Sku("SKU_A", "Calling", "Pro")},
        columns=columns,
        period_days=period_days,
    )
    expected_rows = list(aggregate_reference(report_type, rows))

    text, count = _render(rows, context)

    assert count == len(expected_rows)
    assert text == CsvRenderer().render([cells(context, row) for row in expected_rows])
    assert context.file_columns == columns


def test_every_text_of_a_reconciliation_column_has_its_sql():
    """A new kind of column text without its DuckDB twin fails here, not in a report."""
    for column in COLUMNS:
        if REC in column.places:
            assert column_sql(column), column.name
    assert {column.text for column in COLUMNS if REC in column.places} - {Text.KEY} <= set(_TEXT_SQL)


def test_seat_equivalents_are_exact_fixed_decimals():
    rows = [
        {
            **dict.fromkeys(USAGE_SCHEMA.names, ""),
            "usage_date": date(2026, 10, 1),
            "partner_org_id": "P",
            "customer_org_id": f"c{index}",
            "sku": "SKU_A",
            "units": units,
        }
        for index, units in enumerate([31_000_000, 15_500_000, 500_000, 1, 9_999_999_999_999])
    ]
    columns = (*default_columns(ReportType.CUSTOMER), "SEAT_EQUIVALENTS")
    context = RowContext(ReportType.CUSTOMER, Partner("P", "Partner"), {}, {}, columns=columns, period_days=31)
    text, count = _render(rows, context)
    seats = [line.split(",")[-1] for line in text.split("\r\n") if line]
    # 15.5 / 31 = 0.5; 0.5 / 31 = 0.016129032…; 0.000001 / 31 rounds to 0; the largest stays exact
    assert seats == ["1.000000", "0.500000", "0.016129", "0.000000", "322580.645161"]
