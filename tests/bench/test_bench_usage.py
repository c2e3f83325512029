"""The console's read API over HTTP (DESIGN §9, §12): a month's totals by SKU and by customer of a
100 000-subject partner ≤ 150 ms, explain ≤ 200 ms, on a `wbr dev` of the benchmark's own.

The data: `local/scaled_world.py`'s `scaled_world` (one partner, 100 000 subjects over 2 000 customers, assigned
the whole last complete month), run through the real pipeline into the stack's local AWS
(ingestion, then rating, which writes the rollup beside the lake). Each figure is the median of
`WBR_BENCH_USAGE_REQUESTS` requests over HTTP (urllib, a new connection each, as a script would),
after one warm-up request, and stands beside baselines measured in the same run:
- the bare rollup read: the month's sums object of the partner fetched from the same local S3
  with boto3 and summed per SKU in pyarrow (no HTTP, no authorizer, no directory);
- the same sum built from the 30 or 31 day rollups (what the first request of a month pays once,
  before its month sum is kept);
- what the rollup saves: reading the partner's lake objects of the month once (bytes only);
- for explain, the bare reads of what it reads: the customer's state partition of the day
  before the month and the customer's touched keys of each day.
Knobs: WBR_BENCH_USAGE_SUBJECTS (default 100 000), WBR_BENCH_USAGE_REQUESTS (default 15).
"""

from __future__ import annotations

import io
import json
import os
import statistics
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pyarrow.parquet as pq
import pytest

from chalicelib.adapters.jwt_tokens import DevKeyPair
from chalicelib.domain.access import READ_SCOPE
from chalicelib.domain.months import Month
from tests.conftest import TODAY
from tests.stack import Stack

pytestmark = pytest.mark.bench

SUBJECTS = int(os.environ.get("WBR_BENCH_USAGE_SUBJECTS", "100000"))
REQUESTS = int(os.environ.get("WBR_BENCH_USAGE_REQUESTS", "15"))
MONTH_TARGET_MS = 150.0
EXPLAIN_TARGET_MS = 200.0
USAGE = "/v1/wholesale/billing/usage"


def _log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


def _timed(work, runs: int = REQUESTS) -> dict[str, float]:  # type: ignore[no-untyped-def]
    work()  # warm-up
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return {
        "median_ms": round(statistics.median(timings), 1),
        "p90_ms": round(timings[min(len(timings) - 1, int(len(timings) * 0.9))], 1),
        "min_ms": round(timings[0], 1),
    }


@pytest.fixture(scope="module")
def loaded_stack():
    from chalicelib.bootstrap import Container
    from chalicelib.config import Settings
    from chalicelib.local.demo import load_demo
    from chalicelib.local.scaled_world import SCALED_PARTNER, scaled_world

    month = Month.of(TODAY).previous()
    stack = Stack(Path(tempfile.mkdtemp(prefix="wbr-bench-usage-")), demo=False)
    stack.start(timeout=300)
    environ = pytest.MonkeyPatch()
    for name, value in stack.env.items():
        if name.startswith("AWS_"):
            environ.setenv(name, value)  # boto3 of this process: the stack's local AWS and its keys
    environ.delenv("AWS_SESSION_TOKEN", raising=False)
    environ.delenv("AWS_PROFILE", raising=False)
    try:
        container = Container(Settings.from_env({**stack.environ, **stack.env}))
        started = time.perf_counter()
        world = scaled_world(month.first_day, month.last_day, SUBJECTS)
        loaded = load_demo(world, container.ingestion, container.rating)
        container.directory_snapshots.refresh()
        setup = round(time.perf_counter() - started, 1)
        _log(f"{SUBJECTS} subjects, {loaded.usage_rows} usage rows rated in {setup} s")
        token = (
            DevKeyPair(stack.state_dir)
            .ensure()
            .mint(
                issuer="https://idbroker.wbr.local",
                audience="wholesale-billing-reports",
                org_id=SCALED_PARTNER,
                subject="bench-admin",
                scopes=[READ_SCOPE],
            )
        )
        yield stack, container, token, month, world, {"setup_seconds": setup, "usage_rows": loaded.usage_rows}
    finally:
        environ.undo()
        stack.stop()


