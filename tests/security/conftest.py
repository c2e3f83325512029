"""Fixtures of the security tests: one moto stack per test module (the per-test `seeded` restore
is too slow for matrices of hundreds of requests), holding the demo partner directory plus a
partner tree that is not the demo partner's, loaded through the real ingestion service.

Report generation is replaced by a recorder (`RecordingWorkflow`): these tests are about who may
do what and what gets written, not about report contents (tests/security/test_csv_injection.py
runs the real worker)."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from hashlib import sha256
from typing import Any

import pytest
from moto import mock_aws

from chalicelib.adapters.jwt_tokens import DevKeyPair
from chalicelib.bootstrap import Container, set_container
from chalicelib.config import Settings
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.report_rows import CsvRenderer, columns_for
from chalicelib.domain.reports import Report, ReportType, report_object_key
from chalicelib.local.demo import (
    DEMO_ADMIN,
    DEMO_PARTNER,
    OTHER_PARTNER,
    demo_events,
    demo_world,
    webex_id,
)
from chalicelib.local.parts import local_parts
from chalicelib.local.provisioning import ensure_resources
from chalicelib.services.ports import ReportFile
from tests.conftest import TODAY

BASE = "/v1/wholesale/billing/reports"
# A reseller of the other partner: a partner org that is in no tree of the demo partner.
FOREIGN_SUB_PARTNER = webex_id("ORGANIZATION", "globex-reseller-west")
# A customer org: known to the directory, but not a partner.
DEMO_CUSTOMER = webex_id("ORGANIZATION", "Bluebird Dental")


class RecordingWorkflow:
    """Stands in for the report worker: records every start, generates nothing (reports stay
    IN_PROGRESS). Accepts any arguments, so it follows the `Workflow` port as it evolves."""

    def __init__(self) -> None:
        self.started: list[tuple[Any, ...]] = []
        self.stopped: list[tuple[Any, ...]] = []

    def start(self, *args: Any, **kwargs: Any) -> None:
        self.started.append(args)

    def stop(self, *args: Any, **kwargs: Any) -> None:
        self.stopped.append(args)

    def stop_all(self) -> None:
        pass

    def join(self, timeout: float = 0.0) -> None:
        pass


@dataclasses.dataclass
class SecurityStack:
    container: Container
    workflow: RecordingWorkflow
    _days_used: int = 0
    _standing: dict[str, Report] = dataclasses.field(default_factory=dict)

    def footprint(self) -> tuple[Any, ...]:
        """Everything a request could write: every item of the reports table (reports, duplicate
        locks, counters), every object of the reports bucket, and the worker starts and stops."""
        settings = self.container.settings
        items = [
            json.dumps(item, sort_keys=True)
            for page in self.container.dynamodb.get_paginator("scan").paginate(TableName=settings.reports_table)
            for item in page["Items"]
        ]
        objects = [
            entry["Key"]
            for page in self.container.s3.get_paginator("list_objects_v2").paginate(Bucket=settings.reports_bucket)
            for entry in page.get("Contents", [])
        ]
        return tuple(sorted(items)), tuple(sorted(objects)), len(self.workflow.started), len(self.workflow.stopped)

    def fresh_period(self) -> dict[str, str]:
        """A one-day billing period no report of this module has used yet (no duplicates)."""
        self._days_used += 1
        day = (TODAY - timedelta(days=self._days_used)).isoformat()
        return {"billingStartDate": day, "billingEndDate": day}

    def standing_report(self, org_id: str, **body: Any) -> Report:
        """A COMPLETED report of `org_id` shared by the tests that leave it alone (cheaper than a
        new one per test); a test that deletes it calls `forget`."""
        key = json.dumps([org_id, body], sort_keys=True)
        if key not in self._standing:
            self._standing[key] = self.completed_report(org_id, **body)
        return self._standing[key]

    def forget(self, report: Report) -> None:
        self._standing = {key: kept for key, kept in self._standing.items() if kept.report_id != report.report_id}

    def completed_report(self, org_id: str, **body: Any) -> Report:
        """A COMPLETED report of `org_id` with its CSV in S3, made through the report service."""
        caller = Caller(org_id, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
        report, created = self.container.reports.create(caller, {**self.fresh_period(), **body}, "WBR_security")
        assert created
        key = report_object_key(org_id, report.report_id, report.revision)
        # a PARTNER report's columns with one row, so a diff or a manifest of it is a real one
        columns = columns_for(ReportType.PARTNER)
        row = {column: "" for column in columns} | {
            "PARTNER_NAME": "secret of " + org_id,
            "PARTNER_ORG_ID": org_id,
            "SKU": "SKU-1",
            "QUANTITY": "1",
        }
        text = CsvRenderer().render([list(columns), [row[column] for column in columns]])
        self.container.blobs.put_text(key, text)
        file = ReportFile(key, 1, sha256(text.encode()).hexdigest(), {})
        assert self.container.report_store.complete(report, file, datetime.now(timezone.utc))
        return self.container.report_store.get(org_id, report.report_id)


def directory_events() -> list[str]:
    """The demo directory (partners, customers, SKUs) plus the foreign sub-partner, as events."""
    events, _ = demo_events(demo_world(TODAY, days=2, users=1, workspaces=0, seed=3))
    upserts = [event for event in events if event["eventType"].endswith("_UPSERTED")]
    upserts.append(
        {
            "eventId": "evt-security-foreign-sub-partner",
            "eventType": "PARTNER_UPSERTED",
            "occurredAt": upserts[0]["occurredAt"],
            "partnerOrgId": FOREIGN_SUB_PARTNER,
            "name": "Globex Reseller West",
            "parentPartnerOrgId": OTHER_PARTNER,
        }
    )
    return [json.dumps(event) for event in upserts]


@contextmanager
def moto_container(settings: Settings, workflow: Any = None) -> Iterator[Container]:
    """A Container over a fresh moto AWS with the service's tables and buckets, installed as the
    process's container; `workflow` replaces the report worker when given."""
    with pytest.MonkeyPatch.context() as env:
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            env.delenv(name, raising=False)
        with mock_aws():
            container = Container(settings, **local_parts(workflow=workflow))
            ensure_resources(settings, container.dynamodb, container.s3)
            set_container(container)
            try:
                yield container
            finally:
                if workflow is None and container.built("workflow"):
                    container.workflow.stop_all()
                    container.workflow.join(10)
                set_container(None)


