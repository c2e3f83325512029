"""The rollup rating keeps beside the lake equals the reports (DESIGN §12 invariant), property-tested.

For random event histories (demo worlds of random size, seed and length: duplicates, redundant
assignments, internal customers, a sub-partner; late events held back), each run through the real
pipeline on a fresh moto AWS — ingest, rate, then the late events and their restatement — the read
API's totals of a random period (sometimes a whole calendar month, read from the month sums) equal
the PARTNER and CUSTOMER reports the real worker generates for that period, to the micro-unit,
before and after the restatement; the month sums made before the restatement are not reused.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from chalicelib.bootstrap import Container, set_container
from chalicelib.config import Settings
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.months import Month
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, DEMO_SUB_PARTNER, demo_events, demo_world
from tests.conftest import TODAY, fresh_container
from tests.readers import object_text

CALLER = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
EXAMPLES = int(os.environ.get("WBR_ROLLUP_EXAMPLES", "2"))  # each is a pipeline on a fresh moto
LAST_DAY = TODAY - timedelta(days=1)


def _units(text: str) -> int:
    return int(Decimal(text) * 1_000_000)


def _reports(container: Container, start: date, end: date, scope: dict[str, Any]) -> dict[str, list[dict]]:
    """The PARTNER and CUSTOMER reports of the period, generated together by the real worker
    (then deleted: the next check may ask for the same period)."""
    body = {"billingStartDate": start.isoformat(), "billingEndDate": end.isoformat(), **scope}
    made = {
        kind: container.reports.create(CALLER, {**body, "type": kind}, "WBR_rollup")[0]
        for kind in ("PARTNER", "CUSTOMER")
    }
    container.workflow.join(120)
    files = {}
    for kind, report in made.items():
        done = container.report_store.get(DEMO_PARTNER, report.report_id)
        assert done is not None and done.status.value == "COMPLETED", done
        files[kind] = list(csv.DictReader(io.StringIO(object_text(container, done.s3_key))))
        container.reports.delete(CALLER, report.report_id)
    return files


def _assert_rollup_equals_reports(container: Container, start: date, end: date, scope: dict[str, Any]) -> None:
    params = {
        "billingStartDate": start.isoformat(),
        "billingEndDate": end.isoformat(),
        "max": "1000",
        **{name: ("true" if value is True else value) for name, value in scope.items()},
    }
    by_sku = container.usage.totals(CALLER, {**params, "groupBy": "sku"}).body
    by_customer = container.usage.totals(CALLER, {**params, "groupBy": "customer"}).body
    reports = _reports(container, start, end, scope)
    partner, customer = reports["PARTNER"], reports["CUSTOMER"]

    assert {(i["subscriptionId"], i["sku"]): i["quantity"] for i in by_sku["items"]} == {
        (r["SUBSCRIPTION_ID"], r["SKU"]): r["QUANTITY"] for r in partner
    }
    expected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in customer:
        expected[row["CUSTOMER_ORG_ID"]][row["SKU"]] += _units(row["QUANTITY"])
    assert {
        item["customerOrgId"]: {entry["sku"]: _units(entry["quantity"]) for entry in item["skus"]}
        for item in by_customer["items"]
    } == {customer_id: dict(skus) for customer_id, skus in expected.items()}
    total = sum(_units(r["QUANTITY"]) for r in partner)
    assert total == sum(_units(r["QUANTITY"]) for r in customer)  # PARTNER = Σ CUSTOMER
    for body in (by_sku, by_customer):
        assert _units(body["totals"]["quantity"]) == total
        assert body["totals"]["customers"] == len(expected)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(
    seed=st.integers(0, 10**6),
    users=st.integers(1, 25),
    workspaces=st.integers(0, 4),
    days=st.integers(3, 40),
    whole_month=st.booleans(),
    offsets=st.tuples(st.integers(0, 39), st.integers(0, 39)),
    internal=st.booleans(),
    sub_partner=st.booleans(),
)
@example(  # a whole calendar month (the month sums), restated, with internal customers: always tried
    seed=11, users=20, workspaces=3, days=40, whole_month=True, offsets=(0, 0), internal=True, sub_partner=False
)
def test_rollup_totals_equal_the_partner_and_customer_reports(
    dev_keys, seed, users, workspaces, days, whole_month, offsets, internal, sub_partner
):
    world = demo_world(TODAY, days=days, users=users, workspaces=workspaces, seed=seed)
    month = Month.of(TODAY).previous()
    if whole_month and world.first_day <= month.first_day:
        start, end = month.first_day, month.last_day  # read from the month sums
    else:
        first, second = (world.first_day + timedelta(days=min(o, days - 1)) for o in offsets)
        start, end = min(first, second), max(first, second)
    scope: dict[str, Any] = {}
    if internal:
        scope["internal"] = True
    if sub_partner:
        scope["subPartnerOrgId"] = DEMO_SUB_PARTNER
    base = Settings(stage="local", jwt_public_key_file=str(dev_keys.public_path), shard_rows=200)
    with fresh_container(base) as container:
        on_time, late = demo_events(world, seed=seed)
        container.ingestion.ingest_lines((json.dumps(event) for event in on_time), source="property")
        container.rating.rate_through(LAST_DAY)
        _assert_rollup_equals_reports(container, start, end, scope)
        # Late events restate their days: the rollup follows (new day versions, new month sums).
        container.ingestion.ingest_lines((json.dumps(event) for event in late), source="property-late")
        while container.rating.restate_pending():
            pass
        restated_end = max(end, LAST_DAY - timedelta(days=1))
        _assert_rollup_equals_reports(container, start, restated_end, scope)
        if start <= LAST_DAY - timedelta(days=2) <= end:
            _assert_rollup_equals_reports(container, start, end, scope)


@pytest.fixture(autouse=True)
def _no_ambient_container():
    yield
    set_container(None)


@pytest.mark.usefixtures("streams_routed")
def test_a_months_last_day_published_keeps_its_sums_for_the_month_views_first_request(seeded: Container) -> None:
    """The usage_days stream hands each publication to the bus; a month's last day makes the read
    API keep that month's sums of every partner org, so the month view's first request reads
    them (it writes no month object of its own) and answers what the day rollups sum to."""
    from tests.conftest import deliver_publications

    month = Month.of(TODAY).previous()
    prefix = f"rollup/months/{month}/"

    def month_objects() -> list[str]:
        listed = seeded.s3.list_objects_v2(Bucket=seeded.settings.lake_bucket, Prefix=prefix)
        return sorted(entry["Key"] for entry in listed.get("Contents", []))

    assert month_objects() == []  # the snapshot was taken before any publication was delivered
    deliver_publications(seeded)
    kept = month_objects()
    orgs = {partner.org_id for partner in seeded.directory.partners()}
    assert len(kept) == 2 * len(orgs)  # sums and subjects of each partner org

    caller = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE}))
    period = {"billingStartDate": month.first_day.isoformat(), "billingEndDate": month.last_day.isoformat()}
    answer = seeded.usage.totals(caller, {**period, "groupBy": "sku", "internal": "true"}).body
    assert month_objects() == kept  # read, not built again
    versions = seeded.calendar.published_versions(month.days())
    days = seeded.rollups.days(versions, [DEMO_PARTNER, DEMO_SUB_PARTNER])
    assert _units(answer["totals"]["quantity"]) == sum(row[-1] for row in days.rows())