def _get(stack: Stack, token: str, path: str) -> dict:
    request = urllib.request.Request(stack.env["WBR_BASE_URL"] + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_month_view_and_explain_over_http(loaded_stack, record):
    from chalicelib.domain.usage_view import sku_totals
    from chalicelib.local.scaled_world import SCALED_PARTNER

    stack, container, token, month, world, setup = loaded_stack
    period = {"billingStartDate": month.first_day.isoformat(), "billingEndDate": month.last_day.isoformat()}
    by_sku = f"{USAGE}?{urlencode({**period, 'groupBy': 'sku'})}"
    by_customer = f"{USAGE}?{urlencode({**period, 'groupBy': 'customer', 'max': '100'})}"

    # The month's last day was published by the load: the stack's usage_days stream hands it to the
    # bus, which keeps the month's sums (UsageService.on_day_published). Wait for them, as an
    # admin opening the console some time after the month closed would find them.
    s3, bucket = container.s3, container.settings.lake_bucket
    started = time.perf_counter()
    while not s3.list_objects_v2(Bucket=bucket, Prefix=f"rollup/months/{month}/").get("KeyCount"):
        assert time.perf_counter() - started < 300, "the month's sums were never kept"
        time.sleep(0.5)
    kept_after_s = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    first = _get(stack, token, by_sku)  # reads the month's sums kept at its last day's publication
    first_ms = round((time.perf_counter() - started) * 1000, 1)
    assert first["complete"] and first["totals"]["users"] == SUBJECTS
    assert first["totals"]["customers"] == len(world.customers)

    sku = _timed(lambda: _get(stack, token, by_sku))
    customer = _timed(lambda: _get(stack, token, by_customer))
    series = _timed(lambda: _get(stack, token, f"{USAGE}/series?groupBy=sku&months=12"), runs=max(3, REQUESTS // 3))
    availability = _timed(lambda: _get(stack, token, f"{USAGE}/availability"))

    # explain: one user, the whole month
    assignment = next(a for a in world.assignments if a.subject_type == "USER")
    explain_query = {
        **period,
        "sku": assignment.sku,
        "userId": assignment.user_id,
        "customerOrgId": assignment.customer_org_id,
        "locationId": assignment.location_id,
        "subscriptionId": assignment.subscription_id,
    }
    explained = _get(stack, token, f"{USAGE}/explain?{urlencode(explain_query)}")
    assert explained["quantity"] == str(month.day_count) and len(explained["days"]) == month.day_count
    explain = _timed(lambda: _get(stack, token, f"{USAGE}/explain?{urlencode(explain_query)}"))

    # ---- baselines, same run, same local S3 ----------------------------------------------
    versions = container.calendar.published_versions(month.days())
    digest_prefix = f"rollup/months/{month}/"
    month_keys = [
        entry["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=digest_prefix)
        for entry in page.get("Contents", [])
        if entry["Key"].endswith(".sums.parquet")
    ]
    assert month_keys, "the month's sums were kept"

    def bare_month_sum() -> None:
        table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=month_keys[0])["Body"].read()))
        table.group_by(["subscription_id", "sku"]).aggregate([("units", "sum")])

    bare = _timed(bare_month_sum)

    def from_day_rollups() -> None:
        fresh = type(container.rollups)(s3, bucket)  # no memory cache: every day object fetched
        tables = fresh.days(versions, [SCALED_PARTNER])
        sku_totals(tables.summed().rows())

    days_sum = _timed(from_day_rollups, runs=3)

    lake_keys = []
    for day, version in sorted(versions.items()):
        manifest = json.loads(
            s3.get_object(Bucket=bucket, Key=f"usage/date={day.isoformat()}/v={version}/_partitions.json")[
                "Body"
            ].read()
        )
        lake_keys += [e["key"] for e in manifest["partitions"] if e["partnerOrgId"] == SCALED_PARTNER]
    started = time.perf_counter()
    lake_bytes = sum(len(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) for key in lake_keys)
    lake_read_ms = round((time.perf_counter() - started) * 1000, 1)

    before = month.first_day - timedelta(days=1)
    before_version = container.calendar.published_versions([before])[before]

    def bare_explain_reads() -> None:
        """What explain reads, bare: the customer's state partition of the day before the month
        and the customer's touched keys of each day (a fresh rollup reader: no memory cache)."""
        state = container.lake.customer_state(before, before_version, SCALED_PARTNER, assignment.customer_org_id)
        assert state.num_rows
        type(container.rollups)(s3, bucket).touched(versions, SCALED_PARTNER, assignment.customer_org_id)

    explain_floor = _timed(bare_explain_reads, runs=3)

    figures = {
        "subjects": SUBJECTS,
        "customers": len(world.customers),
        "month": str(month),
        **setup,
        "month_sums_kept_s_after_the_load (by the stack, at the last day's publication)": kept_after_s,
        "first_request_ms (the month's sums kept)": first_ms,
        "month_by_sku": sku,
        "month_by_customer_page_100": customer,
        "series_12_months_by_sku": series,
        "availability": availability,
        "explain_one_user_month": explain,
        "baseline_bare_month_sum_read": bare,
        "baseline_month_from_day_rollups": days_sum,
        "lake_month_of_partner_read_once": {
            "ms": lake_read_ms,
            "objects": len(lake_keys),
            "mib": round(lake_bytes / 2**20, 1),
        },
        "baseline_explain_partition_reads": explain_floor,
        "ratio_sku_to_bare": round(sku["median_ms"] / max(bare["median_ms"], 0.1), 1),
        "ratio_explain_to_bare_reads": round(explain["median_ms"] / max(explain_floor["median_ms"], 0.1), 2),
    }
    record("usage_read_api", **figures)
    assert sku["median_ms"] <= MONTH_TARGET_MS, figures
    assert customer["median_ms"] <= MONTH_TARGET_MS, figures
    assert explain["median_ms"] <= EXPLAIN_TARGET_MS, figures
