"""No answer ever echoes a credential (OWASP API Top 10: API8 security misconfiguration).

A regression: an unknown route answered 403 with a description quoting the caller's whole
`Authorization: Bearer …` (Chalice local's "Missing Authentication Token" text; API Gateway's own
quotes the header too, hashed). Distinctive credentials (a valid token of the demo partner, a JWT
signed by a key we never trusted, an expired one, a garbage bearer, a Basic credential, a token in
the query string) go to every kind of wrong route, and to the right routes with a wrong scope,
through the API Gateway emulation (tests/conftest.py ApiClient). No body, no header value and no
log line of the whole test (Powertools' JSON lines, every log record with its extras, stdout and
stderr) may hold a credential or any 12-character piece of one.

`wbr dev` serves the same gateway through Chalice's HTTP server (`WebexRequestHandler`); its
access log and the error pages of `http.server` must not quote a query-string token either."""

from __future__ import annotations

import base64
import io
import json
import logging
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from chalice.config import Config
from chalice.local import LocalDevServer

from chalicelib.adapters.jwt_tokens import DevKeyPair
from chalicelib.api.docs import DEV_TOKEN_VARIABLE
from chalicelib.api.gateway import GATEWAY_DESCRIPTIONS, WebexRequestHandler
from chalicelib.config import Settings
from chalicelib.domain.access import READ_SCOPE
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER
from chalicelib.runtime.observability import SERVICE, logger
from tests.conftest import ApiClient, HttpResponse, Tokens
from tests.security.conftest import BASE, SecurityStack, assert_webex_error

PIECE = 12  # no piece of a credential this long may show anywhere
DOCS = "/v1/wholesale/billing/docs"
OPENAPI = "/v1/wholesale/billing/openapi.json"


@dataclass(frozen=True)
class Credential:
    name: str
    authorization: str | None  # the Authorization header; None: none sent
    query_token: str | None  # sent as `access_token=` in the query string
    secrets: tuple[str, ...]  # what must never show


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str
    public: bool = False  # answers without a token: 2xx
    body: bytes | None = None


def _pieces(secret: str) -> set[str]:
    return {secret[i : i + PIECE] for i in range(len(secret) - PIECE + 1)} or {secret}


class Secrets:
    """Every credential of the test, and a search for any 12-character piece of one."""

    def __init__(self, credentials: list[Credential]) -> None:
        self._pieces: dict[str, str] = {}
        for credential in credentials:
            for secret in credential.secrets:
                assert len(secret) >= PIECE, (credential.name, secret)
                for piece in _pieces(secret):
                    self._pieces.setdefault(piece, credential.name)

    def found_in(self, text: str, anyway: str = "") -> list[str]:
        """The credentials a piece of which `text` holds, each with where in `text`. A piece that
        `anyway` holds too (the answer to the same request without a credential) is no echo: a
        JWT's payload is base64 of base64 Webex ids, as the document's cursor example is."""
        found = {}
        for start in range(len(text) - PIECE + 1):
            piece = text[start : start + PIECE]
            owner = self._pieces.get(piece)
            if owner is not None and owner not in found and piece not in anyway:
                found[owner] = text[max(0, start - 80) : start + PIECE + 80]
        return [f"{owner}: …{context}…" for owner, context in found.items()]


@pytest.fixture(scope="module")
def unknown_keys(tmp_path_factory: pytest.TempPathFactory) -> DevKeyPair:
    """A key pair the service never trusted: well-formed, well-signed tokens it must refuse."""
    return DevKeyPair(tmp_path_factory.mktemp("unknown-keys")).ensure()


def _credentials(tokens: Tokens, settings: Settings, unknown_keys: DevKeyPair) -> list[Credential]:
    def bearer(name: str, token: str) -> Credential:
        return Credential(name, f"Bearer {token}", None, (token,))

    unknown = unknown_keys.mint(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        org_id=DEMO_PARTNER,
        subject=DEMO_ADMIN,
        scopes=[READ_SCOPE],
    )
    garbage = f"secret-{uuid.uuid4()}"
    password = f"pw-{uuid.uuid4()}"
    basic = base64.b64encode(f"{DEMO_ADMIN}:{password}".encode()).decode()
    in_query = tokens.mint()
    return [
        bearer("valid token of the demo partner", tokens.mint()),
        bearer("JWT signed by an unknown key", unknown),
        bearer("expired token", tokens.mint(now=time.time() - 7200, ttl_seconds=60)),
        bearer("garbage bearer", garbage),
        Credential("Basic credential", f"Basic {basic}", None, (basic, password)),
        Credential("token in the query string", None, in_query, (in_query,)),
    ]


