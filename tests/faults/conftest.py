"""Fixtures of the fault-injection suite.

One moto AWS for the whole package holds a small demo world (loaded once through the real
pipeline: ingest → rate → late events → restatement). Every test gets its own reports table and
reports bucket in it (so "no orphan objects" is checked on an empty bucket of its own), a
container whose S3 / DynamoDB clients carry a `FaultPlan`, and a workflow runner that walks the
project's state machine over the container's real steps.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws

from chalicelib.adapters.jwt_tokens import DevKeyPair
from chalicelib.adapters.provisioning import ensure_resources
from chalicelib.bootstrap import Container, set_container
from chalicelib.config import Settings
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.reports import Report, ReportStatus
from chalicelib.services.demo_data import DEMO_ADMIN, DEMO_PARTNER, DemoWorld, demo_world, load_demo
from tests.conftest import TODAY
from tests.faults.harness import (
    AtomicRequests,
    FaultPlan,
    FaultWorkflow,
    HeldWorkflow,
    Inspector,
    local_workflow,
    unique_suffix,
)

CALLER = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
PERIOD = {
    "billingStartDate": (TODAY - timedelta(days=3)).isoformat(),
    "billingEndDate": (TODAY - timedelta(days=1)).isoformat(),
}


def settings_with(base: Settings, **changes: Any) -> Settings:
    """`base` with the changes whose fields exist (settings are being renamed in the refactor)."""
    fields = {field.name for field in dataclasses.fields(Settings)}
    return dataclasses.replace(base, **{name: value for name, value in changes.items() if name in fields})


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


def build_container(settings: Settings, plan: FaultPlan) -> Container:
    """A container over the shared mock with the plan's hooks on its clients and DynamoDB
    requests serialised (moto's in-process backend is not thread-safe; AWS requests are atomic)."""
    container = Container(settings)
    real_dynamodb = container.dynamodb
    container.__dict__["dynamodb"] = AtomicRequests(real_dynamodb)
    ensure_resources(settings, container.dynamodb, container.s3)
    plan.install(real_dynamodb, "dynamodb")
    plan.install(container.s3, "s3")
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
        base = settings_with(
            Settings(stage="local", jwt_public_key_file=str(dev_keys.public_path)),
            map_max_concurrency=4,
            shard_customers=2,  # before the refactor
            shard_rows=40,  # after it: three shards for a CUSTOMER report
        )
        world = demo_world(TODAY, days=4, users=40, workspaces=4, seed=23)
        loader = build_container(base, FaultPlan())
        loader.__dict__["workflow"] = HeldWorkflow(loader, FaultPlan())
        load_demo(world, loader.ingestion, loader.rating)
        baselines = {}
        for report_type in ("CUSTOMER", "PARTNER"):
            env = FaultEnv.build(base, world)
            try:
                report = env.generate(type=report_type)
                assert report.status is ReportStatus.COMPLETED, (report_type, report.errors)
                text = env.container.blobs.read_text(report.s3_key)
                assert report.sha256 == hashlib.sha256(text.encode()).hexdigest()
                baselines[report_type] = Baseline(text, report.sha256, report.row_count or 0)
            finally:
                env.close()
        yield FaultWorld(base, world, baselines)


class FaultEnv:
    """One test's world: a container with its own reports table/bucket, a plan, a runner."""

    def __init__(self, container: Container, plan: FaultPlan, workflow: Any, world: DemoWorld) -> None:
        self.container = container
        self.plan = plan
        self.workflow = workflow
        self.world = world
        self.inspect = Inspector(container)

    @classmethod
    def build(cls, base: Settings, world: DemoWorld, runner: str = "fault", **changes: Any) -> FaultEnv:
        suffix = unique_suffix()
        settings = settings_with(
            base, reports_table=f"wbr-reports-{suffix}", reports_bucket=f"wbr-reports-{suffix}", **changes
        )
        plan = FaultPlan()
        container = build_container(settings, plan)
        if runner == "fault":
            workflow: Any = FaultWorkflow(container, plan, max_concurrency=settings.map_max_concurrency)
        elif runner == "local":
            workflow = local_workflow(container, plan, max_concurrency=settings.map_max_concurrency)
        else:
            workflow = HeldWorkflow(container, plan)
        container.__dict__["workflow"] = workflow
        set_container(container)
        return cls(container, plan, workflow, world)

    def close(self) -> None:
        self.plan.clear()
        stop_all = getattr(self.workflow, "stop_all", None)
        if stop_all is not None:
            stop_all()
        try:
            self.workflow.join(10)
        except AssertionError:
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

    def sweeper(self, now: datetime) -> Any:
        """The Sweeper over this container's adapters, with a fake clock."""
        from chalicelib.services.sweeper import Sweeper

        parameters = inspect.signature(Sweeper).parameters
        options: dict[str, Any] = {"clock": lambda: now}
        if "regeneration" in parameters:
            options["regeneration"] = None
        if "data_wait_hours" in parameters:
            options["data_wait_hours"] = self.container.settings.data_wait_hours
        return Sweeper(self.container.report_store, self.container.blobs, **options)

    def problems(self) -> list[str]:
        return self.inspect.settled_problems(DEMO_PARTNER)

    def assert_settled(self) -> None:
        problems = self.problems()
        assert not problems, "\n".join(problems)


@pytest.fixture
def faults(fault_world: FaultWorld) -> Iterator[FaultEnv]:
    """A report environment with the fast-retry FaultWorkflow runner."""
    env = FaultEnv.build(fault_world.settings, fault_world.world)
    env.baselines = fault_world.baselines  # type: ignore[attr-defined]
    try:
        yield env
    finally:
        env.close()


@pytest.fixture
def local_faults(fault_world: FaultWorld) -> Iterator[FaultEnv]:
    """A report environment running the project's own LocalWorkflow (threads, stop on delete)."""
    env = FaultEnv.build(fault_world.settings, fault_world.world, runner="local")
    env.baselines = fault_world.baselines  # type: ignore[attr-defined]
    try:
        yield env
    finally:
        env.close()


@pytest.fixture
def fresh_pipeline(fault_world: FaultWorld) -> Iterator[Container]:
    """Empty event log, lake, directory and calendar of its own (for ingestion faults)."""
    suffix = unique_suffix()
    settings = settings_with(
        fault_world.settings,
        reports_table=f"wbr-reports-{suffix}",
        reports_bucket=f"wbr-reports-{suffix}",
        lake_bucket=f"wbr-lake-{suffix}",
        directory_table=f"wbr-directory-{suffix}",
        usage_days_table=f"wbr-usage-days-{suffix}",
    )
    plan = FaultPlan()
    container = build_container(settings, plan)
    container.__dict__["workflow"] = HeldWorkflow(container, plan)
    container.fault_plan = plan  # type: ignore[attr-defined]
    set_container(container)
    try:
        yield container
    finally:
        plan.clear()
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
        baseline = env.baselines.get(stored.report_type.value)  # type: ignore[attr-defined]
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
    """Per DESIGN §3: after FAILED an identical create makes a new report (the lock and the
    place under the cap were released); after COMPLETED it is a 409 naming the report."""
    from chalicelib.domain.errors import Conflict

    hold = getattr(env.workflow, "hold", None)
    if hold is not None:
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
    if hold is None:  # the project's LocalWorkflow runs it: let it finish
        env.workflow.join(30)
        check_outcome(env, again.report_id, "COMPLETED")
        return
    assert env.inspect.in_progress(DEMO_PARTNER) == 1
    assert list(env.inspect.locks().values()) == [again.report_id]
