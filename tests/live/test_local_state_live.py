"""The local stack keeps its promises over real processes (make test-live; CI runs it; issue 23):

- no deaf reader: after a refused duplicate create (409) and a create over the in-progress cap
  (429), which moto answers by rolling a table back, reports that complete still reach a webhook
  and a late event still regenerates a COMPLETED report;
- state that survives: `wbr dev` in one process group, CLI and HTTP clients in others, `kill -9`
  of the whole group between two starts (and a Ctrl-C of `make run`): reports, their files,
  webhooks and their deliveries, the event log, the lake and the directory are all there with the
  same numbers; the streams go on where they stopped (a webhook created after the restart gets
  no settled report); the in-progress cap holds; the parked report is still parked and completes
  when its day is rated; reports whose runs died settle; `--fresh` starts over.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from chalicelib.local.demo import demo_events, demo_world
from tests.live.test_event_paths import _wait_until
from tests.stack import BASE, WBR, Stack
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.live

TODAY = datetime.now(timezone.utc).date()
YESTERDAY = TODAY - timedelta(days=1)
WORLD = demo_world(TODAY, days=8, users=14, workspaces=2, seed=41)
EVENTS = "report.completed,report.failed,report.regenerated"
RESTART_SECONDS = 10.0  # on a machine with a core to spare; twice that on one loaded past its cores


def _restart_budget() -> float:
    return RESTART_SECONDS if os.getloadavg()[0] < (os.cpu_count() or 1) else 2 * RESTART_SECONDS


def _prepared(state: Path, **environ: str) -> Stack:
    """A stack with the world's on-time events ingested and rated up to the day before
    yesterday (yesterday unrated: a report that includes it is parked); late events kept aside."""
    stack = Stack(state, WBR_WEBHOOK_RETRY_BASE_SECONDS="0.5", **environ)
    stack.start()
    on_time, late = demo_events(WORLD, seed=9)
    (state / "on_time.ndjson").write_text("".join(json.dumps(event) + "\n" for event in on_time))
    (state / "late.ndjson").write_text("".join(json.dumps(event) + "\n" for event in late))
    ingested = stack.cli("ingest", str(state / "on_time.ndjson"))
    assert ingested.returncode == 0, ingested.stderr
    rated = stack.cli("rate", "--to", (YESTERDAY - timedelta(days=1)).isoformat())
    assert rated.returncode == 0, rated.stderr
    return stack


def _webhook(stack: Stack, receiver: Receiver, name: str) -> dict[str, Any]:
    created = stack.cli(
        "webhooks", "create", "--url", receiver.url, "--secret", "live-webhook-secret", "--events", EVENTS, "--name", name,
        "--token", stack.token,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    return json.loads(created.stdout)


def _create(stack: Stack, days_back: int, end_days_back: int = 1, kind: str = "USER") -> tuple[int, dict]:
    period = {
        "billingStartDate": (TODAY - timedelta(days=days_back)).isoformat(),
        "billingEndDate": (TODAY - timedelta(days=end_days_back)).isoformat(),
        "type": kind,
    }
    return stack.request("POST", BASE, period)


def _events_of(receiver: Receiver, report_id: str) -> list[str]:
    return [item.json()["event"] for item in receiver.of_report(report_id)]


def _health(stack: Stack) -> dict[str, Any]:
    return json.loads((stack.state_dir / "health.json").read_text())["sources"]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = _prepared(tmp_path, MAX_REPORTS_IN_PROGRESS="2")
    try:
        yield running
    finally:
        running.stop()


def test_after_a_409_and_a_429_reports_still_reach_webhooks_and_late_events_still_regenerate(stack):
    with Receiver() as receiver:
        _webhook(stack, receiver, "deafness")
        status, first = _create(stack, 8, 2)
        assert status == 200, first
        stack.wait_for(first["id"], lambda r: r["status"] == "COMPLETED")
        _wait_until(lambda: _events_of(receiver, first["id"]))

        duplicate, answer = _create(stack, 8, 2)  # the same report again: moto rolls back a transaction
        assert duplicate == 409, answer
        status, second = _create(stack, 6, 3, "CUSTOMER")
        assert status == 200, second
        stack.wait_for(second["id"], lambda r: r["status"] == "COMPLETED")
        _wait_until(lambda: _events_of(receiver, second["id"]), timeout=20)  # heard after the 409

        parked = [_create(stack, days, 1) for days in (3, 4)]  # include yesterday: unrated, so parked
        assert [status for status, _ in parked] == [200, 200], parked
        over, answer = _create(stack, 5, 1, "PARTNER")
        assert over == 429, answer  # over the cap of 2: another rollback
        rated = stack.cli("rate", "--to", YESTERDAY.isoformat())
        assert rated.returncode == 0, rated.stderr
        for _, report in parked:
            stack.wait_for(report["id"], lambda r: r["status"] == "COMPLETED")
            _wait_until(lambda report=report: _events_of(receiver, report["id"]), timeout=20)  # after the 429

        ingested = stack.cli("ingest", "--json", str(stack.state_dir / "late.ndjson"))
        assert ingested.returncode == 0, ingested.stderr
        assert json.loads(ingested.stdout)["restatedFrom"] is not None
        regenerated = stack.wait_for(
            first["id"], lambda r: r["status"] == "COMPLETED" and r.get("revision", 1) > 1, timeout=60
        )
        assert regenerated["revision"] == 2
        _wait_until(lambda: "report.regenerated" in _events_of(receiver, first["id"]), timeout=20)
    health = _health(stack)
    assert {"local-stream-reports", "local-stream-usage-days"} <= set(health)
    assert all(entry["status"] == "ok" for entry in health.values()), health
    status = stack.cli("dev", "--status")
    assert status.returncode == 0 and "local-stream-reports" in status.stdout, status.stdout + status.stderr


def _kill_group(stack: Stack) -> None:
    assert stack.process is not None
    os.killpg(stack.process.pid, signal.SIGKILL)
    stack.process.wait(10)
    time.sleep(0.3)


def _restart(stack: Stack) -> float:
    started = time.monotonic()
    stack.start()
    return time.monotonic() - started


def _everything(stack: Stack) -> dict[str, Any]:
    """What a user would check: the reports (ids, status, revisions, row counts), their files,
    the webhooks and their last deliveries, every object of the lake (event log included) and
    of the reports bucket, every table's items, and a token for a partner of the directory."""
    status, listed = stack.request("GET", BASE + "?max=100")
    assert status == 200, listed
    reports = {item["id"]: (item["status"], item.get("revision"), item.get("rowCount")) for item in listed["items"]}
    files = {}
    for report_id, (state, _, _) in reports.items():
        if state == "COMPLETED":
            _, report = stack.request("GET", f"{BASE}/{report_id}")
            files[report_id] = hashlib.sha256(json.dumps(stack.csv_rows(report)).encode()).hexdigest()
    webhooks = json.loads(stack.cli("webhooks", "list", "--json", "--token", stack.token).stdout)
    s3 = stack.client("s3")
    objects = {
        bucket: {
            entry["Key"]: entry["ETag"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.env[bucket])
            for entry in page.get("Contents", [])
        }
        for bucket in ("WBR_LAKE_BUCKET", "WBR_REPORTS_BUCKET")
    }
    dynamodb = stack.client("dynamodb")
    tables = {
        name: sorted(
            json.dumps(item, sort_keys=True)
            for page in dynamodb.get_paginator("scan").paginate(TableName=name)
            for item in page["Items"]
        )
        for name in dynamodb.list_tables()["TableNames"]
    }
    token = stack.cli("token", "--org", WORLD.partners[-1].name)
    assert token.returncode == 0, token.stderr
    return {"reports": reports, "files": files, "webhooks": webhooks, "objects": objects, "tables": tables}


