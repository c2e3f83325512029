"""The API's own description and an explorer for it, both public (no authorizer).

- `GET /v1/wholesale/billing/openapi.json`: the OpenAPI 3.1 document. `openapi.json` beside this
  module is the one source of truth (tests hold it to the routes, the domain and the real
  responses); when served, only `servers` (this deployment's base) and the billing dates of the
  create examples (the previous calendar month, so that "Try it out" works as it stands) change.
- `GET /`: a small page leading to the reconciliation console (`/console/`), the explorer and the
  document (the root answered the gateway's no-route 403 before).
- `GET /v1/wholesale/billing/docs`: Swagger UI on that document. Its assets come from the npm
  package swagger-ui-dist, vendored by `make install` into `chalicelib/vendor/swagger-ui/` (so
  `chalice package` ships them; nothing is loaded from a CDN) and served from
  `/v1/wholesale/billing/docs/{asset}`, for a fixed list of file names only.
  In the local stage the page comes authorized with the dev token of `wbr dev` (`WBR_DEV_TOKEN`);
  no other stage ever serves a token.
"""

from __future__ import annotations

import base64
import copy
import functools
import json
import os
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from chalice import Blueprint, Response

from chalicelib.api.errors import error_response, maps_errors
from chalicelib.api.reports import BASE_PATH as REPORTS_PATH
from chalicelib.bootstrap import get_container
from chalicelib.domain.errors import NotFound

docs_api = Blueprint(__name__)

DOCS_BASE = "/v1/wholesale/billing"
OPENAPI_ROUTE = DOCS_BASE + "/openapi.json"
EXPLORER_ROUTE = DOCS_BASE + "/docs"
ASSET_ROUTE = EXPLORER_ROUTE + "/{asset}"
ROOT_ROUTE = "/"
CONSOLE_PATH = "/console/"
# Every route of this blueprint: public, and not part of the API the document describes.
PUBLIC_ROUTES = (ROOT_ROUTE, OPENAPI_ROUTE, EXPLORER_ROUTE, ASSET_ROUTE)

OPENAPI_FILE = Path(__file__).resolve().with_name("openapi.json")
SWAGGER_UI_DIR = Path(__file__).resolve().parent.parent / "vendor" / "swagger-ui"
SECURITY_SCHEME = "bearerAuth"
DEV_TOKEN_VARIABLE = "WBR_DEV_TOKEN"  # set by `wbr dev` only; read only in the local stage
INITIALIZER = "wbr-explorer.js"
FAVICON = "favicon-32x32.png"
# The vendored files served under /docs/ (nothing else is): name → content type.
VENDORED_ASSETS = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
}
ASSET_CACHE_CONTROL = "public, max-age=3600"
# Swagger UI needs inline styles and a data: favicon; everything else comes from this origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

INITIALIZER_JS = """\
// The API explorer: Swagger UI on this service's OpenAPI document (same origin, no CDN).
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("wbr-explorer-config").textContent);
  var ui = SwaggerUIBundle({
    url: config.openapiUrl,
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    displayRequestDuration: true,
    showCommonExtensions: true,
    validatorUrl: null,
    onComplete: function () {
      if (config.devToken) {
        ui.preauthorizeApiKey(config.securityScheme, config.devToken);
      }
    }
  });
  window.ui = ui;
})();
"""

