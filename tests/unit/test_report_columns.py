"""The column table (domain/report_columns.py): its invariants, what a request may ask for,
SEAT_EQUIVALENTS' exact rounding, and the create extensions `customerOrgIds` and `columns`."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.point_in_time import POINT_IN_TIME_COLUMNS, snapshot_cells
from chalicelib.domain.proration import MICRO_UNITS_PER_UNIT, format_seats, seat_equivalents
from chalicelib.domain.report_columns import (
    COLUMN_BY_NAME,
    COLUMNS,
    EXTENSION_COLUMNS,
    PIT,
    REC,
    Text,
    available_columns,
    column_problems,
    default_columns,
)
from chalicelib.domain.report_formats import ReportFormat, column_types
from chalicelib.domain.report_kinds import POINT_IN_TIME_TYPES, ReportCategory, ReportType
from chalicelib.domain.report_rows import GROUP_KEYS, Customer, Partner, RowContext, Sku
from chalicelib.domain.reports import ReportRequest
from tests.oracles import AggregatedRow, cells

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
PERIOD = {"billingStartDate": "2026-11-01", "billingEndDate": "2026-11-30"}
KINDS = [(report_type, REC) for report_type in ReportType] + [(report_type, PIT) for report_type in POINT_IN_TIME_TYPES]

# DESIGN §4a, written out: Webex's columns of the point-in-time files.
DESIGN_POINT_IN_TIME_CUSTOMER = (
    "PARTNER_NAME",
    "PARTNER_ORG_ID",
    "SUBSCRIPTION_ID",
    "SERVICE_NAME",
    "SKU",
    "DESCRIPTION",
    "CUSTOMER_ORG_ID",
    "CUSTOMER_EXTERNAL_ID",
    "LOCATION_ID",
)


# ---- the table's invariants --------------------------------------------------------------------


def test_column_names_are_unique_and_the_extensions_are_the_three_of_design():
    assert len(COLUMN_BY_NAME) == len(COLUMNS)
    assert EXTENSION_COLUMNS == ("CUSTOMER_NAME", "LOCATION_NAME", "SEAT_EQUIVALENTS")


def test_point_in_time_webex_columns_follow_design():
    assert POINT_IN_TIME_COLUMNS[ReportType.CUSTOMER] == (*DESIGN_POINT_IN_TIME_CUSTOMER, "QUANTITY")
    assert POINT_IN_TIME_COLUMNS[ReportType.USER] == (
        *DESIGN_POINT_IN_TIME_CUSTOMER,
        "SUBSCRIBER_ID",
        "USER_ID",
        "WORKSPACE_ID",
        "ASSIGNED_SINCE",
        "QUANTITY",
    )
    assert set(POINT_IN_TIME_COLUMNS) == set(POINT_IN_TIME_TYPES)


@pytest.mark.parametrize(("report_type", "category"), KINDS)
def test_each_column_reads_a_field_of_the_rows_that_carry_it(report_type, category):
    """A column that shows or looks up a row key field is only carried by types whose rows are
    keyed by it; places are distinct within a file; key columns show their field as it is."""
    carried = [column for column in COLUMNS if column.carried_by(report_type, category)]
    assert len({column.places[category] for column in carried}) == len(carried)
    for column in carried:
        if column.key is not None:
            assert column.key in GROUP_KEYS[report_type], (column.name, report_type)
        if column.text is Text.KEY:
            assert column.key is not None, column.name


def test_every_text_has_its_rule_and_every_webex_file_its_columns():
    context = RowContext(ReportType.USER, Partner("P", "P name"), {}, {}, period_days=30)
    row = AggregatedRow(
        tuple(f"k{n}" for n in range(len(GROUP_KEYS[ReportType.USER]))), 1, date(2026, 11, 1), date(2026, 11, 2)
    )
    columns = available_columns(ReportType.USER)
    assert len(cells(RowContext(**{**context.__dict__, "columns": columns}), row)) == len(columns)
    assert {column.text for column in COLUMNS} == set(Text)
    for report_type, category in KINDS:
        assert set(default_columns(report_type, category)) <= set(available_columns(report_type, category))


def test_typed_formats_take_their_types_from_the_table():
    columns = available_columns(ReportType.CUSTOMER)
    typed = {column.name: column.type for column in column_types(columns, ReportFormat.PARQUET)}
    assert typed["SEAT_EQUIVALENTS"] == typed["QUANTITY"] == "decimal(18,6)"
    assert typed["CONSUMPTION_START_DATE"] == "date" and typed["CUSTOMER_NAME"] == typed["LOCATION_NAME"] == "string"
    assert {column.type for column in column_types(columns, ReportFormat.CSV)} == {"string"}


# ---- what a request may name -------------------------------------------------------------------


@st.composite
def chosen(draw, report_type: ReportType, category: ReportCategory) -> list[str]:
    webex = default_columns(report_type, category)
    extensions = [name for name in available_columns(report_type, category) if name not in webex]
    picked = draw(st.lists(st.sampled_from(extensions), unique=True)) if extensions else []
    return draw(st.permutations([*webex, *picked]))


@settings(max_examples=80, deadline=None)
@given(data=st.data(), kind=st.sampled_from(KINDS))
def test_any_order_of_webex_columns_and_extensions_is_a_file(data, kind):
    report_type, category = kind
    columns = data.draw(chosen(report_type, category))
    assert column_problems(columns, report_type, category) == []


@settings(max_examples=80, deadline=None)
@given(data=st.data(), kind=st.sampled_from(KINDS))
def test_a_missing_webex_column_is_named(data, kind):
    report_type, category = kind
    columns = data.draw(chosen(report_type, category))
    dropped = data.draw(st.sampled_from(default_columns(report_type, category)))
    problems = column_problems([name for name in columns if name != dropped], report_type, category)
    assert len(problems) == 1 and "missing" in problems[0] and dropped in problems[0]


def test_unknown_foreign_and_repeated_columns_are_named():
    webex = list(default_columns(ReportType.PARTNER))
    problems = column_problems([*webex, "BOGUS", "CUSTOMER_NAME", "QUANTITY"], ReportType.PARTNER, REC)
    assert any("QUANTITY is named twice" in problem for problem in problems)
    assert any("unknown column BOGUS" in problem for problem in problems)
    assert any("PARTNER report has no column CUSTOMER_NAME" in problem for problem in problems)
    snapshot = column_problems(
        [*default_columns(ReportType.CUSTOMER, PIT), "SEAT_EQUIVALENTS"], ReportType.CUSTOMER, PIT
    )
    assert snapshot == [
        "columns: a POINT_IN_TIME CUSTOMER report has no column SEAT_EQUIVALENTS; it has "
        + ", ".join(available_columns(ReportType.CUSTOMER, PIT))
    ]
    assert column_problems([], ReportType.USER, REC) == ["columns must name the file's columns (omit it for Webex's)"]


# ---- SEAT_EQUIVALENTS: QUANTITY ÷ days, 6 decimals, exact half up ------------------------------


@settings(max_examples=500)
@given(units=st.integers(0, 10**15), days=st.integers(1, 5 * 366 + 1))
def test_seat_equivalents_round_half_up_exactly(units, days):
    """round_half_up(QUANTITY / days) at 6 decimals, against exact fractions and Decimal."""
    exact = Fraction(units, MICRO_UNITS_PER_UNIT * days)
    half_up = Fraction(units, days) + Fraction(1, 2)  # micro-seats: floor(units / days + 1/2)
    assert seat_equivalents(units, days) == half_up.numerator // half_up.denominator
    text = format_seats(seat_equivalents(units, days))
    whole, fraction = text.split(".")
    assert len(fraction) == 6 and whole.isdigit()
    assert abs(Fraction(text) - exact) <= Fraction(1, 2 * MICRO_UNITS_PER_UNIT)
    with localcontext() as context:
        context.prec = 60
        decimal = (Decimal(units) / Decimal(MICRO_UNITS_PER_UNIT * days)).quantize(Decimal("0.000001"), ROUND_HALF_UP)
    assert text == f"{decimal:.6f}"


def test_seat_equivalents_examples():
    assert format_seats(seat_equivalents(31_000_000, 31)) == "1.000000"
    assert format_seats(seat_equivalents(1_000_000, 3)) == "0.333333"
    assert format_seats(seat_equivalents(2_000_000, 3)) == "0.666667"
    assert format_seats(seat_equivalents(1, 2)) == "0.000001"  # exactly half a micro-seat: up
    assert format_seats(seat_equivalents(1, 3)) == "0.000000"
    with pytest.raises(ValueError):
        seat_equivalents(1, 0)


# ---- naming rows with the extension columns ----------------------------------------------------


CUSTOMERS = {
    "c1": Customer("c1", "P", "EXT-1", name="=Bluebird, Dental", locations=(("L1", "Head Office"),)),
}
SKUS = {"S": Sku("S", "WEBEX_CALLING", "Pro")}


def test_names_and_seats_in_the_order_asked():
    columns = ("CUSTOMER_NAME", *default_columns(ReportType.CUSTOMER), "LOCATION_NAME", "SEAT_EQUIVALENTS")
    context = RowContext(ReportType.CUSTOMER, Partner("P", "Acme"), CUSTOMERS, SKUS, columns=columns, period_days=30)
    known = AggregatedRow(("c1", "L1", "sub", "S"), 15_000_000, date(2026, 11, 1), date(2026, 11, 30))
    unknown = AggregatedRow(("c2", "L9", "sub", "S"), 1, date(2026, 11, 1), date(2026, 11, 1))
    named = dict(zip(columns, cells(context, known), strict=True))
    assert cells(context, known)[0] == "=Bluebird, Dental"  # the CSV renderer guards and quotes it
    assert (named["LOCATION_NAME"], named["SEAT_EQUIVALENTS"], named["QUANTITY"]) == ("Head Office", "0.500000", "15")
    blank = dict(zip(columns, cells(context, unknown), strict=True))
    assert (blank["CUSTOMER_NAME"], blank["LOCATION_NAME"], blank["SEAT_EQUIVALENTS"]) == ("", "", "0.000000")


def test_snapshot_rows_carry_chosen_columns():
    columns = (*POINT_IN_TIME_COLUMNS[ReportType.USER], "CUSTOMER_NAME", "LOCATION_NAME")
    context = RowContext(
        ReportType.USER, Partner("P", "Acme"), CUSTOMERS, SKUS, category=ReportCategory.POINT_IN_TIME, columns=columns
    )
    key = ("P", "c1", "L1", "sub", "S", "USER", "u1", "s1", "")
    [row] = snapshot_cells(context, {key: 1_764_547_200})
    cells = dict(zip(columns, row, strict=True))
    assert cells["QUANTITY"] == "1" and cells["ASSIGNED_SINCE"] == "2025-12-01T00:00:00Z"
    assert (cells["CUSTOMER_NAME"], cells["LOCATION_NAME"]) == ("=Bluebird, Dental", "Head Office")


# ---- the request: customerOrgIds and columns ---------------------------------------------------


def test_a_webex_request_is_unchanged():
    """No extension: no field, the duplicate key as every stored lock holds it, no echo."""
    request = ReportRequest.from_body({**PERIOD, "type": "CUSTOMER"}, NOW)
    assert request.customer_org_ids is None and request.columns is None
    assert request.duplicate_key() == '["CUSTOMER",null,"2026-11-01","2026-11-30",false]'
    assert request.extension_json() == {}


def test_extensions_join_the_duplicate_key_and_the_echo():
    body = {**PERIOD, "type": "CUSTOMER", "customerOrgIds": ["c2", "c1", "c2"]}
    by_customers = ReportRequest.from_body(body, NOW)
    assert by_customers.customer_org_ids == ("c1", "c2")  # a set: order and repeats do not matter
    assert (
        by_customers.duplicate_key()
        == ReportRequest.from_body({**body, "customerOrgIds": ["c1", "c2"]}, NOW).duplicate_key()
    )
    columns = [*default_columns(ReportType.CUSTOMER), "CUSTOMER_NAME"]
    with_columns = ReportRequest.from_body({**body, "columns": columns}, NOW)
    reordered = ReportRequest.from_body({**body, "columns": columns[::-1]}, NOW)
    keys = {request.duplicate_key() for request in (by_customers, with_columns, reordered)}
    assert len(keys) == 3  # the order of columns is the file's: another file, another report
    assert json.loads(with_columns.duplicate_key() or "")[-2:] == [
        {"customerOrgIds": ["c1", "c2"]},
        {"columns": columns},
    ]
    assert with_columns.extension_json() == {"customerOrgIds": ["c1", "c2"], "columns": columns}


@pytest.mark.parametrize(
    ("extension", "message"),
    [
        ({"customerOrgIds": []}, "customerOrgIds must name at least one customer"),
        ({"customerOrgIds": "c1"}, "customerOrgIds must be a list"),
        ({"customerOrgIds": ["c1", 7]}, "customerOrgIds: 7 is not a non-empty org id string"),
        ({"customerOrgIds": [" "]}, 'customerOrgIds: " " is not a non-empty org id string'),
        ({"customerOrgIds": ["c"] * 101}, "at most 100"),
        ({"columns": "QUANTITY"}, "columns must be a list of column names"),
        ({"columns": [1]}, "columns must be a list of column names"),
        ({"columns": []}, "columns must name the file's columns"),
        ({"columns": ["QUANTITY", "NOPE"]}, "unknown column NOPE"),
    ],
)
def test_bad_extensions_are_400s_that_name_them(extension, message):
    with pytest.raises(InvalidRequest) as raised:
        ReportRequest.from_body({**PERIOD, "type": "CUSTOMER", **extension}, NOW)
    assert any(message in problem for problem in raised.value.problems), raised.value.problems


def test_point_in_time_takes_customers_and_names_but_not_seats():
    body = {"category": "POINT_IN_TIME", "type": "CUSTOMER", "customerOrgIds": ["c1"]}
    columns = [*POINT_IN_TIME_COLUMNS[ReportType.CUSTOMER], "LOCATION_NAME"]
    request = ReportRequest.from_body({**body, "columns": columns}, NOW)
    assert request.point_in_time and request.columns == tuple(columns) and request.duplicate_key() is None
    with pytest.raises(InvalidRequest) as raised:
        ReportRequest.from_body({**body, "columns": [*columns, "SEAT_EQUIVALENTS"]}, NOW)
    assert "POINT_IN_TIME CUSTOMER report has no column SEAT_EQUIVALENTS" in raised.value.problems[0]
