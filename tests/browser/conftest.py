"""A real browser for the explorer tests: Debian's Chromium, headless, driven by its own chromedriver.

Nothing is downloaded: the driver's path is given to Selenium, so Selenium Manager never runs.
`make test-browser` installs Chromium with apt-get when it is missing (as root); without it these
tests fail and say so rather than skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)
# Screenshots and page dumps land here (git-ignored, like the rest of .local/).
ARTIFACTS_DIR = Path(__file__).resolve().parents[2] / ".local" / "browser-artifacts"


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS_DIR


@pytest.fixture
def downloads_dir(tmp_path: Path) -> Path:
    path = tmp_path / "downloads"
    path.mkdir()
    return path


@pytest.fixture
def chromium(tmp_path: Path, downloads_dir: Path) -> Iterator[webdriver.Chrome]:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if missing:
        pytest.fail(
            f"the browser tests need Debian's Chromium and its driver; missing: {', '.join(missing)}. "
            "Run `make test-browser` (installs them with apt-get as root) or `apt-get install chromium chromium-driver`."
        )
    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")  # a fresh profile every time
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads_dir), "download.prompt_for_download": False}
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads_dir)})
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
