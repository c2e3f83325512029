"""The console's routes through the local gateway (chalicelib/api/console.py): the front door, the
page with its <base> and its Content-Security-Policy, the built files and nothing else; and the
console's own rules read off its source (no raw HTML, no eval, no CDN, pinned packages)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from chalicelib.api import console
from tests.conftest import ApiClient

PROJECT_DIR = Path(__file__).resolve().parents[2]
SOURCE_DIR = PROJECT_DIR / "console"


@pytest.fixture
def built() -> None:
    if not console.console_built():
        pytest.fail("the console is not built: run `make install` (npm ci + vite build of console/)")


def test_the_page_is_the_build_with_a_base_and_a_strict_policy(container, built):
    response = ApiClient().get(console.CONSOLE_ROUTE)
    assert response.status == 200
    assert response.header("Content-Type") == "text/html; charset=utf-8"
    assert response.header("Cache-Control") == "no-store"
    policy = dict(part.strip().split(" ", 1) for part in response.header("Content-Security-Policy").split(";"))
    assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'" and policy["connect-src"] == "'self'"
    assert policy["default-src"] == "'none'" and policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in response.header("Content-Security-Policy")
    page = response.body.decode()
    assert '<base href="/console/">' in page
    assert "<script>" not in page and "<style" not in page and " style=" not in page  # nothing inline
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert all(not re.match(r"^(https?:)?//", source) for source in sources), sources  # no CDN
    assets = [source.removeprefix("./assets/") for source in sources if source.startswith("./assets/")]
    assert sorted(assets) == sorted(console.built_assets())
    for name in assets:
        asset = ApiClient().get(f"{console.CONSOLE_ROUTE}/assets/{name}")
        assert asset.status == 200 and asset.header("Content-Type") == console.built_assets()[name]
        assert "immutable" in asset.header("Cache-Control") and len(asset.body) > 1000


def test_the_trailing_slash_serves_the_same_page(container, built):
    assert ApiClient().get(console.CONSOLE_ROUTE + "/").body == ApiClient().get(console.CONSOLE_ROUTE).body


def test_the_base_keeps_a_stage_prefix_and_the_public_base_urls_path(container, built, monkeypatch):
    class Request:
        context = {"path": "/dev/console/", "resourcePath": console.CONSOLE_ROUTE}

    monkeypatch.setattr(type(console.console_api), "current_request", property(lambda self: Request()))
    assert console._base() == "/dev"
    assert '<base href="/dev/console/">' in console.console_page(console._base())
    Request.context = {"path": "/dev/", "resourcePath": "/"}
    assert console._base() == "/dev"
    monkeypatch.setattr(container, "settings",
                        dataclasses.replace(container.settings, public_base_url="https://wbr.example.com/billing/"))
    assert console._base() == "/billing"


@pytest.mark.parametrize("name", ["index.html", "..", "..%2Findex.html", ".vite", "manifest.json", "index.js"])
def test_nothing_but_the_built_files(container, built, name):
    response = ApiClient().get(f"{console.CONSOLE_ROUTE}/assets/{name}")
    assert response.status == 404 and set(response.json()) == {"message", "errors", "trackingId"}


def test_not_built_is_a_503_that_says_what_to_run(container, monkeypatch):
    monkeypatch.setattr(console, "console_built", lambda: False)
    for path in (console.CONSOLE_ROUTE, f"{console.CONSOLE_ROUTE}/assets/index.js"):
        response = ApiClient().get(path)
        assert response.status == 503 and "make install" in response.json()["message"]


# --- the console's source -----------------------------------------------------------------------


def test_every_name_is_rendered_as_text():
    """No raw HTML anywhere in the console (Svelte's {@html}, innerHTML, insertAdjacentHTML), no eval."""
    offenders = []
    for path in sorted((SOURCE_DIR / "src").rglob("*")):
        if path.suffix in (".svelte", ".js"):
            text = path.read_text(encoding="utf-8")
            for pattern in ("{@html", "innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function", "document.write"):
                if pattern in text:
                    offenders.append(f"{path.relative_to(PROJECT_DIR)}: {pattern}")
    assert offenders == []


def test_packages_are_pinned_and_locked_with_integrity():
    manifest = json.loads((SOURCE_DIR / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((SOURCE_DIR / "package-lock.json").read_text(encoding="utf-8"))
    declared = {**manifest["dependencies"], **manifest["devDependencies"]}
    assert {"svelte", "chart.js", "vite", "axe-core"} <= set(declared)
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in declared.values()), declared  # exact
    packages = {path: entry for path, entry in lock["packages"].items() if path}
    for name, version in declared.items():
        assert packages[f"node_modules/{name}"]["version"] == version
    assert all(entry.get("integrity", "").startswith("sha512-") for entry in packages.values() if not entry.get("link"))


def test_wbr_dev_banner_links_the_console_with_the_token_in_the_fragment(tmp_path):
    from chalicelib.local.banner import banner

    values = {"WBR_BASE_URL": "http://127.0.0.1:8000", "WBR_TOKEN": "header.payload.signature",
              "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}
    lines = banner(values, tmp_path / "env", demo=False).splitlines()
    link = next(line for line in lines if line.strip().startswith("console"))
    assert "http://127.0.0.1:8000/console/#access_token=header.payload.signature" in link
    assert "?" not in link.split()[1]  # never in a query string
