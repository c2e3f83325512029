"""API latency (DESIGN §9): list / get ≤ 20 ms median, in process against moto.

The requests go through the whole service as `wbr dev` serves them (the local API Gateway
emulation, the JWT authorizer, the route, the service, the DynamoDB store; get also presigns a
download URL), against the in-process moto (`mock_aws`) holding the demo data and a partner with
`REPORTS` reports (one COMPLETED, the others IN_PROGRESS). Beside each figure, the same run
measures the storage call the route cannot do without: a bare boto3 Query of one page of the
partner's reports on the default sort's index with the list's projection (list), and a bare
GetItem (get), against the same moto; the ratio says what the service adds on top. Pages of 100
(the default `max`) and of 10.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from chalicelib.adapters.dynamo_report_store import LISTED_ATTRIBUTES, SORT_INDEXES
from chalicelib.config import Settings
from chalicelib.domain.listing import SortBy
from chalicelib.services.demo_data import DEMO_PARTNER
from tests.conftest import TODAY, ApiClient

pytestmark = pytest.mark.bench

BASE = "/v1/wholesale/billing/reports"
REPORTS = 150
PAGE = 100
SMALL_PAGE = 10
REQUESTS = int(os.environ.get("WBR_BENCH_API_REQUESTS", "300"))
TARGET_MS = 20.0


@pytest.fixture
def settings(dev_keys) -> Settings:  # the shared fixture, with room for every report at once
    return Settings(stage="local", jwt_public_key_file=str(dev_keys.public_path),
                    max_reports_in_progress=REPORTS + 1)


def _timings_ms(requests: int, call: Callable[[], object]) -> list[float]:
    for _ in range(10):  # warm-up: clients, token verifier, directory cache
        call()
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        call()
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def _summary(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {"median_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1], 2)}


def test_list_and_get_latency(seeded, api: ApiClient, record, monkeypatch):
    types = ("PARTNER", "CUSTOMER", "USER")
    first = api.post(BASE, {"billingStartDate": (TODAY - timedelta(days=30)).isoformat(),
                            "billingEndDate": (TODAY - timedelta(days=1)).isoformat(), "type": "USER"})
    assert first.status == 200, first.body
    seeded.workflow.join(600)
    report_id = first.json()["id"]
    # The rest only fill the list: created through the API, left IN_PROGRESS (their runs are not
    # started, which would only make the set-up slow; list and get do not look at the runs).
    monkeypatch.setattr(seeded.workflow, "start", lambda job, name: None)
    created = [report_id]
    for index in range(REPORTS - 1):
        period = index // len(types)  # 50 distinct periods inside the demo's published days
        start, end = TODAY - timedelta(days=3 + period % 25), TODAY - timedelta(days=1 + period // 25)
        body = {"billingStartDate": start.isoformat(), "billingEndDate": end.isoformat(),
                "type": types[index % len(types)]}
        response = api.post(BASE, body)
        assert response.status == 200, response.body
        created.append(response.json()["id"])
    settings = seeded.settings

    listed = api.get(f"{BASE}?max={PAGE}")
    assert listed.status == 200 and len(listed.json()["items"]) == PAGE and listed.header("link")
    fetched = api.get(f"{BASE}/{report_id}")
    assert fetched.status == 200 and fetched.json()["status"] == "COMPLETED" and fetched.json()["tempDownloadURL"]

    if os.environ.get("WBR_BENCH_PROFILE"):
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(lambda: [api.get(f"{BASE}?max={PAGE}") for _ in range(2)])
        pstats.Stats(profile).sort_stats("cumulative").print_stats(30)

    def bare_query(page: int) -> object:
        return seeded.dynamodb.query(
            TableName=settings.reports_table, IndexName=SORT_INDEXES[SortBy.BILLING_START_DATE][0],
            KeyConditionExpression="partnerOrgId = :p", ExpressionAttributeValues={":p": {"S": DEMO_PARTNER}},
            ProjectionExpression=", ".join(f"#p{position}" for position in range(len(LISTED_ATTRIBUTES))),
            ExpressionAttributeNames={f"#p{position}": name for position, name in enumerate(LISTED_ATTRIBUTES)},
            Limit=page + 1)

    assert len(bare_query(PAGE)["Items"]) == PAGE + 1
    list_ms = _timings_ms(REQUESTS, lambda: api.get(f"{BASE}?max={PAGE}"))
    query_ms = _timings_ms(REQUESTS, lambda: bare_query(PAGE))
    list_small_ms = _timings_ms(REQUESTS, lambda: api.get(f"{BASE}?max={SMALL_PAGE}"))
    query_small_ms = _timings_ms(REQUESTS, lambda: bare_query(SMALL_PAGE))
    get_ms = _timings_ms(REQUESTS, lambda: api.get(f"{BASE}/{report_id}"))
    item_ms = _timings_ms(REQUESTS, lambda: seeded.dynamodb.get_item(
        TableName=settings.reports_table, Key={"partnerOrgId": {"S": DEMO_PARTNER}, "reportId": {"S": report_id}}))

    figures = {
        "reports": REPORTS, "page": PAGE, "requests": REQUESTS,
        "list": _summary(list_ms), "bare_query": _summary(query_ms),
        "list_10": _summary(list_small_ms), "bare_query_10": _summary(query_small_ms),
        "get": _summary(get_ms), "bare_get_item": _summary(item_ms),
    }
    figures["list_ratio_to_bare"] = round(figures["list"]["median_ms"] / figures["bare_query"]["median_ms"], 2)
    figures["list_10_ratio_to_bare"] = round(figures["list_10"]["median_ms"] / figures["bare_query_10"]["median_ms"], 2)
    figures["get_ratio_to_bare"] = round(figures["get"]["median_ms"] / figures["bare_get_item"]["median_ms"], 2)
    figures["target_median_ms"] = TARGET_MS
    figures["meets_list"] = figures["list"]["median_ms"] <= TARGET_MS
    figures["meets_list_10"] = figures["list_10"]["median_ms"] <= TARGET_MS
    figures["meets_get"] = figures["get"]["median_ms"] <= TARGET_MS
    record("api_latency", **figures)
    print(f"\n  list (max={PAGE} of {REPORTS}): median {figures['list']['median_ms']} ms, "
          f"p95 {figures['list']['p95_ms']} ms; bare Query {figures['bare_query']['median_ms']} ms "
          f"(×{figures['list_ratio_to_bare']})")
    print(f"  list (max={SMALL_PAGE}): median {figures['list_10']['median_ms']} ms, "
          f"p95 {figures['list_10']['p95_ms']} ms; bare Query {figures['bare_query_10']['median_ms']} ms "
          f"(×{figures['list_10_ratio_to_bare']})")
    print(f"  get (COMPLETED, presigned URL): median {figures['get']['median_ms']} ms, "
          f"p95 {figures['get']['p95_ms']} ms; bare GetItem {figures['bare_get_item']['median_ms']} ms "
          f"(×{figures['get_ratio_to_bare']})")
