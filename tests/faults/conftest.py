"""Fixtures of the fault-injection suite.

One moto AWS for the whole package holds a small demo world (loaded once through the real
pipeline: ingest → rate → late events → restatement). Every test gets its own reports table and
reports bucket in it (so "no orphan objects" is checked on an empty bucket of its own), a
container whose S3 / DynamoDB clients carry a `FaultPlan` (fault_plan.py), and a workflow runner
that walks the project's state machine over the container's real steps (fault_workflows.py),
given to the container as its overrides; `Inspector` (inspector.py) reads what is stored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import pytest
from moto import mock_aws

from chalicelib.adapters.aws import make_client
from chalicelib.adapters.jwt_tokens import DevKeyPair
from chalicelib.bootstrap import Container, set_container
from chalicelib.config import Settings
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.errors import Conflict
from chalicelib.domain.reports import Report, ReportStatus
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, DemoWorld, demo_world, load_demo
from chalicelib.local.events import LocalEventSources
from chalicelib.local.parts import local_parts
from chalicelib.local.provisioning import ensure_resources
from chalicelib.services.sweeper import Sweeper
from tests.conftest import TODAY
from tests.faults.atomic_requests import AtomicRequests
from tests.faults.fault_plan import FaultPlan
from tests.faults.fault_workflows import FaultWorkflow, HeldWorkflow, local_workflow
from tests.faults.inspector import Inspector
from tests.readers import object_text

CALLER = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
PERIOD = {
    "billingStartDate": (TODAY - timedelta(days=3)).isoformat(),
    "billingEndDate": (TODAY - timedelta(days=1)).isoformat(),
}

_names = itertools.count(1)


def unique_suffix() -> str:
    return f"{next(_names):04d}"


@dataclass
class Baseline:
    text: str
    sha256: str
    row_count: int


@dataclass
class FaultWorld:
    settings: Settings
    world: DemoWorld
    baselines: dict[str, Baseline]


def build_container(settings: Settings, plan: FaultPlan, workflow: Callable[[Container], Any]) -> Container:
    """A container over the shared mock with the plan's hooks on its clients, DynamoDB requests
    serialised (moto's in-process backend is not thread-safe; AWS requests are atomic) and the
    runner that `workflow`, a factory taking the container, makes."""
    dynamodb, s3 = make_client("dynamodb", settings), make_client("s3", settings)
    plan.install(dynamodb, "dynamodb")
    plan.install(s3, "s3")
    container = Container(settings, dynamodb=AtomicRequests(dynamodb), s3=s3, **local_parts(workflow=workflow))
    ensure_resources(settings, container.dynamodb, container.s3)
    return container


@pytest.fixture(autouse=True)
def _streams_endpoint_moto_routes(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore sends a DynamoDB Streams call naming a stream ARN to the account endpoint
    (`<account>.streams-ddb.<region>.amazonaws.com`), which moto does not route ("Not yet
    implemented"); the regional endpoint it does route is the same API."""
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")


@pytest.fixture(scope="package")
def fault_world(dev_keys: DevKeyPair) -> Iterator[FaultWorld]:
    with mock_aws():
        base = Settings(
            stage="local",
            jwt_public_key_file=str(dev_keys.public_path),
            map_max_concurrency=4,
            shard_rows=40,  # three shards for a CUSTOMER report
            lake_partition_customers=1,  # shards may cut at every customer (a partition each)
        )
        world = demo_world(TODAY, days=4, users=40, workspaces=4, seed=23)
        plan = FaultPlan()
        loader = build_container(base, plan, lambda container: HeldWorkflow(container, plan))
        load_demo(world, loader.ingestion, loader.rating)
        baselines = {}
        for report_type in ("CUSTOMER", "PARTNER"):
            env = FaultEnv.build(base, world)
            try:
                report = env.generate(type=report_type)
                assert report.status is ReportStatus.COMPLETED, (report_type, report.errors)
                text = object_text(env.container, report.s3_key)
                assert report.sha256 == hashlib.sha256(text.encode()).hexdigest()
                baselines[report_type] = Baseline(text, report.sha256, report.row_count or 0)
            finally:
                env.close()
        yield FaultWorld(base, world, baselines)


class FaultEnv:
    """One test's world: a container with its own reports table/bucket, a plan, a runner, and
    the fault-free files (`baselines`, by report type) a COMPLETED report must match."""

    def __init__(self, container: Container, plan: FaultPlan, world: DemoWorld, baselines: dict[str, Baseline]) -> None:
        self.container = container
        self.plan = plan
        self.workflow = container.workflow
        self.world = world
        self.baselines = baselines
        self.inspect = Inspector(container)

    @classmethod
    def build(
        cls, base: Settings, world: DemoWorld, runner: str = "fault", baselines: dict[str, Baseline] | None = None
    ) -> FaultEnv:
        """`runner`: "fault" (FaultWorkflow) or "local" (the project's LocalWorkflow)."""
        suffix = unique_suffix()
        settings = dataclasses.replace(
            base, reports_table=f"wbr-reports-{suffix}", reports_bucket=f"wbr-reports-{suffix}"
        )
        plan = FaultPlan()
        concurrency = settings.map_max_concurrency
        runners: dict[str, Callable[[Container], Any]] = {
            "fault": lambda container: FaultWorkflow(container, plan, max_concurrency=concurrency),
            "local": lambda container: local_workflow(container, plan, max_concurrency=concurrency),
        }
        container = build_container(settings, plan, runners[runner])
        set_container(container)
        return cls(container, plan, world, baselines or {})

    def close(self) -> None:
        self.plan.clear()
        self.workflow.stop_all()
        try:
            self.workflow.join(10)
        except AssertionError:  # a FaultWorkflow run still alive: it is a daemon thread, stopping
            pass
        set_container(None)

    # ---- the service's entry points ----------------------------------------------------------

    def body(self, **fields: Any) -> dict[str, Any]:
        return {**PERIOD, "type": "CUSTOMER", **fields}

    def create(self, **fields: Any) -> Report:
        report, _ = self.container.reports.create(CALLER, self.body(**fields), "WBR_faults")
        return report

    def generate(self, **fields: Any) -> Report:
        """Create a report and wait for its run(s); the report as stored afterwards."""
        report = self.create(**fields)
        self.workflow.join(30)
        stored = self.container.report_store.get(DEMO_PARTNER, report.report_id)
        assert stored is not None, "the report vanished"
        return stored

    def stored(self, report_id: str) -> Report | None:
        return self.container.report_store.get(DEMO_PARTNER, report_id)

    def sweeper(self, now: datetime) -> Sweeper:
        """The Sweeper over this container's adapters, with a fake clock (no regeneration)."""
        store, blobs, hours = self.container.report_store, self.container.blobs, self.container.settings.data_wait_hours
        return Sweeper(store, blobs, regeneration=None, data_wait_hours=hours, clock=lambda: now)

    def problems(self) -> list[str]:
        return self.inspect.settled_problems(DEMO_PARTNER)

    def assert_settled(self) -> None:
        problems = self.problems()
        assert not problems, "\n".join(problems)


@pytest.fixture
def faults(fault_world: FaultWorld) -> Iterator[FaultEnv]:
    """A report environment with the fast-retry FaultWorkflow runner."""
    env = FaultEnv.build(fault_world.settings, fault_world.world, baselines=fault_world.baselines)
    try:
        yield env
    finally:
        env.close()


@pytest.fixture
def local_faults(fault_world: FaultWorld) -> Iterator[FaultEnv]:
    """A report environment running the project's own LocalWorkflow (threads, stop on delete)."""
    env = FaultEnv.build(fault_world.settings, fault_world.world, runner="local", baselines=fault_world.baselines)
    try:
        yield env
    finally:
        env.close()


class Pipeline:
    """The usage pipeline over an empty event log, lake, directory and calendar of its own (for
    ingestion faults): the process's `container` (installed as the process's), the `plan` on
    its AWS clients, and the `usage_days` `stream` — its event source mapping, which lives
    outside the process and keeps its position when the process dies."""

    def __init__(self, settings: Settings, plan: FaultPlan) -> None:
        self.plan = plan
        self.container = build_container(settings, plan, self._held)
        set_container(self.container)

    def _held(self, container: Container) -> HeldWorkflow:
        return HeldWorkflow(container, self.plan)

    @cached_property
    def stream(self) -> LocalEventSources:
        return self.container.usage_days_stream

    def restart(self) -> None:
        """The process crashed: everything it held in memory is gone. A new one, built afresh
        over the same AWS (the same clients: the plan's faults go on), takes its place."""
        crashed = self.container
        self.container = Container(
            crashed.settings, dynamodb=crashed.dynamodb, s3=crashed.s3, **local_parts(workflow=self._held)
        )
        set_container(self.container)


@pytest.fixture
def fresh_pipeline(fault_world: FaultWorld) -> Iterator[Pipeline]:
    """A `Pipeline` with tables and buckets of its own (nothing ingested yet)."""
    suffix = unique_suffix()
    settings = dataclasses.replace(
        fault_world.settings,
        reports_table=f"wbr-reports-{suffix}",
        reports_bucket=f"wbr-reports-{suffix}",
        lake_bucket=f"wbr-lake-{suffix}",
        directory_table=f"wbr-directory-{suffix}",
        usage_days_table=f"wbr-usage-days-{suffix}",
    )
    pipeline = Pipeline(settings, FaultPlan())
    try:
        yield pipeline
    finally:
        pipeline.plan.clear()
        set_container(None)


# ---- outcome checks shared by the modules ----------------------------------------------------


def check_outcome(env: FaultEnv, report_id: str, expected: str) -> Report:
    """The run is over: the report is `expected` (COMPLETED with the baseline file, or FAILED with
    integer-coded errors), and the table/bucket hold nothing else (no orphan object, no stray
    lock, counter = reports IN_PROGRESS)."""
    stored = env.stored(report_id)
    assert stored is not None, "the report disappeared"
    problems = env.problems()
    assert stored.status.value == expected and not problems, (
        f"expected the report {expected} with nothing else stored; it is {stored.status.value} "
        f"{[e.to_json() for e in stored.errors] or ''}\n  " + "\n  ".join(problems)
    )
    served, url = env.container.reports.get(CALLER, report_id)
    body = served.detail_json(url)
    if expected == "COMPLETED":
        baseline = env.baselines.get(stored.report_type.value)
        if baseline is not None:
            assert stored.sha256 == baseline.sha256 and stored.row_count == baseline.row_count, (
                "a retried step changed the file (rows lost or counted twice)"
            )
        assert url and "errors" not in body
    else:
        assert url is None and "tempDownloadURL" not in body
        assert body["errors"] and all(type(error["code"]) is int for error in body["errors"])
    return stored


def check_identical_create(env: FaultEnv, previous: Report) -> None:
    """Per ARCHITECTURE.md §2: after FAILED an identical create makes a new report (the lock and the
    place under the cap were released); after COMPLETED it is a 409 naming the report."""
    held = isinstance(env.workflow, FaultWorkflow)
    if held:
        env.workflow.hold = True  # keep the new one IN_PROGRESS: it is only counted here
    body = {
        "billingStartDate": previous.period.start.isoformat(),
        "billingEndDate": previous.period.end.isoformat(),
        "type": previous.report_type.value,
        "internal": previous.request.internal,
    }
    if previous.request.sub_partner_org_id:
        body["subPartnerOrgId"] = previous.request.sub_partner_org_id
    if previous.status is ReportStatus.COMPLETED:
        with pytest.raises(Conflict) as conflict:
            env.container.reports.create(CALLER, body, "WBR_again")
        assert previous.report_id in conflict.value.message
        assert env.inspect.in_progress(DEMO_PARTNER) == 0
        return
    again, created = env.container.reports.create(CALLER, body, "WBR_again")
    assert created and again.report_id != previous.report_id
    if not held:  # the project's LocalWorkflow runs it: let it finish
        env.workflow.join(30)
        check_outcome(env, again.report_id, "COMPLETED")
        return
    assert env.inspect.in_progress(DEMO_PARTNER) == 1
    assert list(env.inspect.locks().values()) == [again.report_id]
