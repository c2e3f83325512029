"""The create extensions against moto (DESIGN §3): reports of chosen customers (`customerOrgIds`)
and with chosen columns (`columns`: names of customers and locations, seat equivalents), through
the whole pipeline: directory events → directory → snapshot → workflow steps → file."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.errors import Conflict, Forbidden
from chalicelib.domain.manifest import report_file_columns
from chalicelib.domain.partners import PartnerTree
from chalicelib.domain.proration import MICRO_UNITS_PER_UNIT
from chalicelib.domain.report_columns import available_columns, default_columns
from chalicelib.domain.report_kinds import ReportCategory
from chalicelib.domain.report_rows import RowContext, neutralise_cell
from chalicelib.domain.reports import ReportStatus, ReportType
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, DEMO_SUB_PARTNER, OTHER_PARTNER, usage_by_day
from tests.conftest import TODAY
from tests.oracles import aggregate_reference, cells
from tests.readers import object_bytes, object_text

CALLER = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
PERIOD = {
    "billingStartDate": (TODAY - timedelta(days=30)).isoformat(),
    "billingEndDate": (TODAY - timedelta(days=1)).isoformat(),
}


def _generate(container, **body):
    report, created = container.reports.create(CALLER, {**PERIOD, **body}, "WBR_test")
    assert created
    container.workflow.join(60)
    done, _ = container.reports.get(CALLER, report.report_id)
    assert done.status is ReportStatus.COMPLETED, done.errors
    return done


def _rows(container, report) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(object_text(container, report.s3_key))))


def _chosen(world) -> list[str]:
    """Two customers of the partner itself and one of its sub-partner."""
    own = [c.org_id for c in world.customers if c.partner_org_id == DEMO_PARTNER and not c.internal][:2]
    sub = [c.org_id for c in world.customers if c.partner_org_id == DEMO_SUB_PARTNER][:1]
    return own + sub


def _totals(rows) -> dict[tuple[str, str], int]:
    per_sku: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        per_sku[(row["SUBSCRIPTION_ID"], row["SKU"])] += int(Decimal(row["QUANTITY"]) * MICRO_UNITS_PER_UNIT)
    return dict(per_sku)


def test_reports_of_chosen_customers_reconcile_exactly_among_themselves(seeded, world):
    chosen = _chosen(world)
    totals = {}
    for report_type in ReportType:
        report = _generate(seeded, type=report_type.value, customerOrgIds=chosen)
        rows = _rows(seeded, report)
        if report_type is not ReportType.PARTNER:
            assert rows and {row["CUSTOMER_ORG_ID"] for row in rows} == set(chosen)
        totals[report_type] = _totals(rows)
    assert totals[ReportType.USER] == totals[ReportType.CUSTOMER] == totals[ReportType.PARTNER]
    # and they are exactly those customers' rows of the report of every customer
    everyone = _rows(seeded, _generate(seeded, type="CUSTOMER"))
    assert _totals(row for row in everyone if row["CUSTOMER_ORG_ID"] in chosen) == totals[ReportType.CUSTOMER]
    assert _totals(everyone) != totals[ReportType.CUSTOMER]


def test_chosen_columns_are_the_reference_rows_named_from_the_directory_events(seeded, world):
    """Names come from CUSTOMER_UPSERTED.name and LOCATION_UPSERTED (ingested by the demo
    pipeline), seat equivalents from QUANTITY ÷ the period's 30 days: each row is exactly what
    the domain's rules give from the demo world."""
    for report_type in (ReportType.CUSTOMER, ReportType.USER):
        webex = list(default_columns(report_type))
        columns = ["CUSTOMER_NAME", "LOCATION_NAME", *webex[::-1], "SEAT_EQUIVALENTS"]
        report = _generate(seeded, type=report_type.value, columns=columns)
        text = object_text(seeded, report.s3_key)
        parsed = list(csv.reader(io.StringIO(text)))
        assert parsed[0] == columns == list(report_file_columns(report))
        tree = PartnerTree(world.partners)
        orgs = set(tree.subtree(DEMO_PARTNER))
        customers = {c.org_id: c for c in world.customers if c.partner_org_id in orgs and not c.internal}
        usage = [
            row
            for day, rows in usage_by_day(world.assignments).items()
            if report.period.start <= day <= report.period.end
            for row in rows
            if row["customer_org_id"] in customers
        ]
        context = RowContext(
            report_type,
            tree.get(DEMO_PARTNER),
            customers,
            {sku.sku: sku for sku in world.skus},
            columns=tuple(columns),
            period_days=30,
        )
        expected = [
            [neutralise_cell(cell) for cell in cells(context, row)] for row in aggregate_reference(report_type, usage)
        ]
        assert parsed[1:] == expected and report.row_count == len(expected) > 0
        assert all(row[0] and row[1] for row in parsed[1:])  # every demo customer and location has a name
        # the Webex columns hold what the Webex file holds, row for row
        webex_file = list(
            csv.DictReader(io.StringIO(object_text(seeded, _generate(seeded, type=report_type.value).s3_key)))
        )
        assert [{name: row[name] for name in webex} for row in csv.DictReader(io.StringIO(text))] == webex_file


