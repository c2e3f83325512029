"""The directory snapshot (adapters/directory_snapshot.py) against moto: rebuilt when an upsert
moved the directory on, read once per process, pinned for a whole report, never published older
over newer, and a lost or unreadable object rebuilt, never read as an empty directory."""

from __future__ import annotations

import csv
import io
import json
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.adapters.directory_snapshot import EmptyDirectory, SnapshotDirectory, decode, encode, snapshot_key
from chalicelib.adapters.dynamo_directory import DynamoDirectory
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.directory import Customer, Location, Partner, Sku
from chalicelib.domain.directory_index import DirectoryIndex
from chalicelib.domain.reports import ReportStatus
from chalicelib.domain.workflow_messages import PlanReady
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, DEMO_SUB_PARTNER
from tests.conftest import TODAY
from tests.readers import object_text

CALLER = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
PERIOD = {
    "billingStartDate": (TODAY - timedelta(days=30)).isoformat(),
    "billingEndDate": (TODAY - timedelta(days=1)).isoformat(),
}


def _table(container) -> DynamoDirectory:
    """The directory table as another process sees it (no cache shared with the container's)."""
    return DynamoDirectory(container.dynamodb, container.settings.directory_table)


def _snapshots(container, source=None) -> SnapshotDirectory:
    """A snapshot reader as a fresh process has it (nothing loaded yet)."""
    return SnapshotDirectory(source or _table(container), container.s3, container.settings.lake_bucket)


def _seed_small(container) -> DynamoDirectory:
    writer = _table(container)
    writer.upsert_partner(Partner("p-1", "First Telecom"), as_of=1)
    writer.upsert_customer(Customer("c-1", "p-1", "X-1"), as_of=1)
    writer.upsert_sku(Sku("WXC", "Calling", "Webex Calling"), as_of=1)
    return writer


def test_every_upsert_that_writes_moves_the_version_and_an_older_one_does_not(container):
    writer = _table(container)
    assert writer.state().version == 0
    writer.upsert_partner(Partner("p-1", "First"), as_of=10)
    writer.upsert_customer(Customer("c-1", "p-1", "X-1"), as_of=10)
    assert writer.state().version == 2
    writer.upsert_partner(Partner("p-1", "Older"), as_of=5)  # refused: a newer upsert is stored
    assert writer.state().version == 2
    writer.upsert_sku(Sku("WXC", "Calling", ""))  # no event time: always written
    assert writer.state().version == 3


def test_snapshot_is_built_once_read_once_and_rebuilt_after_an_upsert(container):
    writer = _seed_small(container)
    snapshots = _snapshots(container)
    version = snapshots.pin()
    assert version == writer.state().version == 3 and snapshots.rebuilds == 1
    assert writer.state().snapshot_version == 3
    assert [c.external_id for c in snapshots.at(version).customers_of(["p-1"])] == ["X-1"]

    reader = _snapshots(container)  # another process: reads the published object, once
    assert reader.pin() == version and reader.rebuilds == 0
    for _ in range(5):
        reader.at(version).customers_of(["p-1"], "a", "z")
    assert reader.reads == 1

    writer.upsert_customer(Customer("c-2", "p-1", "X-2"), as_of=2)
    newer = reader.pin()
    assert newer == 4 and reader.rebuilds == 1
    assert [c.org_id for c in reader.at(newer).customers_of(["p-1"])] == ["c-1", "c-2"]
    assert [c.org_id for c in reader.at(version).customers_of(["p-1"])] == ["c-1"]  # a pinned version stays
    assert reader.customers_of(["p-1"], "c-2") == [Customer("c-2", "p-1", "X-2")]  # the Directory port: newest


