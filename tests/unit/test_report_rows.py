"""Report columns, rows, CSV rendering and the reference aggregation (ARCHITECTURE.md §3)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.report_rows import (
    ALL_COLUMNS,
    GROUP_KEYS,
    CsvRenderer,
    Customer,
    Partner,
    RowContext,
    Sku,
    columns_for,
    neutralise_cell,
)
from chalicelib.domain.reports import ReportType
from tests.oracles import AggregatedRow, aggregate_reference, cells

# ARCHITECTURE.md §3, written out literally: (columns, PARTNER, CUSTOMER, USER). This is the one place a
# test restates the contract instead of deriving it from the code.
DESIGN_COLUMN_TABLE = [
    (
        [
            "PARTNER_NAME",
            "PARTNER_ORG_ID",
            "SUBSCRIPTION_ID",
            "SERVICE_NAME",
            "SKU",
            "DESCRIPTION",
            "CONSUMPTION_START_DATE",
            "CONSUMPTION_END_DATE",
            "QUANTITY",
        ],
        True,
        True,
        True,
    ),
    (["CUSTOMER_ORG_ID", "CUSTOMER_EXTERNAL_ID"], False, True, True),
    (["SUBSCRIBER_ID", "USER_ID", "WORKSPACE_ID"], False, False, True),
    (["LOCATION_ID"], False, True, True),
]


def design_columns(report_type: ReportType) -> tuple[str, ...]:
    index = {ReportType.PARTNER: 1, ReportType.CUSTOMER: 2, ReportType.USER: 3}[report_type]
    return tuple(column for row in DESIGN_COLUMN_TABLE if row[index] for column in row[0])


# --- columns ---------------------------------------------------------------------------------


@pytest.mark.parametrize("report_type", list(ReportType))
def test_columns_for_each_type_follow_the_design_table(report_type):
    assert columns_for(report_type) == design_columns(report_type)


def test_columns_for_exact_lists():
    assert columns_for(ReportType.PARTNER) == (
        "PARTNER_NAME", "PARTNER_ORG_ID", "SUBSCRIPTION_ID", "SERVICE_NAME", "SKU", "DESCRIPTION",
        "CONSUMPTION_START_DATE", "CONSUMPTION_END_DATE", "QUANTITY",
    )  # fmt: skip
    assert columns_for(ReportType.CUSTOMER) == columns_for(ReportType.PARTNER) + (
        "CUSTOMER_ORG_ID", "CUSTOMER_EXTERNAL_ID", "LOCATION_ID",
    )  # fmt: skip
    assert columns_for(ReportType.USER) == columns_for(ReportType.PARTNER) + (
        "CUSTOMER_ORG_ID", "CUSTOMER_EXTERNAL_ID", "SUBSCRIBER_ID", "USER_ID", "WORKSPACE_ID", "LOCATION_ID",
    )  # fmt: skip
    assert columns_for(ReportType.USER) == ALL_COLUMNS


def test_group_keys_follow_the_row_key_rule():
    # PARTNER = (subscription, sku); CUSTOMER = + (customer, location); USER = + (subject)
    assert set(GROUP_KEYS[ReportType.PARTNER]) == {"subscription_id", "sku"}
    assert set(GROUP_KEYS[ReportType.CUSTOMER]) == {"subscription_id", "sku", "customer_org_id", "location_id"}
    assert set(GROUP_KEYS[ReportType.USER]) == set(GROUP_KEYS[ReportType.CUSTOMER]) | {
        "subject_type",
        "user_id",
        "subscriber_id",
        "workspace_id",
    }


# --- neutralise_cell -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=SUM(A1:A2)", "'=SUM(A1:A2)"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("=", "'="),
    ],
)
def test_cells_with_dangerous_leads_get_a_quote(cell, expected):
    assert neutralise_cell(cell) == expected


@pytest.mark.parametrize("cell", ["", "abc", "1.5", "0.041667", "2026-10-01", "a=b", "x-y", " =1", "'=1", "\nx", "é"])
def test_safe_cells_are_unchanged(cell):
    assert neutralise_cell(cell) == cell


# --- CsvRenderer -----------------------------------------------------------------------------


def test_header_row_per_type_with_crlf():
    renderer = CsvRenderer()
    assert renderer.header(ReportType.PARTNER) == (
        "PARTNER_NAME,PARTNER_ORG_ID,SUBSCRIPTION_ID,SERVICE_NAME,SKU,DESCRIPTION,"
        "CONSUMPTION_START_DATE,CONSUMPTION_END_DATE,QUANTITY\r\n"
    )
    assert renderer.header(ReportType.USER) == ",".join(ALL_COLUMNS) + "\r\n"


def test_rfc4180_quoting():
    text = CsvRenderer().render([["a,b", 'say "hi"', "plain", "line\nbreak", ""], ["x", "y", "z", "w", "v"]])
    assert text == '"a,b","say ""hi""",plain,"line\nbreak",\r\nx,y,z,w,v\r\n'


