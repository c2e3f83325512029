"""The DuckDB rendering of report rows equals the domain's rules byte for byte:
`aggregate_reference` → `RowContext.cells` → `CsvRenderer`, for any text the directory or the
events may carry (injection leads, quotes, commas, line breaks, non-ASCII)."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters.engine import sealed_connection
from chalicelib.adapters.report_sql import render_report_lines
from chalicelib.adapters.usage_lake import USAGE_SCHEMA
from chalicelib.domain.report_rows import (
    CsvRenderer,
    Customer,
    Partner,
    RowContext,
    Sku,
    aggregate_reference,
)
from chalicelib.domain.reports import ReportType

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


@settings(max_examples=60, deadline=None)  # each example opens a DuckDB connection; CI runs new ones each time
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
    expected = CsvRenderer().render([context.cells(row) for row in expected_rows])

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
