"""Report generation against moto: the workflow steps, the lake and the CSV rules of ARCHITECTURE.md §3."""

from __future__ import annotations

import csv
import hashlib
import io
from collections import defaultdict
from datetime import timedelta

import pytest

from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.errors import ReportErrorCode
from chalicelib.domain.partners import PartnerTree
from chalicelib.domain.proration import format_quantity
from chalicelib.domain.report_rows import RowContext, columns_for, neutralise_cell
from chalicelib.domain.reports import ReportStatus, ReportType
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, DEMO_SUB_PARTNER, usage_by_day
from tests.conftest import TODAY, unpublish_day
from tests.oracles import aggregate_reference, cells
from tests.readers import object_text

CALLER = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))


def _generate(container, **body):
    period = {
        "billingStartDate": (TODAY - timedelta(days=30)).isoformat(),
        "billingEndDate": (TODAY - timedelta(days=1)).isoformat(),
    }
    report, created = container.reports.create(CALLER, {**period, **body}, "WBR_test")
    assert created
    container.workflow.join(60)
    return container.reports.get(CALLER, report.report_id)


def _download(container, report) -> str:
    return object_text(container, report.s3_key)


def _expected_rows(container, world, report) -> list[list[str]]:
    """The rows ARCHITECTURE.md §3 asks for, computed with the pure reference aggregation."""
    tree = PartnerTree(world.partners)
    scope = tree.report_scope(DEMO_PARTNER, report.request.sub_partner_org_id)
    orgs = set(tree.subtree(scope.org_id))
    customers = {
        c.org_id: c for c in world.customers if c.partner_org_id in orgs and (report.request.internal or not c.internal)
    }
    usage = [
        row
        for day, rows in usage_by_day(world.assignments).items()
        if report.period.start <= day <= report.period.end
        for row in rows
        if row["customer_org_id"] in customers
    ]
    context = RowContext(report.report_type, scope, customers, {s.sku: s for s in world.skus})
    return [
        [neutralise_cell(cell) for cell in cells(context, row)] for row in aggregate_reference(report.report_type, usage)
    ]


@pytest.mark.parametrize("report_type", list(ReportType))
def test_report_completes_with_exact_rows(seeded, world, report_type):
    report, url = _generate(seeded, type=report_type.value)
    assert report.status is ReportStatus.COMPLETED, report.errors
    text = _download(seeded, report)
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == list(columns_for(report_type))
    expected = _expected_rows(seeded, world, report)
    assert parsed[1:] == expected
    assert report.row_count == len(expected) > 0
    assert report.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert text.endswith("\r\n") and "\r\n" in text
    assert url and report.s3_key in url


def test_user_customer_partner_totals_reconcile_exactly(seeded):
    totals = {}
    for report_type in ReportType:
        report, _ = _generate(seeded, type=report_type.value)
        rows = list(csv.DictReader(io.StringIO(_download(seeded, report))))
        per_sku: dict[tuple[str, str], int] = defaultdict(int)
        for row in rows:
            whole, _, fraction = row["QUANTITY"].partition(".")
            per_sku[(row["SUBSCRIPTION_ID"], row["SKU"])] += int(whole) * 1_000_000 + int((fraction + "000000")[:6])
        totals[report_type] = dict(per_sku)
    assert totals[ReportType.USER] == totals[ReportType.CUSTOMER] == totals[ReportType.PARTNER]
    assert totals[ReportType.USER]


def test_internal_customers_only_when_asked(seeded, world):
    internal_ids = {c.org_id for c in world.customers if c.internal}
    without, _ = _generate(seeded, type="CUSTOMER")
    with_internal, _ = _generate(seeded, type="CUSTOMER", internal=True)
    assert not internal_ids & {
        row["CUSTOMER_ORG_ID"] for row in csv.DictReader(io.StringIO(_download(seeded, without)))
    }
    assert internal_ids & {
        row["CUSTOMER_ORG_ID"] for row in csv.DictReader(io.StringIO(_download(seeded, with_internal)))
    }


def test_sub_partner_report_names_and_covers_only_the_sub_partner(seeded, world):
    report, _ = _generate(seeded, type="CUSTOMER", subPartnerOrgId=DEMO_SUB_PARTNER)
    rows = list(csv.DictReader(io.StringIO(_download(seeded, report))))
    sub_customers = {c.org_id for c in world.customers if c.partner_org_id == DEMO_SUB_PARTNER}
    assert rows and {row["PARTNER_ORG_ID"] for row in rows} == {DEMO_SUB_PARTNER}
    assert {row["PARTNER_NAME"] for row in rows} == {"Acme Reseller East"}
    assert {row["CUSTOMER_ORG_ID"] for row in rows} <= sub_customers


