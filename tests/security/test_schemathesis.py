"""Property-based fuzzing of the API against its OpenAPI document (chalicelib/api/openapi.json).

Schemathesis generates requests for every operation — valid ones and ones that break the
document (negative mode) — and sends them in process, through the same API Gateway emulation as
`wbr dev` (a WSGI adapter over chalicelib/api/gateway.py), with a valid token of the demo
partner's admin (except in the cases that test the security scheme by leaving it out). Each
response must not be a 5xx, must have a documented status code and content type, and its headers
and body must match the document; a request that breaks the document must be refused (4xx).

The default run is derandomized (the same 1 000-odd requests every time, so CI is stable);
`make fuzz` sets `WBR_FUZZ_EXAMPLES` (generated requests per operation, default 5 000 there) and
then generation is random, new inputs each run (Hypothesis prints how to reproduce a failure).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

import hypothesis
import pytest
import schemathesis
from chalice.config import Config
from chalice.local import LocalGatewayException
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import chalicelib.api
from chalicelib.adapters.jwt_tokens import DevKeyPair
from chalicelib.api.gateway import WebexLocalGateway
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.errors import REPORT_ERROR_DESCRIPTIONS, ReportErrorCode
from chalicelib.domain.reports import ReportError
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, OTHER_PARTNER
from tests.conftest import Tokens
from tests.security.conftest import SecurityStack
from tests.tiers import examples

OPENAPI_FILE = Path(chalicelib.api.__file__).with_name("openapi.json")
FUZZING = bool(os.environ.get("WBR_FUZZ_EXAMPLES"))
EXAMPLES_PER_OPERATION = int(os.environ["WBR_FUZZ_EXAMPLES"]) if FUZZING else examples(deep=260, quick=40)
CALLER = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


class GatewayWsgiApp:
    """WSGI in front of the local API Gateway emulation, as chalice's own HTTP handler does it:
    what `wbr dev` serves, without a socket."""

    def __init__(self) -> None:
        import app as app_module

        self._gateway = WebexLocalGateway(app_module.app, Config.create(chalice_stage="local"))
        self.requests = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        self.requests += 1
        # The path as sent (chalice's HTTP handler passes it on undecoded, too), and the query.
        raw_uri = environ.get("RAW_URI") or quote(environ.get("PATH_INFO", "/").encode("latin-1"))
        path = raw_uri.split("?", 1)[0]
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        headers = {
            name[5:].replace("_", "-").lower(): value for name, value in environ.items() if name.startswith("HTTP_")
        }
        for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(name):
                headers[name.replace("_", "-").lower()] = environ[name]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length > 0 else None
        try:
            response = self._gateway.handle_request(environ["REQUEST_METHOD"], path, headers, body)
            status = response["statusCode"]
            headers_out = {**response.get("headers", {}), **{
                name: ", ".join(values) for name, values in (response.get("multiValueHeaders") or {}).items()
            }}
            payload = response.get("body")
            if response.get("isBase64Encoded"):
                payload = base64.b64decode(payload)
        except LocalGatewayException as error:
            status, headers_out, payload = error.CODE, dict(error.headers), error.body
        raw = b"" if payload is None else payload if isinstance(payload, bytes) else payload.encode("utf-8")
        if raw and not any(name.lower() == "content-type" for name in headers_out):
            headers_out["Content-Type"] = "application/json"  # what chalice local's handler sends
        start_response(f"{status} {HTTPStatus(status).phrase}", [(name, str(value)) for name, value in headers_out.items()])
        return [raw]


@pytest.fixture(scope="module")
def gateway_app(security_stack: SecurityStack) -> GatewayWsgiApp:
    return GatewayWsgiApp()


@pytest.fixture(scope="module")
def schema(gateway_app: GatewayWsgiApp, security_stack: SecurityStack, dev_keys: DevKeyPair) -> Any:
    loaded = schemathesis.openapi.from_path(OPENAPI_FILE)
    loaded.app = gateway_app
    token = Tokens(dev_keys, security_stack.container.settings).mint()

    # Registered with the schema, so that the cases that drop the credentials on purpose
    # (negative testing of the security scheme) go without, and expect a 401.
    @loaded.auth()
    class DemoPartnerAdmin:
        def get(self, case: Any, context: Any) -> str:
            return token

        def set(self, case: Any, data: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return loaded


def operations() -> list[str]:
    """`METHOD path` of every operation in the document (read at collection time)."""
    document = json.loads(OPENAPI_FILE.read_text())
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    return [f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item if method in methods]


@pytest.fixture
def known_report_ids(stack: SecurityStack) -> list[str]:
    """Ids that exist: the demo partner's reports in every status, and another partner's (404)."""
    completed = stack.completed_report(DEMO_PARTNER)
    in_progress, _ = stack.container.reports.create(CALLER, stack.fresh_period(), "WBR_fuzz")
    failed, _ = stack.container.reports.create(CALLER, stack.fresh_period(), "WBR_fuzz")
    error = ReportError(ReportErrorCode.GENERATION_FAILED, REPORT_ERROR_DESCRIPTIONS[ReportErrorCode.GENERATION_FAILED])
    assert stack.container.report_store.fail(failed, [error])
    foreign = stack.completed_report(OTHER_PARTNER)
    return [completed.report_id, in_progress.report_id, failed.report_id, foreign.report_id]


@pytest.mark.tiered
@pytest.mark.parametrize("operation", operations())
def test_api_conforms_to_its_document(schema: Any, gateway_app: GatewayWsgiApp, known_report_ids: list[str],
                                      operation: str) -> None:
    method, path = operation.split(" ", 1)
    api_operation = schema[path][method]
    strategies = [
        api_operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE),
        api_operation.as_strategy(generation_mode=schemathesis.GenerationMode.NEGATIVE),
    ]
    if "{id}" in path:  # random ids almost never exist: also aim at ones that do
        strategies.append(st.one_of(*(api_operation.as_strategy(path_parameters={"id": report_id})
                                      for report_id in known_report_ids)))
    strategy = st.one_of(*strategies)
    sent_before = gateway_app.requests

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=not FUZZING,
        suppress_health_check=list(hypothesis.HealthCheck),
        phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate, hypothesis.Phase.shrink],
    )
    @hypothesis.given(case=strategy)
    def fuzz(case: Any) -> None:
        checks = CHECKS + ([negative_data_rejection] if case.meta and not case.meta.generation.mode.is_positive
                           else [])
        case.call_and_validate(checks=checks)

    fuzz()
    assert gateway_app.requests - sent_before >= EXAMPLES_PER_OPERATION * 0.9, "fewer requests than planned"


def test_the_adapter_passes_path_query_headers_and_body(gateway_app: GatewayWsgiApp, stack: SecurityStack,
                                                        tokens: Tokens) -> None:
    """The fuzzing above is only as good as the adapter: what the client sends must arrive."""
    from werkzeug.test import Client

    client = Client(gateway_app)
    auth = {"Authorization": f"Bearer {tokens.mint()}", "TrackingID": "ROUTER_adapter-1"}
    listed = client.get("/v1/wholesale/billing/reports", query_string={"max": "0"}, headers=auth)
    assert listed.status_code == 400 and b"max: expected an integer" in listed.get_data()
    assert listed.headers["TrackingID"] == "ROUTER_adapter-1"
    assert client.get("/v1/wholesale/billing/reports/%3Bx", headers=auth).status_code == 404
    created = client.post("/v1/wholesale/billing/reports", json={**stack.fresh_period(), "type": "USER"}, headers=auth)
    assert created.status_code == 200 and created.get_json()["type"] == "USER"
    assert client.get("/v1/wholesale/billing/reports").status_code == 401