def _wrong_routes() -> list[Route]:
    return [
        Route("unknown path", "GET", "/nothing/here"),
        Route("root: the start page", "GET", "/", public=True),
        Route("the console", "GET", "/console/", public=True),
        Route("a console file that is not built", "GET", "/console/assets/dev-jwt-private.pem"),
        Route("unknown path under the API prefix", "GET", "/v1/wholesale/billing/nothing"),
        Route("unknown path below the reports", "GET", f"{BASE}/some-id/files"),
        Route("unknown path, POST", "POST", "/v1/wholesale/billing/nothing", body=b"{}"),
        Route("wrong method on the collection", "PUT", BASE, body=b"{}"),
        Route("wrong method on an item", "PATCH", f"{BASE}/some-id", body=b"{}"),
        Route("POST on an item", "POST", f"{BASE}/some-id", body=b"{}"),
        Route("DELETE on the collection", "DELETE", BASE),
        Route("wrong method on the document", "POST", OPENAPI, body=b"{}"),
        Route("malformed id", "GET", f"{BASE}/not-a-report-id"),
        Route("malformed id, DELETE", "DELETE", f"{BASE}/%00%2F..%2F"),
        Route("the document", "GET", OPENAPI, public=True),
        Route("the explorer", "GET", DOCS, public=True),
        Route("an explorer asset", "GET", f"{DOCS}/swagger-ui.css", public=True),
        Route("an asset that is not served", "GET", f"{DOCS}/dev-jwt-private.pem"),
        Route("trailing slash on an unknown path", "GET", "/v1/wholesale/billing/nothing/"),
        Route("trailing slash on a malformed id", "GET", f"{BASE}/not-a-report-id/"),
        Route("trailing slash on the explorer", "GET", DOCS + "/", public=True),
        Route("very long unknown path", "GET", "/v1/wholesale/billing/" + "x/" * 2000 + "end"),
        Route("very long id", "GET", f"{BASE}/" + "a" * 8000),
    ]


def _right_routes(report_id: str, period: dict[str, str]) -> list[Route]:
    return [
        Route("create", "POST", BASE, body=json.dumps(period).encode()),
        Route("list", "GET", BASE + "?max=10"),
        Route("list newest first", "GET", BASE + "?sortBy=created&order=desc&max=1"),
        Route("sub-partners", "GET", "/v1/wholesale/subPartners?max=10"),
        Route("get", "GET", f"{BASE}/{report_id}"),
        Route("delete", "DELETE", f"{BASE}/{report_id}"),
    ]


def _send(route: Route, credential: Credential) -> HttpResponse:
    path = route.path
    if credential.query_token is not None:
        path += ("&" if "?" in path else "?") + "access_token=" + credential.query_token
    headers = {"TrackingID": f"WBR_echo-test-{uuid.uuid4()}"}
    if credential.authorization is not None:
        headers["authorization"] = credential.authorization
    if route.body is not None:
        headers["content-type"] = "application/json"
    return ApiClient().request(route.method, path, headers=headers, raw=route.body)


class CapturedLogs:
    """Everything logged while a test runs: Powertools' JSON lines (its handler writes to the
    stdout of the time it was made, so it is pointed here for the test), every log record with all
    its fields, at any level of the service's logger, and stdout/stderr."""

    def __init__(self, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
        self.powertools = io.StringIO()
        self._caplog, self._capsys = caplog, capsys
        self._printed: list[str] = []

    def text(self) -> str:
        self._printed.extend(self._capsys.readouterr())
        records = [json.dumps(record.__dict__, default=str) for record in self._caplog.records]
        return "\n".join([self.powertools.getvalue(), *self._printed, *records])


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Iterator[CapturedLogs]:
    logs = CapturedLogs(caplog, capsys)
    handler = logger.registered_handler
    previous = handler.setStream(logs.powertools)  # type: ignore[attr-defined]
    caplog.set_level(logging.DEBUG, logger=SERVICE)
    caplog.set_level(logging.INFO)
    try:
        yield logs
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]


ANONYMOUS = Credential("no credential", None, None, ())


def _answer_text(response: HttpResponse) -> str:
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    return headers + "\n" + response.body.decode("utf-8", "replace")


def _check(
    secrets: Secrets, route: Route, credential: Credential, response: HttpResponse, expected: int | None, anyway: str
) -> None:
    """`anyway`: the answer to the same request without a credential."""
    where = f"{credential.name} → {route.name} ({route.method} {route.path[:80]})"
    if route.public:
        # 503: the explorer's vendored assets are not installed (make install)
        # 503 too for the console when it is not built
        assert 200 <= response.status < 300 or (route.path.startswith((DOCS, "/console")) and response.status == 503), (
            where,
            response.status,
        )
    else:
        assert 400 <= response.status < 500, (where, response.status, response.body[:300])
        assert expected is None or response.status == expected, (where, response.status, response.body[:300])
        assert_webex_error(response, response.status)
    leaked = secrets.found_in(_answer_text(response), anyway)
    assert not leaked, (where, leaked)


