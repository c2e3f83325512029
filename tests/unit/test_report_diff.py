"""The diff rule (domain/report_diff.py): exact, complete, in key order."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.proration import MICRO_UNITS_PER_UNIT
from chalicelib.domain.report_diff import (
    Change,
    RowNames,
    diff_columns,
    diff_rows,
    key_columns,
    named_ids,
    render_diff_csv,
    signed_quantity,
    summarize,
)
from chalicelib.domain.reports import ReportType

KEYS = st.tuples(
    st.sampled_from(["p1", "p2"]),
    st.sampled_from(["c1", "=c2", "c,3"]),
    st.just("loc"),
    st.just("sub"),
    st.sampled_from(["SKU-A", "SKU-B"]),
)
SIDE = st.dictionaries(KEYS, st.integers(min_value=0, max_value=10**12), max_size=12)


def _units(text: str) -> int:
    return int(Decimal(text) * MICRO_UNITS_PER_UNIT) if text else 0


def test_key_columns_are_the_row_ids_of_each_type():
    assert key_columns(ReportType.PARTNER) == ("PARTNER_ORG_ID", "SUBSCRIPTION_ID", "SKU")
    assert key_columns(ReportType.CUSTOMER) == (
        "PARTNER_ORG_ID",
        "CUSTOMER_ORG_ID",
        "LOCATION_ID",
        "SUBSCRIPTION_ID",
        "SKU",
    )
    assert key_columns(ReportType.USER)[-3:] == ("USER_ID", "SUBSCRIBER_ID", "WORKSPACE_ID")
    assert diff_columns(ReportType.PARTNER)[0] == "CHANGE" and diff_columns(ReportType.PARTNER)[-1] == "DIFFERENCE"


@given(SIDE, SIDE)
def test_every_differing_key_once_classified_and_exact(old, new):
    rows = diff_rows(old, new)
    assert [row.key for row in rows] == sorted(row.key for row in rows)
    assert {row.key for row in rows} == {key for key in old.keys() | new.keys() if old.get(key) != new.get(key)}
    for row in rows:
        expected = Change.ADDED if row.key not in old else Change.REMOVED if row.key not in new else Change.CHANGED
        assert row.change is expected
        assert row.difference == new.get(row.key, 0) - old.get(row.key, 0)
    assert sum(row.difference for row in rows) == sum(new.values()) - sum(old.values())


NAMES = RowNames({"p1": "Partner One", "p2": "=Partner, Two"}, {"c1": "Cust \"1\"", "c,3": "@Three"}, {"SKU-A": "A"})


@given(SIDE, SIDE)
def test_the_csv_reads_back_to_the_same_numbers_and_names(old, new):
    # a 5-field key as a CUSTOMER row key: PARTNER_ORG_ID, CUSTOMER_ORG_ID, LOCATION_ID, SUBSCRIPTION_ID, SKU
    rows = diff_rows(old, new)
    lines = list(csv.reader(io.StringIO(render_diff_csv(ReportType.CUSTOMER, rows, NAMES), newline="")))
    assert lines[0] == list(diff_columns(ReportType.CUSTOMER))
    assert lines[0][:9] == ["CHANGE", "PARTNER_ORG_ID", "PARTNER_NAME", "CUSTOMER_ORG_ID", "CUSTOMER_NAME",
                            "LOCATION_ID", "SUBSCRIPTION_ID", "SKU", "SKU_NAME"]
    assert len(lines) == len(rows) + 1
    for row, line in zip(rows, lines[1:], strict=True):
        assert line[0] == row.change.value
        cells = [cell.removeprefix("'") for cell in line[1:9]]  # the injection guard only
        partner, customer, location, subscription, sku = row.key
        assert cells == [partner, NAMES.partners.get(partner, ""), customer, NAMES.customers.get(customer, ""),
                         location, subscription, sku, NAMES.skus.get(sku, "")]
        assert (_units(line[9]), _units(line[10]), _units(line[11])) == (
            row.old_units or 0,
            row.new_units or 0,
            row.difference,
        )
        assert (line[9] == "") == (row.old_units is None) and (line[10] == "") == (row.new_units is None)


@given(SIDE, SIDE)
def test_the_summary_adds_up_per_sku(old, new):
    rows = diff_rows(old, new)
    summary = summarize(ReportType.CUSTOMER, old, new, rows, NAMES)
    assert summary["rowsAdded"] + summary["rowsRemoved"] + summary["rowsChanged"] == len(rows)
    assert summary["rowsUnchanged"] == sum(1 for key in old.keys() & new.keys() if old[key] == new[key])
    skus = summary["skus"]
    assert sum(_units(sku["difference"]) for sku in skus) == _units(summary["difference"])
    assert sum(_units(sku["newQuantity"]) for sku in skus) == sum(new.values()) == _units(summary["newQuantity"])
    for sku in skus:
        assert sku["skuName"] == NAMES.skus.get(sku["sku"], "")
        assert _units(sku["newQuantity"]) - _units(sku["oldQuantity"]) == _units(sku["difference"])


def test_signed_quantity():
    assert signed_quantity(-500_000) == "-0.5" and signed_quantity(31_000_000) == "31" and signed_quantity(0) == "0"


def test_named_ids_are_the_ids_of_the_named_columns():
    keys = [("p1", "c1", "l", "s", "SKU-A"), ("p2", "c,3", "l", "s", "SKU-B")]
    assert named_ids(ReportType.CUSTOMER, keys) == {
        "PARTNER_ORG_ID": {"p1", "p2"}, "CUSTOMER_ORG_ID": {"c1", "c,3"}, "SKU": {"SKU-A", "SKU-B"}
    }
    assert named_ids(ReportType.PARTNER, [("p1", "s", "SKU-A")]) == {"PARTNER_ORG_ID": {"p1"}, "SKU": {"SKU-A"}}
    assert diff_columns(ReportType.PARTNER) == (
        "CHANGE", "PARTNER_ORG_ID", "PARTNER_NAME", "SUBSCRIPTION_ID", "SKU", "SKU_NAME",
        "OLD_QUANTITY", "NEW_QUANTITY", "DIFFERENCE",
    )