def test_every_format_carries_the_chosen_columns(seeded, world):
    columns = [*default_columns(ReportType.CUSTOMER), "CUSTOMER_NAME", "SEAT_EQUIVALENTS"]
    chosen = _chosen(world)
    plain = _generate(seeded, type="CUSTOMER", columns=columns, customerOrgIds=chosen)
    packed = _generate(seeded, type="CUSTOMER", columns=columns, customerOrgIds=chosen, format="parquet")
    table = pq.read_table(pa.BufferReader(object_bytes(seeded, packed.s3_key)))
    assert table.column_names == columns
    assert table.schema.field("SEAT_EQUIVALENTS").type == pa.decimal128(18, 6)
    assert table.schema.field("CUSTOMER_NAME").type == pa.string()
    rows = _rows(seeded, plain)
    assert [str(value) for value in table["SEAT_EQUIVALENTS"].to_pylist()] == [row["SEAT_EQUIVALENTS"] for row in rows]
    assert table["CUSTOMER_NAME"].to_pylist() == [row["CUSTOMER_NAME"] for row in rows]
    assert set(table["CUSTOMER_ORG_ID"].to_pylist()) == set(chosen)


def test_customers_outside_the_scope_are_403_and_nothing_is_made(seeded, world):
    others = [c.org_id for c in world.customers if c.partner_org_id == OTHER_PARTNER]
    own = [c.org_id for c in world.customers if c.partner_org_id == DEMO_PARTNER]
    before = seeded.reports.list(CALLER, {}).items
    for body in (
        {"customerOrgIds": [own[0], others[0]]},  # another partner's customer
        {"customerOrgIds": ["no-such-customer"]},
        {"customerOrgIds": [own[0]], "subPartnerOrgId": DEMO_SUB_PARTNER},  # not in the sub-partner's subtree
    ):
        with pytest.raises(Forbidden) as raised:
            seeded.reports.create(CALLER, {**PERIOD, "type": "CUSTOMER", **body}, "WBR_test")
        assert all("customerOrgIds" in problem for problem in raised.value.problems)
    assert seeded.reports.list(CALLER, {}).items == before
    sub = [c.org_id for c in world.customers if c.partner_org_id == DEMO_SUB_PARTNER]
    report = _generate(seeded, type="CUSTOMER", customerOrgIds=sub[:1], subPartnerOrgId=DEMO_SUB_PARTNER)
    assert {row["PARTNER_ORG_ID"] for row in _rows(seeded, report)} == {DEMO_SUB_PARTNER}


def test_the_extensions_are_part_of_the_duplicate_key_and_stored(seeded, world):
    chosen = _chosen(world)
    columns = [*default_columns(ReportType.USER), "LOCATION_NAME"]
    report = _generate(seeded, type="USER", customerOrgIds=chosen, columns=columns)
    stored = seeded.report_store.get(DEMO_PARTNER, report.report_id)
    assert stored.request.customer_org_ids == tuple(sorted(chosen)) and stored.request.columns == tuple(columns)
    with pytest.raises(Conflict):  # the same request, customers in another order: the same report
        seeded.reports.create(
            CALLER, {**PERIOD, "type": "USER", "customerOrgIds": chosen[::-1], "columns": columns}, "WBR_test"
        )
    # another choice of customers, other columns, or none: other reports
    _generate(seeded, type="USER", customerOrgIds=chosen[:1], columns=columns)
    _generate(seeded, type="USER", customerOrgIds=chosen)
    _generate(seeded, type="USER", columns=columns)
    _generate(seeded, type="USER")


def test_point_in_time_of_chosen_customers_with_names(seeded, world):
    chosen = _chosen(world)
    columns = list(available_columns(ReportType.USER, ReportCategory.POINT_IN_TIME))
    report, _ = seeded.reports.create(
        CALLER,
        {"category": "POINT_IN_TIME", "type": "USER", "customerOrgIds": chosen, "columns": columns},
        "WBR_test",
    )
    seeded.workflow.join(60)
    done, _ = seeded.reports.get(CALLER, report.report_id)
    assert done.status is ReportStatus.COMPLETED, done.errors
    rows = _rows(seeded, done)
    assert rows and {row["CUSTOMER_ORG_ID"] for row in rows} <= set(chosen)
    names = {c.org_id: c for c in world.customers}
    for row in rows:
        customer = names[row["CUSTOMER_ORG_ID"]]
        assert row["CUSTOMER_NAME"] == customer.name
        assert row["LOCATION_NAME"] == customer.location_name(row["LOCATION_ID"]) != ""
    assert list(rows[0]) == columns
