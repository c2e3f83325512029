"""The reconciliation console (DESIGN §12), public (no authorizer; the front door `/` that links it is
docs.py's):
the page holds no data and no token; everything it shows it fetches from the API with the bearer
token the admin signs in with, under the same scopes and tenancy as any client.

- `GET /console`: the console's page (`/console/` too: API Gateway and `wbr dev` drop the trailing
  slash). Its source is `console/` (Svelte + Chart.js from npm, exact versions, lockfile with
  integrity hashes); `make install` runs `npm ci` and Vite's build into `chalicelib/vendor/console/`
  (git-ignored; `chalice package` ships it, nothing comes from a CDN). The page is the built
  `index.html` with a `<base href>` at this deployment's `/console/`, so the relative asset and API
  URLs resolve under a stage prefix too.
- `GET /console/assets/{name}`: only the files the build's `.vite/manifest.json` names (hashed
  names: cached for good); anything else is the Webex-shaped 404.

Every page carries a strict Content-Security-Policy: scripts and styles from this origin only
(no inline script or style, no eval: the Svelte templates are compiled at build time), API calls to
this origin only, no frames, no plugins, no form posts.
"""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path

from chalice import Blueprint, Response

from chalicelib.api.docs import deployment_base
from chalicelib.api.errors import error_response, maps_errors
from chalicelib.domain.errors import NotFound

console_api = Blueprint(__name__)

CONSOLE_ROUTE = "/console"
CONSOLE_ASSET_ROUTE = CONSOLE_ROUTE + "/assets/{name}"
# Every route of this blueprint: public, GET only, and not part of the API the OpenAPI describes.
PUBLIC_ROUTES = (CONSOLE_ROUTE, CONSOLE_ASSET_ROUTE)

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "vendor" / "console"
BUILD_MANIFEST = CONSOLE_DIR / ".vite" / "manifest.json"
ASSET_CONTENT_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"  # hashed names: a new build, new names
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS: dict[str, str] = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

@functools.cache
def built_assets() -> dict[str, str]:
    """The files of the build the console may serve: name under assets/ → content type."""
    manifest = json.loads(BUILD_MANIFEST.read_text(encoding="utf-8"))
    names: set[str] = set()
    for chunk in manifest.values():
        for path in [chunk.get("file", ""), *chunk.get("css", []), *chunk.get("assets", [])]:
            names.add(path)
    assets: dict[str, str] = {}
    for path in names:
        folder, _, name = path.rpartition("/")
        content_type = ASSET_CONTENT_TYPES.get(Path(name).suffix)
        if folder == "assets" and content_type and (CONSOLE_DIR / "assets" / name).is_file():
            assets[name] = content_type
    return assets


def console_built() -> bool:
    return BUILD_MANIFEST.is_file() and (CONSOLE_DIR / "index.html").is_file()


@functools.cache
def _asset_text(name: str) -> str:
    return (CONSOLE_DIR / "assets" / name).read_text(encoding="utf-8")


@functools.cache
def _index_html() -> str:
    return (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")


def console_page(base: str) -> str:
    """The built page, its relative URLs anchored at `base` + /console/ by a <base> element."""
    anchor = f'<base href="{html.escape(base + CONSOLE_ROUTE + "/", quote=True)}">'
    return _index_html().replace("<head>", "<head>\n  " + anchor, 1)


def _page_headers() -> dict[str, str | list[str]]:
    """A copy for each response (the envelope middleware adds the TrackingID to it)."""
    return dict(PAGE_HEADERS)


def _not_built() -> Response:
    return error_response(
        503,
        "The console is not built: run `make install` (npm ci and the Vite build of console/ into chalicelib/vendor/console/)",
    )


def _base() -> str:
    """This deployment's base path: a configured public URL contributes only its path, so the
    page's <base> stays on the origin that served it (the CSP's base-uri 'self')."""
    base = deployment_base(console_api.current_request.context)
    if "://" in base:
        base = "/" + base.split("://", 1)[1].partition("/")[2]
    return base.rstrip("/")


@console_api.route(CONSOLE_ROUTE, methods=["GET"])
@maps_errors
def get_console() -> Response:
    if not console_built():
        return _not_built()
    return Response(body=console_page(_base()), headers=_page_headers())


@console_api.route(CONSOLE_ASSET_ROUTE, methods=["GET"])
@maps_errors
def get_console_asset(name: str) -> Response:
    if not console_built():
        return _not_built()
    content_type = built_assets().get(name)
    if content_type is None:
        raise NotFound("No such file of the console", [f"name: {name[:80]!r} is not a file of the console's build"])
    return Response(
        body=_asset_text(name),
        headers={"Content-Type": content_type, "Cache-Control": ASSET_CACHE_CONTROL, "X-Content-Type-Options": "nosniff"},
    )