def test_injection_guard_applies_before_quoting():
    assert CsvRenderer().render([["=1,2", "-3", "ok"]]) == "\"'=1,2\",'-3,ok\r\n"


def test_renderer_is_reusable_and_deterministic():
    renderer = CsvRenderer()
    rows = [["a", "b"], ["c", "d"]]
    first = renderer.render(rows)
    second = renderer.render(rows)
    assert first == second == "a,b\r\nc,d\r\n"
    assert renderer.render([]) == ""


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.text(max_size=12), min_size=1, max_size=5), max_size=5))
def test_rendered_csv_parses_back_to_the_neutralised_cells(rows):
    text = CsvRenderer().render(rows)
    parsed = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    assert parsed == [[neutralise_cell(cell) for cell in row] for row in rows]
    # every record ends with CRLF
    assert text.endswith("\r\n") or not rows


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(max_size=12), min_size=1, max_size=5), max_size=5))
def test_the_domains_quoting_is_what_pythons_csv_writer_does(rows):
    """CSV_QUOTED_WHEN is the one statement of when a cell is quoted (the DuckDB rendering is
    built from it): it quotes exactly when csv.writer(QUOTE_MINIMAL, CRLF) does."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([neutralise_cell(cell) for cell in row] for row in rows)
    assert CsvRenderer().render(rows) == buffer.getvalue()


# --- cells (tests/oracles.py) ---------------------------------------------------------------

PARTNER = Partner("partner-org", "Acme Telecom")
CUSTOMERS = {"cust-1": Customer("cust-1", "partner-org", "EXT-001")}
SKUS = {"sku-call": Sku("sku-call", "WEBEX_CALLING", "Webex Calling Professional")}
FIRST, LAST = date(2026, 10, 3), date(2026, 10, 28)


def context(report_type):
    return RowContext(report_type, PARTNER, CUSTOMERS, SKUS)


def test_partner_row_cells():
    row = AggregatedRow(("sub-1", "sku-call"), 15_500_000, FIRST, LAST)
    assert cells(context(ReportType.PARTNER), row) == [
        "Acme Telecom",
        "partner-org",
        "sub-1",
        "WEBEX_CALLING",
        "sku-call",
        "Webex Calling Professional",
        "2026-10-03",
        "2026-10-28",
        "15.5",
    ]


def test_customer_row_cells():
    row = AggregatedRow(("cust-1", "loc-1", "sub-1", "sku-call"), 31_000_000, FIRST, LAST)
    named = cells(context(ReportType.CUSTOMER), row)
    assert dict(zip(columns_for(ReportType.CUSTOMER), named, strict=True)) == {
        "PARTNER_NAME": "Acme Telecom",
        "PARTNER_ORG_ID": "partner-org",
        "SUBSCRIPTION_ID": "sub-1",
        "SERVICE_NAME": "WEBEX_CALLING",
        "SKU": "sku-call",
        "DESCRIPTION": "Webex Calling Professional",
        "CONSUMPTION_START_DATE": "2026-10-03",
        "CONSUMPTION_END_DATE": "2026-10-28",
        "QUANTITY": "31",
        "CUSTOMER_ORG_ID": "cust-1",
        "CUSTOMER_EXTERNAL_ID": "EXT-001",
        "LOCATION_ID": "loc-1",
    }
    assert len(named) == len(columns_for(ReportType.CUSTOMER))


def test_user_row_cells_for_a_user():
    row = AggregatedRow(
        ("cust-1", "loc-1", "sub-1", "sku-call", "USER", "user-1", "subscriber-1", ""), 41_667, FIRST, FIRST
    )
    assert cells(context(ReportType.USER), row) == [
        "Acme Telecom",
        "partner-org",
        "sub-1",
        "WEBEX_CALLING",
        "sku-call",
        "Webex Calling Professional",
        "2026-10-03",
        "2026-10-03",
        "0.041667",
        "cust-1",
        "EXT-001",
        "subscriber-1",
        "user-1",
        "",
        "loc-1",
    ]


def test_user_row_cells_for_a_workspace():
    row = AggregatedRow(("cust-1", "loc-1", "sub-1", "sku-call", "WORKSPACE", "", "", "ws-9"), 1_000_000, FIRST, LAST)
    named = dict(zip(columns_for(ReportType.USER), cells(context(ReportType.USER), row), strict=True))
    assert (named["SUBSCRIBER_ID"], named["USER_ID"], named["WORKSPACE_ID"]) == ("", "", "ws-9")
    assert named["QUANTITY"] == "1"


def test_unknown_sku_and_customer_give_empty_names():
    row = AggregatedRow(("cust-x", "loc-1", "sub-1", "sku-x"), 1, FIRST, LAST)
    named = dict(zip(columns_for(ReportType.CUSTOMER), cells(context(ReportType.CUSTOMER), row), strict=True))
    assert named["SERVICE_NAME"] == named["DESCRIPTION"] == named["CUSTOMER_EXTERNAL_ID"] == ""
    assert named["QUANTITY"] == "0.000001"


def test_rows_name_the_sub_partner_when_the_context_is_for_it():
    sub = Partner("sub-org", "Reseller One", parent_org_id="partner-org")
    row = AggregatedRow(("sub-1", "sku-call"), 1_000_000, FIRST, LAST)
    named = cells(RowContext(ReportType.PARTNER, sub, CUSTOMERS, SKUS), row)
    assert named[:2] == ["Reseller One", "sub-org"]


# --- aggregate_reference ---------------------------------------------------------------------

DAY0 = date(2026, 10, 1)


SUBJECTS = [
    {"subject_type": "USER", "user_id": "u1", "subscriber_id": "s-u1", "workspace_id": ""},
    {"subject_type": "USER", "user_id": "u2", "subscriber_id": "s-u2", "workspace_id": ""},
    {"subject_type": "USER", "user_id": "u3", "subscriber_id": "s-u3", "workspace_id": ""},
    {"subject_type": "WORKSPACE", "user_id": "", "subscriber_id": "", "workspace_id": "w1"},
    {"subject_type": "WORKSPACE", "user_id": "", "subscriber_id": "", "workspace_id": "w2"},
]


def _record(day, customer, location, subscription, sku, subject, units):
    return {
        "usage_date": DAY0 + timedelta(days=day),
        "partner_org_id": "p",
        "customer_org_id": customer,
        "location_id": location,
        "subscription_id": subscription,
        "sku": sku,
        **subject,
        "units": units,
    }


def usage_records():
    return st.builds(
        _record,
        st.integers(0, 30),
        st.sampled_from(["c1", "c2", "c3"]),
        st.sampled_from(["l1", "l2"]),
        st.sampled_from(["sub-a", "sub-b"]),
        st.sampled_from(["CALL", "MEET"]),
        st.sampled_from(SUBJECTS),
        st.one_of(st.just(0), st.integers(1, 1_000_000), st.just(1_000_000)),
    )


def per_subscription_sku(report_type, rows):
    keys = GROUP_KEYS[report_type]
    sub_index, sku_index = keys.index("subscription_id"), keys.index("sku")
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        totals[(row.key[sub_index], row.key[sku_index])] += row.units
    return dict(totals)


@settings(max_examples=100, deadline=None)
@given(st.lists(usage_records(), max_size=25))
def test_user_customer_and_partner_totals_agree_per_subscription_and_sku(usage):
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for record in usage:
        if record["units"] > 0:
            expected[(record["subscription_id"], record["sku"])] += record["units"]
    results = {t: list(aggregate_reference(t, usage)) for t in ReportType}
    for report_type, rows in results.items():
        assert per_subscription_sku(report_type, rows) == dict(expected)
    assert (
        sum(r.units for r in results[ReportType.USER])
        == sum(r.units for r in results[ReportType.CUSTOMER])
        == sum(r.units for r in results[ReportType.PARTNER])
    )


@settings(max_examples=100, deadline=None)
@given(st.lists(usage_records(), max_size=25), st.sampled_from(list(ReportType)))
def test_rows_are_sorted_unique_positive_with_correct_first_and_last_day(usage, report_type):
    rows = list(aggregate_reference(report_type, usage))
    keys = [row.key for row in rows]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    fields = GROUP_KEYS[report_type]
    for row in rows:
        assert len(row.key) == len(fields)
        assert row.units > 0
        mine = [r for r in usage if tuple(str(r[f]) for f in fields) == row.key and r["units"] > 0]
        assert row.units == sum(r["units"] for r in mine)
        assert row.first_day == min(r["usage_date"] for r in mine)
        assert row.last_day == max(r["usage_date"] for r in mine)
    # every key with positive usage has a row; keys with only zero units have none
    positive_keys = {tuple(str(r[f]) for f in fields) for r in usage if r["units"] > 0}
    assert set(keys) == positive_keys


@settings(max_examples=100, deadline=None)
@given(st.lists(usage_records(), max_size=25), st.randoms(use_true_random=False), st.sampled_from(list(ReportType)))
def test_aggregation_does_not_depend_on_record_order(usage, rnd, report_type):
    shuffled = list(usage)
    rnd.shuffle(shuffled)
    assert list(aggregate_reference(report_type, shuffled)) == list(aggregate_reference(report_type, usage))


def test_zero_unit_days_do_not_widen_the_consumption_dates():
    base = {
        "partner_org_id": "p", "customer_org_id": "c1", "location_id": "l1", "subscription_id": "s",
        "sku": "CALL", "subject_type": "USER", "user_id": "u1", "subscriber_id": "s1", "workspace_id": "",
    }  # fmt: skip
    usage = [
        {**base, "usage_date": date(2026, 10, 1), "units": 0},
        {**base, "usage_date": date(2026, 10, 5), "units": 500_000},
        {**base, "usage_date": date(2026, 10, 9), "units": 1_000_000},
        {**base, "usage_date": date(2026, 10, 31), "units": 0},
    ]
    (row,) = aggregate_reference(ReportType.USER, usage)
    assert (row.first_day, row.last_day, row.units) == (date(2026, 10, 5), date(2026, 10, 9), 1_500_000)
    (partner_row,) = aggregate_reference(ReportType.PARTNER, usage)
    assert partner_row == AggregatedRow(("s", "CALL"), 1_500_000, date(2026, 10, 5), date(2026, 10, 9))


def test_only_zero_units_give_no_rows():
    record = {
        "usage_date": DAY0, "partner_org_id": "p", "customer_org_id": "c1", "location_id": "l1",
        "subscription_id": "s", "sku": "CALL", "subject_type": "USER", "user_id": "u1",
        "subscriber_id": "s1", "workspace_id": "", "units": 0,
    }  # fmt: skip
    for report_type in ReportType:
        assert list(aggregate_reference(report_type, [record, record])) == []
