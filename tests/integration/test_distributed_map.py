"""A report of more than 40 shards (ARCHITECTURE.md §5): Plan writes the shard list to S3, the
Distributed Map branch of the worker reads it (locally through the same blob store), and the
file is byte for byte the one a single-shard run makes; afterwards the shard list is gone with
the parts."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

from moto import mock_aws

from chalicelib.bootstrap import Container, set_container
from chalicelib.config import Settings
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.reports import Report, ReportStatus
from chalicelib.domain.sharding import INLINE_MAX_SHARDS, SHARD_LIST_NAME
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, demo_world, load_demo
from chalicelib.local.parts import local_parts
from chalicelib.local.provisioning import ensure_resources
from tests.conftest import TODAY
from tests.readers import object_text

CALLER = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
BODY = {
    "billingStartDate": (TODAY - timedelta(days=3)).isoformat(),
    "billingEndDate": (TODAY - timedelta(days=1)).isoformat(),
    "type": "USER",
}


class S3Calls:
    """The S3 calls a container's client makes: (operation, Key, Body)."""

    def __init__(self, s3: Any) -> None:
        self.calls: list[tuple[str, str, Any]] = []
        s3.meta.events.register("provide-client-params.s3", self._record)

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.calls.append((model.name, str(params.get("Key", "")), params.get("Body")))

    def of(self, suffix: str) -> list[tuple[str, Any]]:
        return [(operation, body) for operation, key, body in self.calls if key.endswith(suffix)]


def _generate(container: Container) -> tuple[Report, str]:
    report, created = container.reports.create(CALLER, dict(BODY), "WBR_test")
    assert created
    container.workflow.join(120)
    stored, _ = container.reports.get(CALLER, report.report_id)
    assert stored.status is ReportStatus.COMPLETED, stored.errors
    return stored, object_text(container, stored.s3_key)


def test_more_than_40_shards_run_as_a_distributed_map_to_the_single_shard_file(dev_keys):
    # 45 more customers than the demo's: with a shard per customer, 54 shards.
    world = demo_world(TODAY, days=3, users=150, workspaces=6, seed=5, extra_customers=45)
    # every customer a lake partition of its own, so shards can cut at every customer
    base = Settings(
        stage="local", jwt_public_key_file=str(dev_keys.public_path), map_max_concurrency=2, lake_partition_customers=1
    )
    many = dataclasses.replace(base, shard_rows=1)  # every customer a shard of its own
    one = dataclasses.replace(base, shard_rows=10**9, reports_table="wbr-reports-one", reports_bucket="wbr-one")
    with mock_aws():
        loader = Container(base)
        ensure_resources(base, loader.dynamodb, loader.s3)
        ensure_resources(one, loader.dynamodb, loader.s3)
        load_demo(world, loader.ingestion, loader.rating)
        results = {}
        for name, settings in (("many", many), ("one", one)):
            container = Container(settings, **local_parts())
            calls = S3Calls(container.s3)
            set_container(container)
            try:
                results[name] = (*_generate(container), calls, container)
            finally:
                container.workflow.stop_all()
                set_container(None)

        report, text, calls, container = results["many"]
        single, single_text, single_calls, single_container = results["one"]
        written = [body for operation, body in calls.of(SHARD_LIST_NAME) if operation == "PutObject"]
        assert len(written) == 1, "Plan wrote no shard list: the run was not distributed"
        shards = json.loads(written[0])
        assert len(shards) > INLINE_MAX_SHARDS
        assert [shard["index"] for shard in shards] == list(range(len(shards)))
        # the Distributed Map read it, then Finalize removed it with the parts
        assert [operation for operation, _ in calls.of(SHARD_LIST_NAME)] == ["PutObject", "GetObject"]
        parts = [key for operation, key, _ in calls.calls if operation == "PutObject" and "/part-" in key]
        assert len(parts) == len(shards)
        assert container.blobs.list_keys("parts/") == []
        assert container.blobs.list_keys("") == [report.s3_key]

        assert not single_calls.of(SHARD_LIST_NAME), "a single shard travels in the state"
        assert text == single_text and report.sha256 == single.sha256 and report.row_count == single.row_count
        assert report.row_count and report.row_count > len(shards)
        assert single_container.blobs.list_keys("") == [single.s3_key]