@pytest.fixture(scope="module")
def security_stack(dev_keys: DevKeyPair) -> Iterator[SecurityStack]:
    settings = Settings(stage="local", jwt_public_key_file=str(dev_keys.public_path), max_reports_in_progress=10_000)
    workflow = RecordingWorkflow()
    with moto_container(settings, workflow) as container:
        ingested = container.ingestion.ingest_lines(directory_events(), source="security-directory")
        assert ingested.rejected == 0
        partners = {partner.org_id for partner in container.directory.partners()}
        assert {DEMO_PARTNER, OTHER_PARTNER, FOREIGN_SUB_PARTNER} <= partners
        assert DEMO_CUSTOMER not in partners
        yield SecurityStack(container, workflow)


@pytest.fixture
def stack(security_stack: SecurityStack) -> SecurityStack:
    set_container(security_stack.container)
    return security_stack


def assert_webex_error(response: Any, status: int) -> dict[str, Any]:
    """The Webex error shape (ARCHITECTURE.md §2), with the TrackingID header echoed in the body."""
    assert response.status == status, (response.status, response.body[:500])
    assert (response.header("Content-Type") or "").startswith("application/json")
    body = response.json()
    assert set(body) == {"message", "errors", "trackingId"}, body
    assert isinstance(body["message"], str) and body["message"]
    assert body["errors"] and all(isinstance(e.get("description"), str) and e["description"] for e in body["errors"])
    assert body["trackingId"] and body["trackingId"] == response.header("TrackingID")
    assert "Traceback" not in response.body.decode("utf-8", "replace")
    return body


def b64url(raw: bytes) -> str:
    """base64url without padding, as in JWTs."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def error_text(body: dict[str, Any]) -> str:
    return " | ".join([body["message"], *(error["description"] for error in body["errors"])])