def test_an_empty_directory_is_never_published_nor_kept(container):
    snapshots = _snapshots(container)
    with pytest.raises(EmptyDirectory):
        snapshots.pin()
    assert snapshots.refresh() is None
    assert _table(container).state().snapshot_version is None
    _table(container).upsert_partner(Partner("p-1", "First Telecom"), as_of=1)
    assert [p.org_id for p in snapshots.partners()] == ["p-1"]  # seen at once


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param("delete", id="missing"),
        pytest.param(b"\x00garbage", id="corrupt"),
        pytest.param(encode(DirectoryIndex.of([], [], []), 3), id="an empty snapshot"),
        pytest.param(encode(DirectoryIndex.of([Partner("p-1", "First Telecom")], [], []), 2), id="another version"),
    ],
)
def test_a_lost_or_unreadable_snapshot_is_rebuilt_never_read_as_empty(container, damage):
    _seed_small(container)
    version = _snapshots(container).pin()
    key = snapshot_key(version)
    bucket = container.settings.lake_bucket
    if damage == "delete":
        container.s3.delete_object(Bucket=bucket, Key=key)
    else:
        container.s3.put_object(Bucket=bucket, Key=key, Body=damage)

    pinned = _snapshots(container)  # a shard of a report pinned at `version`, in a new process
    assert [c.external_id for c in pinned.at(version).customers_of(["p-1"])] == ["X-1"]
    assert pinned.rebuilds == 1

    planner = _snapshots(container)  # the next Plan: the object is whole again
    assert planner.pin() == version and planner.rebuilds == 0
    assert planner.at(version).customer_count == 1


def test_a_shard_whose_pinned_snapshot_was_lost_names_from_a_newer_one(container):
    writer = _seed_small(container)
    version = _snapshots(container).pin()
    container.s3.delete_object(Bucket=container.settings.lake_bucket, Key=snapshot_key(version))
    writer.upsert_customer(Customer("c-2", "p-1", "X-2"), as_of=1)
    shard = _snapshots(container)
    assert {c.org_id for c in shard.at(version).customers_of(["p-1"])} == {"c-1", "c-2"}  # never older
    assert writer.state().snapshot_version == version + 1


def test_two_concurrent_rebuilders_publish_one_content_per_version(container):
    writer = _seed_small(container)
    both_scanned = threading.Barrier(2, timeout=10)

    class Racing(DynamoDirectory):
        def read_all(self) -> DirectoryIndex:
            index = super().read_all()
            both_scanned.wait()  # both read the same version and scanned before either writes
            return index

    rebuilders = [_snapshots(container, Racing(container.dynamodb, container.settings.directory_table)) for _ in "ab"]
    versions: list[int] = []
    threads = [threading.Thread(target=lambda r=r: versions.append(r.pin())) for r in rebuilders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert versions == [3, 3]
    assert sum(r.rebuilds for r in rebuilders) == 2  # both built; the object was written once
    assert writer.state().snapshot_version == 3
    assert _snapshots(container).at(3).customers_of(["p-1"]) == [Customer("c-1", "p-1", "X-1")]


def test_a_slow_rebuilder_never_publishes_an_older_snapshot_over_a_newer_one(container):
    writer = _seed_small(container)
    scanned, newer_published = threading.Event(), threading.Event()

    class Slow(DynamoDirectory):
        def read_all(self) -> DirectoryIndex:
            index = super().read_all()
            scanned.set()
            newer_published.wait(10)
            return index

    slow = _snapshots(container, Slow(container.dynamodb, container.settings.directory_table))
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(slow.pin()))
    thread.start()
    assert scanned.wait(10)
    writer.upsert_customer(Customer("c-2", "p-1", "X-2"), as_of=1)  # version 4
    assert _snapshots(container).pin() == 4
    newer_published.set()
    thread.join(20)
    assert result == [3]  # the slow one's snapshot holds what its caller needed …
    assert writer.state().snapshot_version == 4  # … and the pointer stays on the newer one
    planner = _snapshots(container)
    assert planner.pin() == 4 and planner.rebuilds == 0


def _customer_upserted(customer_org_id: str, external_id: str) -> str:
    occurred = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(seconds=5)
    return json.dumps(
        {
            "eventId": f"customer-{customer_org_id}-{external_id}",
            "eventType": "CUSTOMER_UPSERTED",
            "occurredAt": occurred.isoformat().replace("+00:00", "Z"),
            "customerOrgId": customer_org_id,
            "partnerOrgId": DEMO_PARTNER,
            "externalId": external_id,
            "internal": False,
        }
    )