def test_everything_acknowledged_survives_a_kill_9_of_the_group_and_the_streams_go_on(tmp_path):
    stack = _prepared(tmp_path, MAX_REPORTS_IN_PROGRESS="2")
    try:
        with Receiver() as receiver, Receiver() as later:
            _webhook(stack, receiver, "before")
            done = []
            for days in (4, 5):
                status, report = _create(stack, days, 2)
                assert status == 200, report
                done.append(stack.wait_for(report["id"], lambda r: r["status"] == "COMPLETED")["id"])
            for report_id in done:
                _wait_until(lambda report_id=report_id: _events_of(receiver, report_id), timeout=20)
            deleted_status, _ = stack.request("DELETE", f"{BASE}/{done[1]}")
            assert deleted_status == 204
            status, parked = _create(stack, 3, 1)  # waits for yesterday: IN_PROGRESS across the kill
            assert status == 200, parked
            status, holder = _create(stack, 2, 1, "CUSTOMER")
            assert status == 200, holder
            assert _create(stack, 6, 1, "PARTNER")[0] == 429
            before = _everything(stack)
            assert before["reports"][parked["id"]][0] == "IN_PROGRESS"
            assert done[1] not in before["reports"] and len(before["webhooks"]) == 1
            delivered_before = len(receiver.received)

            _kill_group(stack)
            restart = _restart(stack)
            print(f"restarted after kill -9 of the group in {restart:.1f} s (load {os.getloadavg()[0]:.1f})")
            assert restart <= _restart_budget()
            after = _everything(stack)
            assert after == before
            assert _create(stack, 6, 1, "PARTNER")[0] == 429  # the cap holds across the crash

            _webhook(stack, later, "after")  # created after the restart: hears nothing settled before
            rated = stack.cli("rate", "--to", YESTERDAY.isoformat())
            assert rated.returncode == 0, rated.stderr
            for report in (parked, holder):
                stack.wait_for(report["id"], lambda r: r["status"] == "COMPLETED")
                _wait_until(lambda report=report: _events_of(later, report["id"]), timeout=20)
                _wait_until(lambda report=report: _events_of(receiver, report["id"]), timeout=20)
            time.sleep(2)
            assert {item.json()["data"]["id"] for item in later.received} == {parked["id"], holder["id"]}
            assert len(receiver.received) == delivered_before + 2  # nothing settled was handed again

            # reports whose runs the kill cut short settle after the next start
            created = [_create(stack, days, 2, "PARTNER")[1]["id"] for days in (3, 4)]
            _kill_group(stack)
            _restart(stack)
            for report_id in created:
                settled = stack.wait_for(report_id, lambda r: r["status"] != "IN_PROGRESS", timeout=150)
                assert settled["status"] in ("COMPLETED", "FAILED"), settled

            time.sleep(2)  # the settled reports' webhook deliveries
            settled_state = _everything(stack)
            assert set(settled_state["reports"]) == set(after["reports"]) | {*created}
            stack.stop()  # a Ctrl-C: everything is there again
            assert _everything(_started(stack)) == settled_state
    finally:
        stack.stop()

    fresh = Stack(tmp_path, command=[*WBR, "dev", "--fresh"])
    fresh.start()
    try:
        assert fresh.client("s3").list_objects_v2(Bucket=fresh.env["WBR_LAKE_BUCKET"])["KeyCount"] == 0
        dynamodb = fresh.client("dynamodb")
        for table in dynamodb.list_tables()["TableNames"]:
            assert dynamodb.scan(TableName=table)["Count"] == 0, table
        status, _ = fresh.request("GET", BASE)
        assert status == 403  # the directory is empty too: no partner
        assert "--fresh: starting over" in (tmp_path / "dev.log").read_text()
    finally:
        fresh.stop()


def _started(stack: Stack) -> Stack:
    stack.start()
    return stack


def test_a_damaged_state_file_stops_the_start_with_what_to_do(tmp_path):
    stack = _prepared(tmp_path)
    stack.stop()
    snapshot = tmp_path / "aws" / "dynamodb" / "dynamodb.snapshot"
    data = bytearray(snapshot.read_bytes())
    data[-10] ^= 0xFF
    snapshot.write_bytes(bytes(data))
    broken = Stack(tmp_path)
    with pytest.raises(AssertionError) as failed:
        broken.start(timeout=60)
    log = (tmp_path / "dev.log").read_text()
    assert "the local state is damaged" in log and str(snapshot) in log and "wbr dev --fresh" in log, log[-2000:]
    assert broken.process is not None and broken.process.wait(10) == 2, failed.value