def test_no_answer_and_no_log_line_echoes_a_credential(
    stack: SecurityStack,
    tokens: Tokens,
    settings: Settings,
    unknown_keys: DevKeyPair,
    captured_logs: CapturedLogs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(DEV_TOKEN_VARIABLE, raising=False)  # the local explorer would carry that one
    credentials = _credentials(tokens, settings, unknown_keys)
    wrong_scope = [
        Credential("token without scopes", f"Bearer {(no_scope := tokens.mint(scopes=()))}", None, (no_scope,)),
        Credential("read-only token", f"Bearer {(read_only := tokens.mint(scopes=(READ_SCOPE,)))}", None, (read_only,)),
    ]
    secrets = Secrets(credentials + wrong_scope)
    own = stack.standing_report(DEMO_PARTNER)
    wrong, right = _wrong_routes(), _right_routes(own.report_id, stack.fresh_period())
    anyway = {route: _answer_text(_send(route, ANONYMOUS)) for route in wrong + right}
    sent = 0
    for credential in credentials:
        for route in wrong:
            _check(secrets, route, credential, _send(route, credential), None, anyway[route])
            sent += 1
    for credential in credentials[1:]:  # every one but the valid token: 401 on every right route
        for route in right:
            _check(secrets, route, credential, _send(route, credential), 401, anyway[route])
            sent += 1
    (no_scope_credential, read_only_credential) = wrong_scope
    for route in right:
        _check(secrets, route, no_scope_credential, _send(route, no_scope_credential), 403, anyway[route])
        sent += 1
    for route in right:
        if route.name in ("create", "delete"):
            _check(secrets, route, read_only_credential, _send(route, read_only_credential), 403, anyway[route])
            sent += 1
    assert stack.container.report_store.get(DEMO_PARTNER, own.report_id) is not None  # nothing was deleted
    assert sent == len(credentials) * len(wrong) + 5 * len(right) + len(right) + 2
    logs = captured_logs.text()
    assert '"message":"request"' in logs.replace(" ", ""), "the control: the envelope logs every request it serves"
    leaked = secrets.found_in(logs)
    assert not leaked, leaked


def test_the_gateway_describes_an_unknown_route_without_quoting_it(stack: SecurityStack, tokens: Tokens) -> None:
    token = tokens.mint()
    response = ApiClient(token).get("/v1/wholesale/billing/nothing?access_token=" + token)
    body = assert_webex_error(response, 403)
    assert body["errors"] == [{"description": GATEWAY_DESCRIPTIONS["MISSING_AUTHENTICATION_TOKEN"]}]
    assert "nothing" not in response.body.decode() and token[:PIECE] not in response.body.decode()


# ---- `wbr dev`: the same gateway over Chalice's HTTP server -------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def http_server() -> Iterator[str]:
    """Chalice's local HTTP server with the gateway emulation, as `wbr dev` runs it. Only routes
    that answer before any route code runs are asked for, so no AWS stack is needed."""
    import app as app_module

    port = _free_port()
    server = LocalDevServer(
        app_module.app, Config.create(chalice_stage="local"), "127.0.0.1", port, handler_cls=WebexRequestHandler
    )
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.server.shutdown()
        server.server.server_close()
        thread.join(10)


def _raw_request(address: str, request_line: str) -> bytes:
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(request_line.encode() + b"\r\nHost: " + address.encode() + b"\r\n\r\n")
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_the_dev_server_neither_logs_nor_answers_a_query_token(
    http_server: str, tokens: Tokens, capsys: pytest.CaptureFixture[str]
) -> None:
    token = tokens.mint()
    garbage = f"secret-{uuid.uuid4()}"
    secrets = Secrets(
        [Credential("query token", None, token, (token,)), Credential("bearer", f"Bearer {garbage}", None, (garbage,))]
    )
    request = urllib.request.Request(
        f"http://{http_server}/v1/wholesale/billing/nothing?access_token={token}",
        headers={"Authorization": f"Bearer {garbage}"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    answer = refused.value.read().decode()
    assert json.loads(answer)["errors"] == [{"description": GATEWAY_DESCRIPTIONS["MISSING_AUTHENTICATION_TOKEN"]}]
    assert not secrets.found_in(answer) and not secrets.found_in(str(refused.value.headers))
    # http.server's own error page and log line for a request line it cannot parse quote that line
    malformed = _raw_request(http_server, f"GET /x?access_token={token} junk HTTP/1.1")
    assert malformed.startswith(b"HTTP/1.") and b" 400 " in malformed.split(b"\r\n")[0]
    assert not secrets.found_in(malformed.decode("latin-1"))
    out, err = capsys.readouterr()
    assert "/v1/wholesale/billing/nothing" in err, err  # the control: the access log is there
    assert not secrets.found_in(out + err), secrets.found_in(out + err)


def test_the_documented_401_is_what_the_gateway_answers(stack: SecurityStack) -> None:
    from chalicelib.api.docs import OPENAPI_FILE

    document = json.loads(OPENAPI_FILE.read_text())
    example = document["components"]["responses"]["Unauthorized"]["content"]["application/json"]["example"]
    body = assert_webex_error(ApiClient(f"secret-{uuid.uuid4()}").get(BASE), 401)
    assert (body["message"], body["errors"]) == (example["message"], example["errors"])
    assert body["errors"] == [{"description": GATEWAY_DESCRIPTIONS["UNAUTHORIZED"]}]