def test_same_data_gives_byte_identical_file(seeded):
    first, _ = _generate(seeded, type="USER")
    text = _download(seeded, first)
    seeded.reports.delete(CALLER, first.report_id)
    second, _ = _generate(seeded, type="USER")
    assert second.report_id != first.report_id
    assert _download(seeded, second) == text and second.sha256 == first.sha256


def test_unpublished_day_fails_with_data_not_available_after_the_wait(container, seeded):
    # A day inside the data window (after the data epoch) that is not published; with no wait
    # allowed the report fails. (Days before the epoch count as published empty: see below.)
    day = TODAY - timedelta(days=20)
    unpublish_day(seeded, day)
    object.__setattr__(seeded.generation, "_policy", type(seeded.generation._policy)(0, 250))
    start = day.isoformat()
    report, _ = seeded.reports.create(CALLER, {"billingStartDate": start, "billingEndDate": start}, "WBR_t")
    seeded.workflow.join(30)
    failed, url = seeded.reports.get(CALLER, report.report_id)
    assert failed.status is ReportStatus.FAILED and url is None
    assert [error.code for error in failed.errors] == [ReportErrorCode.DATA_NOT_AVAILABLE]
    assert start in failed.errors[0].description
    assert seeded.blobs.list_keys("parts/") == []


def test_days_before_the_data_epoch_are_published_empty(container, seeded, world):
    # No event occurred before the epoch: those days are never rated, yet a report over them
    # completes at once with no rows (it neither waits nor fails DATA_NOT_AVAILABLE), even with
    # no wait allowed.
    epoch = seeded.calendar.data_epoch()
    assert epoch is not None and epoch > TODAY - timedelta(days=50)
    start, end = TODAY - timedelta(days=60), TODAY - timedelta(days=50)
    assert seeded.calendar.published_versions([start + timedelta(days=n) for n in range(11)]) == {}
    object.__setattr__(seeded.generation, "_policy", type(seeded.generation._policy)(0, 250))
    report, _ = seeded.reports.create(
        CALLER, {"billingStartDate": start.isoformat(), "billingEndDate": end.isoformat(), "type": "USER"}, "WBR_t"
    )
    seeded.workflow.join(30)
    done, url = seeded.reports.get(CALLER, report.report_id)
    assert done.status is ReportStatus.COMPLETED, done.errors
    assert not done.errors and done.waiting_for is None
    assert done.row_count == 0
    text = _download(seeded, done)
    assert list(csv.reader(io.StringIO(text))) == [list(columns_for(ReportType.USER))]
    assert done.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert url and done.s3_key in url
    assert seeded.report_store.waiting() == [] and seeded.blobs.list_keys("parts/") == []

    # A period straddling the epoch: the pre-epoch days add nothing, the others their usage.
    straddling, _ = seeded.reports.create(
        CALLER,
        {
            "billingStartDate": start.isoformat(),
            "billingEndDate": (epoch + timedelta(days=3)).isoformat(),
            "type": "CUSTOMER",
        },
        "WBR_t",
    )
    seeded.workflow.join(30)
    done, _ = seeded.reports.get(CALLER, straddling.report_id)
    assert done.status is ReportStatus.COMPLETED, done.errors
    expected = _expected_rows(seeded, world, done)
    assert list(csv.reader(io.StringIO(_download(seeded, done))))[1:] == expected
    assert done.row_count == len(expected) > 0


def test_quantity_matches_hand_computed_proration(seeded, world):
    report, _ = _generate(seeded, type="USER")
    rows = list(csv.DictReader(io.StringIO(_download(seeded, report))))
    by_day = usage_by_day(world.assignments)
    # Pick a user row and recompute its quantity from the intervals by hand.
    row = next(r for r in rows if r["USER_ID"] and "." in r["QUANTITY"])
    units = sum(
        u["units"]
        for day, us in by_day.items()
        if report.period.start <= day <= report.period.end
        for u in us
        if u["user_id"] == row["USER_ID"]
        and u["sku"] == row["SKU"]
        and u["location_id"] == row["LOCATION_ID"]
        and u["subscription_id"] == row["SUBSCRIPTION_ID"]
    )
    assert row["QUANTITY"] == format_quantity(units)
