"""Shared fixtures: a moto AWS, the service's resources, a dev key pair, the demo data."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest
from chalice.config import Config
from chalice.local import LocalDevServer, LocalGatewayException
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer

from chalicelib.adapters.jwt_tokens import DevKeyPair
from chalicelib.api.gateway import WebexLocalGateway, WebexRequestHandler
from chalicelib.bootstrap import Container, set_container
from chalicelib.config import Settings
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, DemoWorld, demo_world, load_demo
from chalicelib.local.dynamodb import speed_up as speed_up_local_dynamodb
from chalicelib.local.parts import local_parts
from chalicelib.local.provisioning import ensure_resources

TODAY = datetime.now(timezone.utc).date()

# The tests' moto runs as the local stack's DynamoDB does (same answers, cheaper comparisons).
speed_up_local_dynamodb()

# The suite never reaches a running stack's endpoints, from a shell that sourced its env file:
# moto's mock only intercepts AWS hosts, so a session fixture run with AWS_ENDPOINT_URL set
# would write into the running stack.
from chalicelib.local.env_file import ENV_FILE_KEYS  # noqa: E402

for _name in [name for name in os.environ if name.startswith("AWS_ENDPOINT_URL") or name in ENV_FILE_KEYS]:
    if not _name.startswith("AWS_") or _name.startswith("AWS_ENDPOINT_URL"):
        del os.environ[_name]
# Nor its `.local/env` nor its keys (a `make run` beside `make test`): every process of the run
# gets a state folder of its own (the env file names the stack's: it went with the loop above).
os.environ["WBR_STATE_DIR"] = tempfile.mkdtemp(prefix="wbr-test-state-")


@pytest.fixture(autouse=True)
def _aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_DYNAMODB_STREAMS"):
        monkeypatch.delenv(name, raising=False)  # never a running stack's endpoints
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture(scope="session")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeyPair:
    return DevKeyPair(tmp_path_factory.mktemp("keys")).ensure()


@pytest.fixture
def settings(dev_keys: DevKeyPair) -> Settings:
    return Settings(
        stage="local",
        jwt_public_key_file=str(dev_keys.public_path),
        shard_rows=250,
        map_max_concurrency=3,
    )


@contextmanager
def fresh_container(settings: Settings) -> Iterator[Container]:
    """A Container over a fresh moto AWS with the service's tables and buckets, installed as the
    process's container while the context lasts."""
    with mock_aws():
        built = Container(settings, **local_parts())
        ensure_resources(settings, built.dynamodb, built.s3)
        set_container(built)
        try:
            yield built
        finally:
            if built.built("workflow"):
                built.workflow.stop_all()
                built.workflow.join(10)
            set_container(None)


@pytest.fixture
def container(settings: Settings) -> Iterator[Container]:
    with fresh_container(settings) as built:
        yield built


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
        built = Container(settings, **local_parts())
        ensure_resources(settings, built.dynamodb, built.s3)
        load_demo(world, built.ingestion, built.rating)
        objects = {
            entry["Key"]: built.s3.get_object(Bucket=settings.lake_bucket, Key=entry["Key"])["Body"].read()
            for page in built.s3.get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket)
            for entry in page.get("Contents", [])
        }
        items = {
            table: [
                item
                for page in built.dynamodb.get_paginator("scan").paginate(TableName=table)
                for item in page["Items"]
            ]
            for table in (settings.directory_table, settings.usage_days_table)
        }
    return Snapshot(objects, items)


def restore(snapshot: Snapshot, settings: Settings) -> None:
    """Put the snapshot into moto's backends of this process directly (what `put_object` and
    `put_item` would store, without their request round trip through botocore and moto's
    parsers: 0.02 s instead of 1-2 s per test). The in-process mock and a ThreadedMotoServer of
    this process share these backends."""
    lake = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for key, body in snapshot.objects.items():
        lake.put_object(settings.lake_bucket, key, body)
    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID][settings.region]
    for table, items in snapshot.items.items():
        for item in items:
            tables.put_item(table, item)


@pytest.fixture
def seeded(container: Container, demo_snapshot: Snapshot) -> Container:
    """A fresh mock holding the demo data (restored from the session's pipeline run)."""
    restore(demo_snapshot, container.settings)
    return container


