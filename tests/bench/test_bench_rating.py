"""Rating figures (docs/FIGURES.md): one day with 1 M assignments open at midnight ≤ 3 s, beside
writing the same usage rows alone in the same run; and a restatement of one partner's day, which
rewrites only that partner's partitions (bytes written reported beside the day's first rating).

The lake holds 10 partners of 100 000 keys each (5 000 customers, 7 locations, 2 SKUs), in
moto's in-process S3 (`mock_aws`: the rating's own cost, not a server's), 20 000 events that day
(half unassign an open key at a random second, half assign a new one)."""

from __future__ import annotations

import json
import random
import time
from datetime import date, timedelta

import pyarrow as pa
import pytest

from chalicelib.domain.events import KEY_FIELDS
from chalicelib.domain.proration import day_start_epoch
from tests.bench.conftest import best_of
from tests.oracles import rate_day

pytestmark = pytest.mark.bench

KEYS, EVENTS, PARTNERS = 1_000_000, 20_000, 10
TARGET_SECONDS = 3.0
DAY = date(2026, 10, 15)


def _state() -> pa.Table:
    since = day_start_epoch(DAY) - 86_400  # open since before the day
    return pa.table(
        {
            "partner_org_id": pa.array([f"partner-{i % PARTNERS}" for i in range(KEYS)]),
            "customer_org_id": pa.array([f"customer-{i % 5000:05d}" for i in range(KEYS)]),
            "location_id": pa.array([f"location-{i % 7}" for i in range(KEYS)]),
            "subscription_id": pa.array(["sub-1"] * KEYS),
            "sku": pa.array([("WXC-WHL-PRO", "WXM-WHL-MTG")[i % 2] for i in range(KEYS)]),
            "subject_type": pa.array(["USER"] * KEYS),
            "user_id": pa.array([f"user-{i:07d}" for i in range(KEYS)]),
            "subscriber_id": pa.array([f"sub-{i:07d}" for i in range(KEYS)]),
            "workspace_id": pa.array([""] * KEYS),
            "assigned_since": pa.array([since] * KEYS, pa.int64()),
        }
    )


def _event(number: int, key: dict | None, moment: str) -> str:
    if key is None:
        body = {
            "partnerOrgId": "partner-1",
            "customerOrgId": "customer-00001",
            "locationId": "location-1",
            "subscriptionId": "sub-1",
            "sku": "WXC-WHL-PRO",
            "subject": {"type": "USER", "userId": f"new-{number}", "subscriberId": f"nsub-{number}"},
        }
    else:
        body = {
            "partnerOrgId": key["partner_org_id"],
            "customerOrgId": key["customer_org_id"],
            "locationId": key["location_id"],
            "subscriptionId": key["subscription_id"],
            "sku": key["sku"],
            "subject": {"type": "USER", "userId": key["user_id"], "subscriberId": key["subscriber_id"]},
        }
    return json.dumps(
        {
            "eventId": f"e{number}",
            "occurredAt": moment,
            "eventType": "PACKAGE_UNASSIGNED" if key else "PACKAGE_ASSIGNED",
            **body,
        }
    )


def test_rating_one_million_active_assignments_and_a_one_partner_restatement(container, record):
    rng = random.Random(1)
    state = _state()
    previous = DAY - timedelta(days=1)
    container.lake.write_state(previous, 1, state)
    container.calendar.publish(previous, 1, 0)
    start = day_start_epoch(DAY)

    def moment() -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + rng.randrange(86_400)))

    events = []
    for number in range(EVENTS):
        row = rng.randrange(KEYS)
        key = {name: state[name][row].as_py() for name in KEY_FIELDS} if number % 2 else None
        events.append(_event(number, key, moment()))
    container.ingestion.ingest_lines(events, source="bench")

    keys_only = state.select(KEY_FIELDS)
    usage_only = keys_only.append_column("units", pa.array([1] * KEYS, pa.int64())).add_column(
        0, "usage_date", pa.array([DAY] * KEYS, pa.date32())
    )
    baseline = best_of(1, lambda: container.lake.write_day(DAY - timedelta(days=30), 1, usage_only))
    started = time.perf_counter()
    rated = rate_day(container.rating, DAY)
    elapsed = time.perf_counter() - started
    assert rated.usage_rows >= KEYS - EVENTS and rated.open_keys >= KEYS - EVENTS

    # A late event of one partner (partner-7) for the rated day: its restatement.
    victim = next(i for i in range(KEYS) if i % PARTNERS == 7)
    late = _event(EVENTS + 1, {name: state[name][victim].as_py() for name in KEY_FIELDS}, moment())
    assert container.ingestion.ingest_lines([late], source="bench-late").restated_from == DAY
    started = time.perf_counter()
    restated = container.rating.restate_pending()
    restate_seconds = time.perf_counter() - started
    day = next(entry for entry in restated if entry.day == DAY)
    assert day.partitions_written >= 1 and day.partitions_written < day.partitions
    record(
        "rating_1M_assignments",
        keys=KEYS,
        events=EVENTS,
        partners=PARTNERS,
        seconds=round(elapsed, 2),
        baseline_write_day_only_seconds=round(baseline, 2),
        ratio_to_baseline=round(elapsed / baseline, 2),
        target_seconds=TARGET_SECONDS,
        meets_target=elapsed <= TARGET_SECONDS,
        usage_rows=rated.usage_rows,
        open_keys=rated.open_keys,
        partitions=rated.partitions,
        bytes_written_first_rating=rated.bytes_written,
    )
    record(
        "restatement_one_partner",
        seconds=round(restate_seconds, 2),
        partitions=day.partitions,
        partitions_rewritten=day.partitions_written,
        bytes_written=day.bytes_written,
        bytes_written_first_rating=rated.bytes_written,
        share_of_first_rating=round(day.bytes_written / rated.bytes_written, 3),
    )
