"""50 concurrent identical creates (ARCHITECTURE.md §2: "concurrent identical creates yield one report";
an identical request answers the running report with 200 while IN_PROGRESS, 409 once COMPLETED).

DynamoDB requests are serialised whole (AtomicRequests) because moto's in-process backend is not
thread-safe; AWS makes each request atomic too, so every interleaving *between* requests — the
races the service must handle — stays possible.
"""

from __future__ import annotations

import threading
from datetime import timedelta

from chalicelib.domain.errors import Conflict, TooManyRequests
from chalicelib.domain.reports import ReportStatus
from chalicelib.local.demo import DEMO_PARTNER
from tests.conftest import TODAY, ApiClient
from tests.faults.conftest import CALLER, PERIOD, check_outcome

BASE = "/v1/wholesale/billing/reports"
CONCURRENCY = 50


def _in_threads(count, work):
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        barrier.wait()
        try:
            results[index] = work(index)
        except Exception as error:  # noqa: BLE001 - collected and asserted by the test
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_50_identical_creates_over_http_make_one_report(local_faults, tokens):
    """The worker is paused at Plan, so every answer is given while the report is IN_PROGRESS:
    all are 200 with the same id; one report, one lock, counter exactly 1, one generation run."""
    env = local_faults
    gate = env.plan.gate(step="plan")
    token = tokens.mint()
    clients = [ApiClient(token) for _ in range(CONCURRENCY)]
    body = {**PERIOD, "type": "CUSTOMER"}
    responses = _in_threads(CONCURRENCY, lambda index: clients[index].post(BASE, body))
    errors = [response for response in responses if isinstance(response, Exception)]
    assert not errors, errors[:3]
    statuses = sorted({response.status for response in responses})
    assert statuses == [200], [(r.status, r.body[:200]) for r in responses if r.status != 200][:3]
    ids = {response.json()["id"] for response in responses}
    assert len(ids) == 1
    (report_id,) = ids
    reports = env.inspect.reports()
    assert [report.report_id for report in reports] == [report_id]
    assert reports[0].status is ReportStatus.IN_PROGRESS
    assert env.inspect.in_progress(DEMO_PARTNER) == 1
    assert list(env.inspect.locks().values()) == [report_id]
    assert gate.reached.wait(10)
    gate.open()
    env.workflow.join(30)
    assert [name for name, _ in env.plan.step_calls].count("plan") == 1, "a second generation ran"
    check_outcome(env, report_id, "COMPLETED")
    conflict = clients[0].post(BASE, body)
    assert conflict.status == 409 and report_id in conflict.json()["message"]
    assert env.inspect.in_progress(DEMO_PARTNER) == 0


def test_50_identical_creates_racing_the_worker(faults):
    """Through ReportService with the worker running free: each caller gets the one report
    (created once, 200 after) or, once it COMPLETED, a 409 naming it."""
    body = {**PERIOD, "type": "PARTNER"}
    results = _in_threads(CONCURRENCY, lambda index: faults.container.reports.create(CALLER, body, f"WBR_c{index}"))
    created = [result[0].report_id for result in results if isinstance(result, tuple) and result[1]]
    assert len(created) == 1
    (report_id,) = created
    for result in results:
        if isinstance(result, tuple):
            assert result[0].report_id == report_id
        else:
            assert isinstance(result, Conflict) and report_id in result.message, repr(result)
    faults.workflow.join(30)
    assert len(faults.workflow.runs) == 1
    assert [report.report_id for report in faults.inspect.reports()] == [report_id]
    check_outcome(faults, report_id, "COMPLETED")
    assert faults.inspect.in_progress(DEMO_PARTNER) == 0


def test_50_concurrent_distinct_creates_respect_the_cap_exactly(faults):
    faults.workflow.hold = True  # keep them IN_PROGRESS
    cap = faults.container.settings.max_reports_in_progress
    days = [(TODAY - timedelta(days=2 + index)).isoformat() for index in range(CONCURRENCY)]
    results = _in_threads(
        CONCURRENCY,
        lambda index: faults.container.reports.create(
            CALLER, {"billingStartDate": days[index], "billingEndDate": days[index]}, f"WBR_d{index}"
        ),
    )
    accepted = [result for result in results if isinstance(result, tuple)]
    refused = [result for result in results if isinstance(result, TooManyRequests)]
    assert len(accepted) == cap and len(refused) == CONCURRENCY - cap, [
        r for r in results if isinstance(r, Exception) and not isinstance(r, TooManyRequests)
    ][:3]
    assert all(created for _, created in accepted)
    assert len(faults.inspect.reports()) == cap
    assert faults.inspect.in_progress(DEMO_PARTNER) == cap
    assert len(faults.inspect.locks()) == cap