PAGE_TEMPLATE = """\
<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Wholesale Billing Reports API explorer</title>
  <link rel="icon" type="image/png" href="{favicon}">
  <link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
  <noscript>The API explorer needs JavaScript. The API's description is at <a href="openapi.json">openapi.json</a>.</noscript>
  <div id="swagger-ui"></div>
  <script id="wbr-explorer-config" type="application/json">{config}</script>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script src="docs/{initializer}"></script>
</body>
</html>
"""


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The document as written in openapi.json (shared: callers must not change it)."""
    return json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))


def example_period(today: date) -> tuple[date, date]:
    """The previous calendar month: always a valid billing period on `today`."""
    end = today.replace(day=1) - timedelta(days=1)
    return end.replace(day=1), end


def served_document(today: date, server_url: str = "/") -> dict[str, Any]:
    """The document as served: this deployment as its server, create examples over last month."""
    document = copy.deepcopy(openapi_document())
    document["servers"] = [{"url": server_url, "description": "This deployment"}]
    start, end = example_period(today)
    content = document["paths"][REPORTS_PATH]["post"]["requestBody"]["content"]["application/json"]
    for example in content.get("examples", {}).values():
        value = example.get("value")
        if isinstance(value, dict) and {"billingStartDate", "billingEndDate"} <= set(value):
            value.update(billingStartDate=start.isoformat(), billingEndDate=end.isoformat())
    return document


def dev_token() -> str | None:
    """The token the explorer is authorized with: only in the local stage, when `wbr dev` set one."""
    if get_container().settings.stage != "local":
        return None
    return os.environ.get(DEV_TOKEN_VARIABLE) or None


def explorer_page(token: str | None) -> str:
    config = {"openapiUrl": "openapi.json", "securityScheme": SECURITY_SCHEME, "devToken": token}
    # `<`, `>` and `&` escaped: nothing in the JSON can close the script element.
    config_json = json.dumps(config).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    favicon = "data:image/png;base64," + base64.b64encode(_vendored_bytes(FAVICON)).decode()
    return PAGE_TEMPLATE.format(favicon=favicon, config=config_json, initializer=INITIALIZER)


def assets_installed() -> bool:
    return all((SWAGGER_UI_DIR / name).is_file() for name in (*VENDORED_ASSETS, FAVICON))


@functools.cache
def _vendored_bytes(name: str) -> bytes:
    return (SWAGGER_UI_DIR / name).read_bytes()


def deployment_base(context: dict[str, Any]) -> str:
    """This deployment's base URL without a trailing slash ("" at the host's root): the configured
    WBR_PUBLIC_BASE_URL, else the stage prefix API Gateway put before the route (`/dev`), from the
    request's context (never from a header the caller controls)."""
    configured = get_container().settings.public_base_url
    if configured:
        return configured.rstrip("/")
    path, resource = (context.get("path") or "").rstrip("/"), (context.get("resourcePath") or "").rstrip("/")
    if not resource:  # the root route: all of the path is the prefix
        return path
    return path[: -len(resource)].rstrip("/") if path.endswith(resource) else ""


def _server_url() -> str:
    """This deployment's base, as a URL relative to the document's (keeps a stage prefix)."""
    return deployment_base(docs_api.current_request.context) or "/"


def _assets_missing() -> Response:
    return error_response(
        503,
        "The API explorer's assets are not installed: run `make install` "
        "(it vendors the npm package swagger-ui-dist into chalicelib/vendor/swagger-ui/)",
    )


# Links relative to the root, so that a stage prefix (`/api/`) is kept.
ROOT_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>wholesale-billing-reports</title></head>
<body>
<h1>wholesale-billing-reports</h1>
<ul>
<li><a href="{CONSOLE_PATH.lstrip("/")}">Reconciliation console</a></li>
<li><a href="{EXPLORER_ROUTE.lstrip("/")}">API explorer</a> (Swagger UI)</li>
<li><a href="{OPENAPI_ROUTE.lstrip("/")}">OpenAPI document</a></li>
<li>The reports API: <code>{REPORTS_PATH}</code> (a bearer token is needed)</li>
</ul>
</body>
</html>
"""


@docs_api.route(ROOT_ROUTE, methods=["GET"])
@maps_errors
def get_root() -> Response:
    return Response(
        body=ROOT_PAGE,
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-cache",
            "Content-Security-Policy": "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            "X-Content-Type-Options": "nosniff",
        },
    )


@docs_api.route(OPENAPI_ROUTE, methods=["GET"])
@maps_errors
def get_openapi_document() -> Response:
    today = datetime.now(timezone.utc).date()
    return Response(
        body=served_document(today, _server_url()),
        headers={"Content-Type": "application/json", "Cache-Control": "no-cache"},
    )


@docs_api.route(EXPLORER_ROUTE, methods=["GET"])
@maps_errors
def get_explorer() -> Response:
    if not assets_installed():
        return _assets_missing()
    return Response(
        body=explorer_page(dev_token()),
        headers={
            "Content-Type": "text/html; charset=utf-8",
            "Cache-Control": "no-store",
            "Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


@docs_api.route(ASSET_ROUTE, methods=["GET"])
@maps_errors
def get_explorer_asset(asset: str) -> Response:
    if asset == INITIALIZER:
        body, content_type = INITIALIZER_JS, "text/javascript; charset=utf-8"
    elif asset in VENDORED_ASSETS:
        if not assets_installed():
            return _assets_missing()
        body, content_type = _vendored_bytes(asset).decode("utf-8"), VENDORED_ASSETS[asset]
    else:
        raise NotFound("No such file of the API explorer", [f"asset: {asset[:80]!r} is not a file of the API explorer"])
    return Response(
        body=body,
        headers={
            "Content-Type": content_type,
            "Cache-Control": ASSET_CACHE_CONTROL,
            "X-Content-Type-Options": "nosniff",
        },
    )