def _customer_report(container) -> tuple[dict[str, str], list[int]]:
    """A CUSTOMER report's external id by customer, and the directory versions its shards named from."""
    pinned: list[int] = []
    plan = container.generation.plan

    def watched_plan(message):
        planned = plan(message)
        if isinstance(planned, PlanReady) and isinstance(planned.shards, tuple):
            pinned.extend(item.directory_version for item in planned.shards)
        return planned

    container.generation.plan = watched_plan
    try:
        report, _ = container.reports.create(CALLER, {**PERIOD, "type": "CUSTOMER"}, "WBR_t")
        container.workflow.join(60)
    finally:
        del container.generation.plan
    report, _ = container.reports.get(CALLER, report.report_id)
    assert report.status is ReportStatus.COMPLETED, report.errors
    rows = list(csv.DictReader(io.StringIO(object_text(container, report.s3_key))))
    container.reports.delete(CALLER, report.report_id)  # the next identical create is a new report
    return {row["CUSTOMER_ORG_ID"]: row["CUSTOMER_EXTERNAL_ID"] for row in rows}, pinned


def test_a_report_after_a_customer_upsert_names_the_new_customer(seeded, monkeypatch):
    customers = seeded.directory.customers_of([DEMO_PARTNER, DEMO_SUB_PARTNER])
    generation = seeded.generation
    object.__setattr__(generation, "_policy", replace(generation._policy, shard_rows=1))
    # a shard a customer (the demo lake holds one partition): shards name from ranges of the snapshot
    monkeypatch.setattr(seeded.lake, "customer_rows", lambda usage: [(c.org_id, 1) for c in customers])
    customer = next(c for c in customers if not c.internal and c.partner_org_id == DEMO_PARTNER)
    # as if its CUSTOMER_UPSERTED had not arrived yet: its usage counts, unnamed
    seeded.dynamodb.delete_item(
        TableName=seeded.settings.directory_table,
        Key={"entity": {"S": f"CUSTOMER#{DEMO_PARTNER}"}, "id": {"S": customer.org_id}},
    )
    named, first_pins = _customer_report(seeded)
    assert named[customer.org_id] == ""
    assert len(set(first_pins)) == 1 and len(first_pins) > 1  # several shards, one directory version

    seeded.ingestion.ingest_lines([_customer_upserted(customer.org_id, "EXT-NEW-1")], source="t")
    named, pins = _customer_report(seeded)
    assert named[customer.org_id] == "EXT-NEW-1"
    assert {org: named[org] for org in named if org != customer.org_id} == {
        c.org_id: c.external_id for c in customers if c.org_id in named and c.org_id != customer.org_id
    }
    assert len(set(pins)) == 1 and pins[0] > first_pins[0]
    assert seeded.directory_snapshots.rebuilds == 2  # once per directory change, not per shard or report


def test_customer_and_location_names_survive_the_table_and_the_snapshot(container):
    """CUSTOMER_UPSERTED.name and LOCATION_UPSERTED reach a report through both readers: the
    table (`customers_of`, a shard's range) and the snapshot object (written and read back); a
    later upsert of a location renames it, an older one does not, a location of an unknown
    customer names nothing."""
    writer = _seed_small(container)
    writer.upsert_customer(Customer("c-2", "p-1", "X-2", name="Cedar, Logistics"), as_of=1)
    writer.upsert_location(Location("p-1", "c-2", "L-1", "=Head Office"), as_of=1)
    writer.upsert_location(Location("p-1", "c-2", "L-2", "Site 2"), as_of=1)
    writer.upsert_location(Location("p-1", "c-2", "L-2", "Site Two"), as_of=3)
    writer.upsert_location(Location("p-1", "c-2", "L-2", "older"), as_of=2)  # refused: newer stored
    writer.upsert_location(Location("p-1", "c-9", "L-1", "nobody's"), as_of=1)
    expected = Customer(
        "c-2", "p-1", "X-2", name="Cedar, Logistics", locations=(("L-1", "=Head Office"), ("L-2", "Site Two"))
    )
    assert writer.customers_of(["p-1"], "c-2", "c-3") == [expected]
    assert [c.locations for c in writer.customers_of(["p-1"])] == [(), expected.locations]
    snapshots = _snapshots(container)
    pinned = snapshots.pin()
    assert _snapshots(container).at(pinned).customers_of(["p-1"]) == writer.customers_of(["p-1"])
    assert decode(encode(writer.read_all(), 7), 7).customers_of(["p-1"]) == writer.customers_of(["p-1"])
