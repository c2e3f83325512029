"""List and get latency (docs/FIGURES.md): every filter and sort, `max=100`, a partner with 500 reports.

Two figures, each beside its floor measured in the same run:
- in process: requests through the whole service as `wbr dev` serves it (the local API Gateway
  emulation, the JWT authorizer, the route, the service, the DynamoDB store; get also presigns a
  download URL) against the in-process moto, the tests' local AWS;
- over HTTP: a `wbr dev` of the benchmark's own (demo data, its own ports) and urllib requests.
The floor of a list is the bare storage work that returns the same page: the very Query calls
the store issues for it (captured from the first request, then replayed with boto3 against the
same DynamoDB), and for get a bare GetItem. The ratio says what the service adds on top; items
read (ScannedCount) beside items returned says whether the index served the filter.

The reports are written through the store as the API writes them (a mix of types, statuses,
periods, sub-partner, internal and point-in-time reports), not created through the API: 500
generations would only make the set-up slow, and list and get do not look at the runs.
Knobs: WBR_BENCH_API_REQUESTS (timed requests per query, default 25), WBR_BENCH_API_REPORTS
(default 500), WBR_BENCH_API_ONLY (run only the queries whose name contains it).
"""

from __future__ import annotations

import copy
import gc
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from chalicelib.adapters.dynamo_report_store import DynamoReportStore
from chalicelib.domain.listing import ListQuery, SortBy
from chalicelib.domain.periods import BillingPeriod
from chalicelib.domain.report_ids import new_report_id
from chalicelib.domain.reports import (
    Report,
    ReportCategory,
    ReportRequest,
    ReportStatus,
    ReportType,
)
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, DEMO_SUB_PARTNER
from chalicelib.services.ports import ReportFile
from tests.conftest import TODAY, ApiClient
from tests.stack import BASE, Stack

pytestmark = pytest.mark.bench

REPORTS = int(os.environ.get("WBR_BENCH_API_REPORTS", "500"))
REQUESTS = int(os.environ.get("WBR_BENCH_API_REQUESTS", "25"))
IN_PROCESS_TARGET_MS = 20.0
HTTP_TARGET_MS = 100.0
MAX_RATIO = 1.3
FIRST = TODAY - timedelta(days=600)