class Tokens:
    def __init__(self, keys: DevKeyPair, settings: Settings) -> None:
        self._keys = keys
        self._settings = settings

    def mint(
        self,
        org_id: str = DEMO_PARTNER,
        subject: str = DEMO_ADMIN,
        scopes: tuple[str, ...] = (READ_SCOPE, WRITE_SCOPE),
        **overrides: Any,
    ) -> str:
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def live_stack(settings: Settings, demo_snapshot: Snapshot, tokens: Tokens) -> Iterator[tuple[str, str, Container]]:
    """The stack over real HTTP, as `wbr dev` runs it: S3/DynamoDB served by a moto server holding
    the demo data, the API by Chalice's local server with the gateway emulation.
    Yields (base URL, a partner admin token, the container)."""
    aws_port, api_port = _free_port(), _free_port()
    aws = ThreadedMotoServer(ip_address="127.0.0.1", port=aws_port, verbose=False)
    aws.start()
    # moto keeps its state per process, not per server: start from nothing, leave nothing behind.
    reset = urllib.request.Request(f"http://127.0.0.1:{aws_port}/moto-api/reset", method="POST")
    urllib.request.urlopen(reset).close()
    container = Container(
        type(settings)(**{**settings.__dict__, "aws_endpoint_url": f"http://127.0.0.1:{aws_port}"}), **local_parts()
    )
    ensure_resources(container.settings, container.dynamodb, container.s3)
    restore(demo_snapshot, container.settings)
    set_container(container)
    import app as app_module

    server = LocalDevServer(
        app_module.app, Config.create(chalice_stage="local"), "127.0.0.1", api_port, handler_cls=WebexRequestHandler
    )
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{api_port}", tokens.mint(), container
    finally:
        server.server.shutdown()
        server.server.server_close()
        container.workflow.stop_all()
        container.workflow.join(10)
        set_container(None)
        urllib.request.urlopen(reset).close()
        aws.stop()


# --- HTTP through the same local API Gateway emulation as `wbr dev`, in process -------------


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        lowered = {key.lower(): value for key, value in self.headers.items()}
        return lowered.get(name.lower())


class ApiClient:
    def __init__(self, token: str | None = None) -> None:
        import app as app_module

        self._gateway = WebexLocalGateway(app_module.app, Config.create(chalice_stage="local"))
        self.token = token

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
        raw: bytes | None = None,
    ) -> HttpResponse:
        sent = {"host": "testserver"}
        bearer = token if token is not None else self.token
        if bearer is not None:
            sent["authorization"] = f"Bearer {bearer}"
        if body is not None:
            sent["content-type"] = "application/json"
            raw = json.dumps(body).encode()
        sent.update({key.lower(): value for key, value in (headers or {}).items()})
        try:
            response = self._gateway.handle_request(method=method, path=path, headers=sent, body=raw or b"")
        except LocalGatewayException as error:
            return HttpResponse(error.CODE, dict(error.headers), error.body or b"")
        headers_out = dict(response.get("headers") or {})
        for key, values in (response.get("multiValueHeaders") or {}).items():
            headers_out[key] = ", ".join(values)
        payload = response.get("body") or b""
        return HttpResponse(
            response["statusCode"], headers_out, payload.encode() if isinstance(payload, str) else payload
        )

    def get(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> HttpResponse:
        return self.request("POST", path, body=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def api(seeded: Container, tokens: Tokens) -> ApiClient:
    """An HTTP client through the local gateway (in process), with a partner admin token."""
    return ApiClient(tokens.mint())


def deliver_publications(container: Container, join_seconds: float = 60, rounds: int = 20) -> int:
    """Deliver the pending `usage_days` stream records to the deployed handler (as Lambda's event
    source mapping does) and let the runs they start finish, until no record is left; how many
    records were delivered."""
    total = 0
    for _ in range(rounds):
        delivered = container.usage_days_stream.drain_stream()
        container.workflow.join(join_seconds)
        if not delivered:
            return total
        total += delivered
    raise AssertionError(f"the usage_days stream kept producing records after {rounds} rounds")


def unpublish_day(container: Container, day: Any) -> None:
    """Make `day` (inside the data window) unpublished: delete its `usage_days` item."""
    container.dynamodb.delete_item(
        TableName=container.settings.usage_days_table, Key={"usageDate": {"S": day.isoformat()}}
    )
    assert container.calendar.published_versions([day]) == {}
    epoch = container.calendar.data_epoch()
    assert epoch is not None and epoch <= day, "a day before the data epoch counts as published empty"


@pytest.fixture
def streams_routed(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore sends a DynamoDB Streams call naming a stream ARN to the account endpoint
    (`<account>.streams-ddb.<region>.amazonaws.com`), which moto does not route ("Not yet
    implemented"); the regional endpoint it does route is the same API (as tests/faults does).
    Use before the container's `dynamodb_streams` client is first created."""
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
