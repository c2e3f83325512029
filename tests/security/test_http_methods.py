"""Every method on every route, over real HTTP through the server `wbr dev` runs (Chalice's local
server with the gateway emulation): never a 5xx, and every refusal in the Webex error shape. A
method that a route does not take is a 405 naming the ones it does (`Allow`), also for methods
that http.server knows nothing of (TRACE, CONNECT, any token: it would answer a 501 HTML page);
a path that is no route is the gateway's no-route 403."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterator

import pytest
from chalice.config import Config
from chalice.local import LocalDevServer

from chalicelib.api.gateway import WebexRequestHandler
from chalicelib.local.demo import DEMO_PARTNER
from tests.conftest import Tokens
from tests.security.conftest import SecurityStack

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "M-SEARCH"]


@pytest.fixture
def server(stack: SecurityStack) -> Iterator[tuple[str, int]]:
    import app as app_module

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    local = LocalDevServer(
        app_module.app, Config.create(chalice_stage="local"), "127.0.0.1", port, handler_cls=WebexRequestHandler
    )
    thread = threading.Thread(target=local.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", port
    finally:
        local.server.shutdown()
        local.server.server_close()
        thread.join(10)


def _ask(address: tuple[str, int], method: str, path: str, token: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection(*address, timeout=30)
    try:
        connection.request(method, path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    finally:
        connection.close()


def _concrete(route: str, report_id: str) -> str:
    return route.replace("{report_id}", report_id).replace("{webhook_id}", "x").replace("{asset}", "x.css")


def test_every_method_on_every_route_answers_in_the_webex_shape(
    stack: SecurityStack, tokens: Tokens, server: tuple[str, int]
) -> None:
    import app as app_module

    token = tokens.mint()
    report_id = stack.standing_report(DEMO_PARTNER).report_id
    routes = {_concrete(route, report_id): set(methods) for route, methods in app_module.app.routes.items()}
    routes["/v1/wholesale/billing/no-such-route"] = set()
    seen = []
    for path, allowed in sorted(routes.items()):
        for method in METHODS:
            if method in allowed and method in ("POST", "PUT", "PATCH", "DELETE"):
                continue  # what a route does is its own tests' business; here: what it refuses
            status, headers, body = _ask(server, method, path, token)
            seen.append((method, path, status))
            assert status < 500, (method, path, status, body[:300])
            if method == "OPTIONS" and status == 200:
                pass  # chalice local's CORS preflight answer, empty
            elif method not in allowed and allowed:
                assert status == 405, (method, path, status, body[:300])
                assert set(headers["allow"].replace(" ", "").split(",")) == allowed, (method, path, headers)
            elif not allowed:
                assert status == 403, (method, path, status)
            if status >= 400 and method != "HEAD":
                assert headers["content-type"].startswith("application/json"), (method, path, headers)
                error = json.loads(body)
                assert set(error) == {"message", "errors", "trackingId"}, (method, path, error)
                assert error["trackingId"] == headers["trackingid"]
    assert ("TRACE", _concrete("/v1/wholesale/billing/reports/{report_id}", report_id), 405) in seen
