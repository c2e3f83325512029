"""What answers without a token (OWASP API Top 10: API5 broken function-level authorization,
API9 improper inventory management): only the API's own description, its explorer, the front door
and the console's page and built files, and they give away nothing — no file outside their fixed
lists, no token outside the local stage (the console's page carries none at all)."""

from __future__ import annotations

import dataclasses

import pytest

from chalicelib.api import console
from chalicelib.api.docs import DEV_TOKEN_VARIABLE
from chalicelib.api.docs import PUBLIC_ROUTES as DOCS_ROUTES
from tests.conftest import ApiClient, Tokens
from tests.security.conftest import SecurityStack, assert_webex_error

DOCS = "/v1/wholesale/billing/docs"
PUBLIC_ROUTES = DOCS_ROUTES + console.PUBLIC_ROUTES


def test_every_route_but_the_public_ones_needs_the_authorizer() -> None:
    import app as app_module

    for path, methods in app_module.app.routes.items():
        for method, entry in methods.items():
            if path in PUBLIC_ROUTES:
                assert method == "GET", (method, path)  # public routes only read
            else:
                assert entry.authorizer is not None and entry.authorizer.name == "jwt_authorizer", (method, path)


CONSOLE_ASSETS = f"{console.CONSOLE_ROUTE}/assets"


@pytest.mark.parametrize(("folder", "name"), [
    *((DOCS, name) for name in (
        "..%2F..%2Fapi%2Fauth.py",
        "..%2Fopenapi.json",
        "%2Fetc%2Fpasswd",
        ".env",
        "dev-jwt-private.pem",
        "swagger-ui.css%00.js",
        "LICENSE",  # vendored, but not on the list of served files
    )),
    *((CONSOLE_ASSETS, name) for name in (
        "..%2F..%2Fapi%2Fauth.py",
        "..%2Findex.html",
        "%2Fetc%2Fpasswd",
        "manifest.json",
        "index.js%00.css",
        "package.json",  # of the console's source, not of its build
    )),
])
def test_the_explorer_and_the_console_serve_only_their_own_files(stack: SecurityStack, folder: str, name: str) -> None:
    response = ApiClient().get(f"{folder}/{name}")
    # 403: the gateway found no route; 503: the console is not built (make install)
    assert response.status in (403, 404, 503), (name, response.status)
    assert_webex_error(response, response.status)
    assert b"PRIVATE KEY" not in response.body and b"import " not in response.body


def test_the_document_is_public_and_holds_no_token(stack: SecurityStack, tokens: Tokens,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    token = tokens.mint()
    monkeypatch.setenv(DEV_TOKEN_VARIABLE, token)
    response = ApiClient().get("/v1/wholesale/billing/openapi.json")
    assert response.status == 200 and response.json()["openapi"].startswith("3.1")
    assert token.encode() not in response.body


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_explorer_never_carries_a_token_outside_the_local_stage(stack: SecurityStack, tokens: Tokens,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   stage: str) -> None:
    token = tokens.mint()
    monkeypatch.setenv(DEV_TOKEN_VARIABLE, token)
    monkeypatch.setattr(stack.container, "settings", dataclasses.replace(stack.container.settings, stage=stage))
    response = ApiClient().get(DOCS)
    assert response.status in (200, 503), response.status  # 503: the vendored assets are not installed
    assert token.encode() not in response.body


def test_the_local_explorer_does_carry_the_dev_token(stack: SecurityStack, tokens: Tokens,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The control of the test above: the token it looks for is the one the page would carry."""
    token = tokens.mint()
    monkeypatch.setenv(DEV_TOKEN_VARIABLE, token)
    response = ApiClient().get(DOCS)
    if response.status == 503:
        pytest.skip("the explorer's vendored assets are not installed (make install)")
    assert response.status == 200 and token.encode() in response.body


def test_the_root_leads_to_the_console_the_explorer_and_the_document(stack: SecurityStack, tokens: Tokens,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`/` answered the gateway's no-route 403; now a small page of links (relative: a stage
    prefix stays), without a token even in the local stage."""
    token = tokens.mint()
    monkeypatch.setenv(DEV_TOKEN_VARIABLE, token)
    response = ApiClient().get("/")
    assert response.status == 200
    assert (response.header("Content-Type") or "").startswith("text/html")
    page = response.body.decode()
    for link in ('href="console/"', 'href="v1/wholesale/billing/docs"', 'href="v1/wholesale/billing/openapi.json"'):
        assert link in page
    assert token not in page
    assert "default-src 'none'" in (response.header("Content-Security-Policy") or "")


def test_the_console_page_never_carries_a_token(stack: SecurityStack, tokens: Tokens,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Not even the dev token in the local stage: `wbr dev` hands it over in the link's fragment."""
    token = tokens.mint()
    monkeypatch.setenv(DEV_TOKEN_VARIABLE, token)
    for path in ("/", console.CONSOLE_ROUTE):
        response = ApiClient().get(path)
        assert response.status in (200, 503), (path, response.status)
        assert token.encode() not in response.body