def seed_reports(store: DynamoReportStore, count: int) -> dict[str, str]:
    """`count` reports of the demo partner, written as the API and the worker write them; returns
    values the queries filter by."""
    now = datetime.now(timezone.utc)
    types = (ReportType.PARTNER, ReportType.CUSTOMER, ReportType.USER)
    polled: dict[str, str] = {}
    for index in range(count):
        start = FIRST + timedelta(days=index % 200)  # (start, end) unique per report: no duplicates
        end = start + timedelta(days=27 + index // 200)
        category = ReportCategory.POINT_IN_TIME if index % 25 == 0 else ReportCategory.RECONCILIATION
        report_type = ReportType.USER if category is ReportCategory.POINT_IN_TIME else types[index % 3]
        request = ReportRequest(
            BillingPeriod(start, end) if category is ReportCategory.RECONCILIATION else BillingPeriod(TODAY, TODAY),
            report_type,
            DEMO_SUB_PARTNER if index % 7 == 0 else None,
            index % 11 == 0,
            category,
            now if category is ReportCategory.POINT_IN_TIME else None,
        )
        report = Report(DEMO_PARTNER, new_report_id(), request, ReportStatus.IN_PROGRESS, now, DEMO_ADMIN,
                        f"WBR_bench-{index}", now + timedelta(days=2))
        store.create(report, max_in_progress=count + 1)
        if index == 3:  # the report a partner's script polls for: its period and type
            polled = {"start": start.isoformat(), "end": end.isoformat(), "type": report_type.value}
        if index % 5 < 3:  # three in five COMPLETED, one FAILED, one left IN_PROGRESS
            key = f"reports/{DEMO_PARTNER}/{report.report_id}/r1.csv"
            store.complete(report, ReportFile(key, 10, "0" * 64, {start: 1}), now)
        elif index % 5 == 3:
            store.fail(report, [])
    return polled


def queries(values: dict[str, str]) -> dict[str, dict[str, str]]:
    """Every sort, unfiltered and under each filter, and the partner-automation poll."""
    filters = {
        "none": {},
        "status=COMPLETED": {"status": "COMPLETED"},
        "type=USER": {"type": "USER"},
        "billingStartDate": {"billingStartDate": values["start"]},
        "billingEndDate": {"billingEndDate": values["end"]},
        "subPartnerOrgId": {"subPartnerOrgId": DEMO_SUB_PARTNER},
        "category=POINT_IN_TIME": {"category": "POINT_IN_TIME"},
        "start+end+type (poll)": {"billingStartDate": values["start"], "billingEndDate": values["end"],
                                  "type": values["type"]},
    }
    only = os.environ.get("WBR_BENCH_API_ONLY", "")  # e.g. "sortBy=id, none": just those queries
    return {f"sortBy={sort.value}, {name}": {**params, "sortBy": sort.value, "max": "100"}
            for sort in SortBy for name, params in filters.items() if only in f"sortBy={sort.value}, {name}"}


class QuerySpy:
    """Captures the Query calls a store makes, to replay them bare."""

    def __init__(self, client: Any) -> None:
        self.client, self.calls, self._query = client, [], client.query

    def __enter__(self) -> QuerySpy:
        def spy(**arguments: Any) -> Any:
            self.calls.append(copy.deepcopy(arguments))  # as sent: the store's loop reuses the dict
            return self._query(**arguments)

        self.client.query = spy
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.query = self._query


def median_ms(call: Callable[[], object], requests: int = REQUESTS) -> float:
    return paired_medians(call, None, requests)[0]


def paired_medians(
    first: Callable[[], object], second: Callable[[], object] | None, requests: int = REQUESTS
) -> tuple[float, float]:
    """Medians of `first` and `second` timed in alternation (drift and collector pauses hit
    both alike), after a warm-up (clients, token verifier, directory cache) and with the heap
    built so far frozen out of the collector's way."""
    calls = [call for call in (first, second) if call is not None]
    for _ in range(3):
        for call in calls:
            call()
    gc.collect()
    gc.freeze()
    timings: list[list[float]] = [[] for _ in calls]
    try:
        for _ in range(requests):
            for position, call in enumerate(calls):
                started = time.perf_counter()
                call()
                timings[position].append((time.perf_counter() - started) * 1000)
    finally:
        gc.unfreeze()
    medians = [round(statistics.median(series), 2) for series in timings]
    return medians[0], medians[-1]


def measure(name: str, params: dict[str, str], serve: Callable[[str], tuple[int, int]], dynamodb: Any,
            spied: Any, capture: Callable[[], object] | None = None) -> dict[str, Any]:
    """Time the list `params` as served beside the store's own Query calls for it, replayed bare
    on `dynamodb`. The calls are captured on `spied` while the request is served in process, or
    while `capture` makes them (the service runs in another process)."""
    path = f"{BASE}?{urlencode(params)}"
    with QuerySpy(spied) as spy:
        if capture is not None:
            capture()
        status, returned = serve(path)
    assert status == 200, (name, status)
    calls = spy.calls

    def bare() -> tuple[int, int]:
        read = count = 0
        for arguments in calls:
            page = dynamodb.query(**arguments)
            read, count = read + page["ScannedCount"], count + page["Count"]
        return read, count

    read, count = bare()
    assert count >= returned  # the bare calls return (at least: the look-ahead item) the page
    service, floor = paired_medians(lambda: serve(path), bare)
    return {"query": name, "returned": returned, "items_read": read, "query_calls": len(calls),
            "service_ms": service, "bare_query_ms": floor, "ratio": round(service / floor, 2)}


def summarize(rows: list[dict[str, Any]], target_ms: float) -> dict[str, Any]:
    return {
        "queries": len(rows),
        "median_service_ms": round(statistics.median(row["service_ms"] for row in rows), 2),
        "max_service_ms": max(row["service_ms"] for row in rows),
        "median_bare_query_ms": round(statistics.median(row["bare_query_ms"] for row in rows), 2),
        "max_ratio": max(row["ratio"] for row in rows),
        "median_ratio": round(statistics.median(row["ratio"] for row in rows), 2),
        "max_items_read_per_returned": max(row["items_read"] / max(row["returned"], 1) for row in rows),
        "target_ms": target_ms,
        "meets_target": all(row["service_ms"] <= target_ms for row in rows),
        "meets_ratio": all(row["ratio"] <= MAX_RATIO for row in rows),
        # docs/FIGURES.md / issue: each query within the target, or, where moto is the floor, at most
        # MAX_RATIO × the bare calls that return the same page
        "meets": all(row["service_ms"] <= target_ms or row["ratio"] <= MAX_RATIO for row in rows),
    }


def report_table(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n  {title}")
    for row in rows:
        print(f"    {row['query']:<55} {row['returned']:>3} of {row['items_read']:>3} read  "
              f"service {row['service_ms']:>7.2f} ms  bare {row['bare_query_ms']:>7.2f} ms  ×{row['ratio']}")


@pytest.fixture
def settings(dev_keys):  # the shared fixture, with room for every report at once
    from chalicelib.config import Settings

    return Settings(stage="local", jwt_public_key_file=str(dev_keys.public_path), max_reports_in_progress=REPORTS + 1)


def test_list_and_get_in_process(seeded, api: ApiClient, record):
    store = seeded.report_store
    values = seed_reports(store, REPORTS)
    created = api.post(BASE, {"billingStartDate": (TODAY - timedelta(days=30)).isoformat(),
                              "billingEndDate": (TODAY - timedelta(days=1)).isoformat(), "type": "USER"})
    assert created.status == 200, created.body
    seeded.workflow.join(600)
    report_id = created.json()["id"]

    def serve(path: str) -> tuple[int, int]:
        response = api.get(path)
        return response.status, len(response.json().get("items", []))

    rows = [measure(name, params, serve, seeded.dynamodb, store._db) for name, params in queries(values).items()]
    got = api.get(f"{BASE}/{report_id}")
    assert got.status == 200 and got.json()["tempDownloadURL"]
    get_ms = median_ms(lambda: api.get(f"{BASE}/{report_id}"))
    item_ms = median_ms(lambda: seeded.dynamodb.get_item(
        TableName=seeded.settings.reports_table, Key={"partnerOrgId": {"S": DEMO_PARTNER}, "reportId": {"S": report_id}},
        ConsistentRead=True))
    figures = {"reports": REPORTS + 1, "requests_per_query": REQUESTS, **summarize(rows, IN_PROCESS_TARGET_MS),
               "get_ms": get_ms, "bare_get_item_ms": item_ms, "get_ratio": round(get_ms / item_ms, 2),
               "per_query": rows}
    record("api_latency_in_process", **figures)
    report_table(f"in process, {REPORTS + 1} reports, max=100 (service vs the same Query calls bare):", rows)
    print(f"    get (COMPLETED, presigned URL): {get_ms} ms; bare GetItem {item_ms} ms (×{figures['get_ratio']})")


@pytest.fixture(scope="module")
def http_stack() -> Iterator[Stack]:
    stack = Stack(Path(tempfile.mkdtemp(prefix="wbr-bench-api-")), demo=True)
    stack.start(timeout=300)
    try:
        yield stack
    finally:
        stack.stop()


def test_list_and_get_over_http(http_stack: Stack, record):
    dynamodb = http_stack.client("dynamodb")
    store = DynamoReportStore(dynamodb, http_stack.env["WBR_REPORTS_TABLE"])
    started = time.perf_counter()
    values = seed_reports(store, REPORTS)
    seeded_s = round(time.perf_counter() - started, 1)

    def serve(path: str) -> tuple[int, int]:
        status, body = http_stack.request("GET", path)
        return status, len(body.get("items", []))

    # `wbr dev` runs the store in its own process: the same store here, on the same DynamoDB
    # server, makes the Query calls that the bare replay then times
    rows = []
    for name, params in queries(values).items():
        query = ListQuery.from_params(params)
        rows.append(measure(name, params, serve, dynamodb, dynamodb,
                            capture=lambda query=query: store.list(DEMO_PARTNER, query, None, query.max_items + 1)))
    status, listed = http_stack.request("GET", f"{BASE}?max=1")
    report_id = listed["items"][0]["id"]
    get_ms = median_ms(lambda: http_stack.request("GET", f"{BASE}/{report_id}"))
    item_ms = median_ms(lambda: dynamodb.get_item(
        TableName=http_stack.env["WBR_REPORTS_TABLE"],
        Key={"partnerOrgId": {"S": DEMO_PARTNER}, "reportId": {"S": report_id}}, ConsistentRead=True))
    figures = {"reports": REPORTS, "seeded_seconds": seeded_s, "requests_per_query": REQUESTS,
               **summarize(rows, HTTP_TARGET_MS), "get_ms": get_ms, "bare_get_item_ms": item_ms,
               "get_ratio": round(get_ms / item_ms, 2), "per_query": rows}
    record("api_latency_http", **figures)
    report_table(f"over HTTP on wbr dev, {REPORTS} reports + demo, max=100 (service vs the same Query calls bare, "
                 "both over HTTP to the local DynamoDB):", rows)
    print(f"    get: {get_ms} ms; bare GetItem {item_ms} ms (×{figures['get_ratio']})")
