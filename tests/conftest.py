"""Shared fixtures: a moto AWS, the service's resources, a dev key pair, the demo data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
from moto import mock_aws

from chalicelib.adapters.jwt_tokens import DevKeyPair
from chalicelib.adapters.provisioning import ensure_resources
from chalicelib.bootstrap import Container, set_container
from chalicelib.config import Settings
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE
from chalicelib.services.demo_data import DEMO_ADMIN, DEMO_PARTNER, DemoWorld, demo_world, load_demo

TODAY = datetime.now(timezone.utc).date()


@pytest.fixture(autouse=True)
def _aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeyPair:
    return DevKeyPair(tmp_path_factory.mktemp("keys")).ensure()


@pytest.fixture
def settings(dev_keys: DevKeyPair) -> Settings:
    return Settings(
        stage="local",
        jwt_public_key_file=str(dev_keys.public_path),
        data_poll_seconds=1,
        shard_customers=2,
        map_max_concurrency=3,
    )


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    with mock_aws():
        built = Container(settings)
        ensure_resources(settings, built.dynamodb, built.s3)
        set_container(built)
        try:
            yield built
        finally:
            if "workflow" in built.__dict__:
                built.workflow.stop()
                built.workflow.join(10)
            set_container(None)


@pytest.fixture(scope="session")
def world() -> DemoWorld:
    return demo_world(TODAY, days=40, users=90, workspaces=12, seed=11)


@dataclass
class Snapshot:
    """What the demo pipeline wrote (lake objects, table items), to restore into a fresh mock."""

    objects: dict[str, bytes]
    items: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="session")
def demo_snapshot(world: DemoWorld, dev_keys: DevKeyPair) -> Snapshot:
    """The demo loaded once per session through the real pipeline (ingest → rate → restate)."""
    settings = Settings(stage="local", jwt_public_key_file=str(dev_keys.public_path))
    with mock_aws():
        built = Container(settings)
        ensure_resources(settings, built.dynamodb, built.s3)
        load_demo(world, built.ingestion, built.rating)
        objects = {
            entry["Key"]: built.s3.get_object(Bucket=settings.lake_bucket, Key=entry["Key"])["Body"].read()
            for page in built.s3.get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket)
            for entry in page.get("Contents", [])
        }
        items = {
            table: [item for page in built.dynamodb.get_paginator("scan").paginate(TableName=table)
                    for item in page["Items"]]
            for table in (settings.directory_table, settings.usage_days_table)
        }
    return Snapshot(objects, items)


@pytest.fixture
def seeded(container: Container, demo_snapshot: Snapshot) -> Container:
    """A fresh mock holding the demo data (restored from the session's pipeline run)."""
    for key, body in demo_snapshot.objects.items():
        container.s3.put_object(Bucket=container.settings.lake_bucket, Key=key, Body=body)
    for table, items in demo_snapshot.items.items():
        for item in items:
            container.dynamodb.put_item(TableName=table, Item=item)
    return container


class Tokens:
    def __init__(self, keys: DevKeyPair, settings: Settings) -> None:
        self._keys = keys
        self._settings = settings

    def mint(self, org_id: str = DEMO_PARTNER, subject: str = DEMO_ADMIN,
             scopes: tuple[str, ...] = (READ_SCOPE, WRITE_SCOPE), **overrides: Any) -> str:
        arguments: dict[str, Any] = {
            "issuer": self._settings.jwt_issuer,
            "audience": self._settings.jwt_audience,
            "org_id": org_id,
            "subject": subject,
            "scopes": list(scopes),
        }
        arguments.update(overrides)
        return self._keys.mint(**arguments)


@pytest.fixture
def tokens(dev_keys: DevKeyPair, settings: Settings) -> Tokens:
    return Tokens(dev_keys, settings)
