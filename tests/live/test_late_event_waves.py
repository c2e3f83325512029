"""No late event left behind, over real processes (issue 22; ARCHITECTURE.md §4.3): waves of late
events for one day, each landed by its own `wbr ingest` process while the first wave's
restatement pass is re-rating, and one ingest `kill -9`ed between landing its events and asking
for their restatement, then rerun — every event ends up in the USER, CUSTOMER and PARTNER
reports of the period, which agree with one another and with the sum of the waves.

The stack is `wbr dev` in its own process; its usage_days stream poller runs the passes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from chalicelib.domain.proration import day_start_epoch
from chalicelib.local.demo import demo_events, demo_world
from tests.stack import BASE, WBR, Stack

pytestmark = pytest.mark.live

TODAY = datetime.now(timezone.utc).date()
YESTERDAY = TODAY - timedelta(days=1)
WORLD = demo_world(TODAY, days=40, users=60, workspaces=4, seed=31)
LATE_DAY = YESTERDAY - timedelta(days=30)  # a pass re-rates 31 days: long enough to land waves in it
PERIOD = {"billingStartDate": (LATE_DAY - timedelta(days=2)).isoformat(), "billingEndDate": YESTERDAY.isoformat()}
WAVES = {"wave1": 120, "wave2": 70, "wave3": 50, "killed": 90}  # users per wave, 0.5 units each


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _wave(prefix: str, count: int) -> str:
    """`count` new users of one customer, assigned 06:00-18:00 of LATE_DAY: 0.5 units each."""
    customer = next(c for c in WORLD.customers if not c.internal and c.partner_org_id == WORLD.partners[0].org_id)
    subscription = next(a.subscription_id for a in WORLD.assignments if a.customer_org_id == customer.org_id)
    lines = []
    for n in range(count):
        common = {
            "partnerOrgId": customer.partner_org_id,
            "customerOrgId": customer.org_id,
            "locationId": "loc-late",
            "subscriptionId": subscription,
            "sku": "WXC-WHL-PRO",
            "subject": {"type": "USER", "userId": f"{prefix}-{n}", "subscriberId": f"{prefix}-sub-{n}"},
        }
        for kind, hour in (("PACKAGE_ASSIGNED", 6), ("PACKAGE_UNASSIGNED", 18)):
            event = {**common, "eventId": f"{prefix}-{kind}-{n}", "eventType": kind}
            event["occurredAt"] = _iso(day_start_epoch(LATE_DAY) + hour * 3600)
            lines.append(json.dumps(event) + "\n")
    return "".join(lines)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("waves")
    running = Stack(state)
    running.start()
    on_time, late = demo_events(WORLD, seed=3)
    (state / "on_time.ndjson").write_text("".join(json.dumps(event) + "\n" for event in on_time + late))
    assert running.cli("ingest", str(state / "on_time.ndjson")).returncode == 0
    rated = running.cli("rate")
    assert rated.returncode == 0, rated.stderr
    for name, count in WAVES.items():
        (state / f"{name}.ndjson").write_text(_wave(name, count))
    try:
        yield running
    finally:
        running.stop()


def _total(stack: Stack, report: dict) -> Decimal:
    return sum((Decimal(row["QUANTITY"]) for row in stack.csv_rows(report)), Decimal(0))


def _pass_item(stack: Stack) -> dict:
    item = stack.client("dynamodb").get_item(
        TableName=stack.env["WBR_USAGE_DAYS_TABLE"], Key={"usageDate": {"S": "#restating"}}, ConsistentRead=True
    )
    return item.get("Item", {})


def _ingest(stack: Stack, path: Path, **environ: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*WBR, "ingest", "--json", str(path)],
        cwd=stack.state_dir,
        env={**stack.environ, **stack.env, **environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_waves_landed_during_a_pass_and_a_killed_ingest_all_reach_every_report(stack):
    ids = {}
    for report_type in ("USER", "CUSTOMER", "PARTNER"):
        status, created = stack.request("POST", BASE, {**PERIOD, "type": report_type})
        assert status == 200, created
        ids[report_type] = created["id"]
    before = {
        kind: _total(stack, stack.wait_for(rid, lambda r: r["status"] == "COMPLETED")) for kind, rid in ids.items()
    }
    assert before["USER"] == before["CUSTOMER"] == before["PARTNER"]

    # Wave 1: its request starts a pass over LATE_DAY..yesterday in the stack's own process.
    first = subprocess.run(
        [*WBR, "ingest", "--json", str(stack.state_dir / "wave1.ndjson")],
        cwd=stack.state_dir,
        env={**stack.environ, **stack.env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert first.returncode == 0, first.stderr
    asked = json.loads(first.stdout)["restatement"]
    assert asked["requestedDay"] == LATE_DAY.isoformat() and asked["request"] is not None

    # Waves 2 and 3, each its own process, land once that pass has re-rated LATE_DAY and goes on.
    deadline = time.monotonic() + 60
    while True:
        item = _pass_item(stack)
        if (
            item
            and item["snapshot"]["N"] >= str(asked["request"])
            and not item["finished"]["BOOL"]
            and int(item["daysDone"]["N"]) >= 1
        ):
            break
        assert time.monotonic() < deadline, f"no pass took wave 1: {item}"
        time.sleep(0.05)
    during = [_ingest(stack, stack.state_dir / f"{name}.ndjson") for name in ("wave2", "wave3")]
    answers = []
    for process in during:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        answers.append(json.loads(out)["restatement"])
    assert all(answer["requestedDay"] == LATE_DAY.isoformat() for answer in answers)
    still_running = [_pass_item(stack)]
    print(f"waves 2 and 3 landed during the pass: {answers}; the pass then: {still_running}")

    # The fourth wave's ingest is killed between landing and asking, then rerun.
    killed = _ingest(stack, stack.state_dir / "killed.ndjson", WBR_FAULT_PAUSE_BEFORE_ASKING="120")
    deadline = time.monotonic() + 120
    seen = ""
    while "asking for their restatement" not in seen:
        assert killed.poll() is None, killed.stderr.read() if killed.stderr else ""
        assert time.monotonic() < deadline, seen
        seen += os.read(killed.stderr.fileno(), 4096).decode()
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(10)
    rerun = _ingest(stack, stack.state_dir / "killed.ndjson")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    summary = json.loads(out)
    assert summary["duplicatesIngested"] == 2 * WAVES["killed"] and summary["accepted"] == 0
    assert summary["restatement"]["requestedDay"] == LATE_DAY.isoformat()

    # Every wave reaches every report: USER = CUSTOMER = PARTNER = before + Σ waves.
    expected = before["USER"] + Decimal(sum(WAVES.values())) / 2
    started = time.monotonic()
    deadline = started + 240
    while True:
        reports = {
            kind: stack.wait_for(rid, lambda r: r["status"] != "IN_PROGRESS", timeout=240) for kind, rid in ids.items()
        }
        totals = {kind: _total(stack, report) for kind, report in reports.items()}
        if all(total == expected for total in totals.values()):
            break
        assert time.monotonic() < deadline, f"expected {expected} in every report, got {totals}"
        time.sleep(1)
    print(f"all waves in all three reports {time.monotonic() - started:.1f} s after the rerun exited")
    # ... and the passes settle every request (one may still run when the numbers are already right)
    deadline = time.monotonic() + 120
    while True:
        status = stack.cli("rate", "--status", "--json")
        assert status.returncode == 0, status.stderr
        if json.loads(status.stdout)["pendingFrom"] is None:
            break
        assert time.monotonic() < deadline, f"the restatement never settled: {status.stdout}"
        time.sleep(1)
