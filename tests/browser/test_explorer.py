"""The API explorer (Swagger UI at /v1/wholesale/billing/docs) in a real browser, as a partner admin
uses it: authorize, create a USER report with "Try it out", list it with filters and pages, poll it
to COMPLETED, download its CSV through the tempDownloadURL, delete it, and see the URL die.

Runs against the stack that `wbr dev` runs (moto server + Chalice's local server with the gateway
emulation, demo data), with the explorer authorized by the dev token as `make run` does it.
`make test-browser`; screenshots go to .local/browser-artifacts/.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

from chalicelib.api.docs import DEV_TOKEN_VARIABLE, EXPLORER_ROUTE, openapi_document
from chalicelib.domain.report_ids import is_report_id
from chalicelib.domain.report_rows import columns_for
from chalicelib.domain.reports import ReportType
from tests.conftest import TODAY

pytestmark = pytest.mark.browser

TAG = "Wholesale_Billing_Reports"  # Swagger UI's element ids: operations-<tag>-<operationId>
FILES_TAG = "Report_files"
WAIT_SECONDS = 30


@dataclass
class UiResponse:
    """What Swagger UI shows under "Server response"."""

    status: int
    body: str
    headers: dict[str, str]

    def json(self):  # type: ignore[no-untyped-def]
        return json.loads(self.body)


class Operation:
    """One operation block of Swagger UI, driven like a person does: Try it out, fill, Execute."""

    def __init__(self, driver: WebDriver, operation_id: str, tag: str = TAG) -> None:
        self.driver = driver
        self.element = WebDriverWait(driver, WAIT_SECONDS).until(
            lambda d: d.find_element(By.ID, f"operations-{tag}-{operation_id}")
        )

    def try_it_out(self) -> Operation:
        if "is-open" not in (self.element.get_attribute("class") or ""):
            self._click(self.element.find_element(By.CSS_SELECTOR, ".opblock-summary-control"))
        button = self._wait(lambda: self.element.find_element(By.CSS_SELECTOR, "button.try-out__btn"))
        if button.text.strip() == "Try it out":
            self._click(button)
        self._wait(lambda: self.element.find_element(By.CSS_SELECTOR, "button.execute"))
        return self

    def set_parameter(self, name: str, value: str) -> None:
        row = self.element.find_element(By.CSS_SELECTOR, f'tr[data-param-name="{name}"]')
        selects = row.find_elements(By.CSS_SELECTOR, "select")
        if selects:
            Select(selects[0]).select_by_value(value)  # "" is Swagger UI's "--" (not sent)
        else:
            _replace_text(row.find_element(By.CSS_SELECTOR, "input"), value)

    def set_body(self, body: dict) -> None:
        _replace_text(self.element.find_element(By.CSS_SELECTOR, "textarea.body-param__text"), json.dumps(body))

    def execute(self) -> UiResponse:
        for clear in self.element.find_elements(By.CSS_SELECTOR, "button.btn-clear"):
            self._click(clear)  # drop the previous response, so the one read below is new
        self._click(self.element.find_element(By.CSS_SELECTOR, "button.execute"))
        status_cell = self._wait(
            lambda: self.element.find_element(By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status")
        )
        status = int(status_cell.text.split()[0])
        bodies = self.element.find_elements(By.CSS_SELECTOR, ".live-responses-table .highlight-code code")
        headers = {}
        for line in self.element.find_elements(By.CSS_SELECTOR, ".live-responses-table .headerline"):
            name, _, value = line.get_attribute("textContent").strip().partition(":")
            headers[name.strip().lower()] = value.strip()
        body = bodies[0].get_attribute("textContent") if bodies else ""
        return UiResponse(status, body, headers)

    def _wait(self, find):  # type: ignore[no-untyped-def]
        return WebDriverWait(self.driver, WAIT_SECONDS).until(lambda _: find())

    def _click(self, element: WebElement) -> None:
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
        element.click()


def _replace_text(field: WebElement, text: str) -> None:
    """Replace a React-controlled field's text the way a person does (select all, type)."""
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.DELETE)
    if text:
        field.send_keys(text)


def _authorize_by_hand(driver: WebDriver, token: str) -> None:
    """The Authorize dialog: the page comes authorized (dev token); log out, paste it, authorize."""
    wait = WebDriverWait(driver, WAIT_SECONDS)
    button = driver.find_element(By.CSS_SELECTOR, ".scheme-container button.authorize")
    assert "locked" in button.get_attribute("class").split(), "the explorer was not preauthorized with the dev token"
    button.click()
    dialog = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, ".dialog-ux .modal-ux"))
    assert "bearerAuth" in dialog.text and "Authorized" in dialog.text
    dialog.find_element(By.XPATH, ".//button[normalize-space()='Logout']").click()
    field = wait.until(lambda d: dialog.find_element(By.CSS_SELECTOR, ".auth-container input"))
    field.send_keys(token)
    dialog.find_element(By.XPATH, ".//button[normalize-space()='Authorize']").click()
    wait.until(lambda d: "Authorized" in dialog.text)
    dialog.find_element(By.XPATH, ".//button[normalize-space()='Close']").click()
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, ".dialog-ux .modal-ux"))
    assert "locked" in driver.find_element(By.CSS_SELECTOR, ".scheme-container button.authorize").get_attribute("class")


def _download(driver: WebDriver, url: str, downloads: Path, filename: str) -> str:
    """Open the URL in a new tab, as a person clicking it; the CSV is saved as an attachment."""
    home = driver.current_window_handle
    driver.switch_to.new_window("tab")
    driver.get(url)
    target = downloads / filename
    deadline = time.monotonic() + WAIT_SECONDS
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    driver.close()
    driver.switch_to.window(home)
    assert target.exists(), f"the browser saved no {filename}; downloads: {sorted(p.name for p in downloads.iterdir())}"
    return target.read_text(encoding="utf-8")


def _screenshot(driver: WebDriver, directory: Path, name: str) -> Path:
    path = directory / name
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def test_partner_admin_flow_in_the_explorer(live_stack, chromium, downloads_dir, artifacts_dir, monkeypatch):
    base_url, token, _ = live_stack
    monkeypatch.setenv(DEV_TOKEN_VARIABLE, token)  # what `wbr dev` does for the local stage
    driver = chromium
    start, end = (TODAY - timedelta(days=20)).isoformat(), (TODAY - timedelta(days=1)).isoformat()

    driver.get(base_url + EXPLORER_ROUTE)
    operations = sum(
        1 for item in openapi_document()["paths"].values() for method in item if method in ("get", "post", "delete")
    )
    WebDriverWait(driver, WAIT_SECONDS).until(
        lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) == operations  # every route, extensions too
    )
    assert "Wholesale Billing Reports API" in driver.find_element(By.CSS_SELECTOR, ".info .title").text
    _authorize_by_hand(driver, token)

    # Create: Try it out, fill the body, Execute → 200 with the id and a Location.
    create = Operation(driver, "createReport").try_it_out()
    create.set_body({"billingStartDate": start, "billingEndDate": end, "type": "USER"})
    created = create.execute()
    assert created.status == 200, created.body
    report = created.json()
    report_id = report["id"]
    assert is_report_id(report_id) and report["type"] == "USER" and report["internal"] is False
    assert created.headers["location"] == f"/v1/wholesale/billing/reports/{report_id}"
    assert created.headers["trackingid"]
    _screenshot(driver, artifacts_dir, "explorer-created.png")

    # List with filters: the report is there.
    listing = Operation(driver, "listReports").try_it_out()
    listing.set_parameter("type", "USER")
    listing.set_parameter("billingStartDate", start)
    listed = listing.execute()
    assert listed.status == 200, listed.body
    assert [item["id"] for item in listed.json()["items"]] == [report_id]

    # Get, polled through the UI until COMPLETED.
    get = Operation(driver, "getReport").try_it_out()
    get.set_parameter("id", report_id)
    deadline = time.monotonic() + 120
    while True:
        detail = get.execute()
        assert detail.status == 200, detail.body
        if detail.json()["status"] != "IN_PROGRESS" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    detail_json = detail.json()
    assert detail_json["status"] == "COMPLETED", detail_json
    url = detail_json["tempDownloadURL"]
    request_url = get.element.find_element(By.CSS_SELECTOR, ".request-url")
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", request_url)
    screenshot = _screenshot(driver, artifacts_dir, "explorer.png")  # the COMPLETED report, as in docs/explorer.png (README, docs/API.md)

    # Follow the tempDownloadURL in the browser: the CSV, with the USER header and rows.
    filename = f"wholesale-billing_USER_{start}_{end}.csv"
    rows = list(csv.reader(io.StringIO(_download(driver, url, downloads_dir, filename))))
    assert rows[0] == list(columns_for(ReportType.USER))
    assert len(rows) > 1 and len(rows) - 1 == detail_json["rowCount"]

    # The extensions in the same explorer: the file's manifest, and a diff against its own
    # revision, which has nothing to compare (a 400 that says so).
    manifest_operation = Operation(driver, "getReportManifest", FILES_TAG).try_it_out()
    manifest_operation.set_parameter("id", report_id)
    manifest = manifest_operation.execute()
    assert manifest.status == 200, manifest.body
    saved = (downloads_dir / filename).read_bytes()  # the bytes the browser downloaded
    assert manifest.json()["sha256"] == hashlib.sha256(saved).hexdigest() == detail_json["sha256"]
    assert manifest.json()["size"] == len(saved) and manifest.json()["rowCount"] == len(rows) - 1
    diff_operation = Operation(driver, "getReportDiff", FILES_TAG).try_it_out()
    diff_operation.set_parameter("id", report_id)
    diff_operation.set_parameter("revision", "1")
    diff = diff_operation.execute()
    assert diff.status == 400 and "Nothing to compare" in diff.body, diff.body[:300]

    # Paging: a second report, then pages of one, following the Link header's cursor.
    create.set_body({"billingStartDate": start, "billingEndDate": end, "type": "PARTNER"})
    second = create.execute()
    assert second.status == 200, second.body
    listing.set_parameter("type", "")
    listing.set_parameter("billingStartDate", "")
    listing.set_parameter("max", "1")
    first_page = listing.execute()
    assert first_page.status == 200, first_page.body
    link = re.fullmatch(r'<([^>]+)>; rel="next"', first_page.headers["link"])
    assert link, first_page.headers
    cursor = parse_qs(urlparse(link.group(1)).query)["cursor"][0]
    listing.set_parameter("cursor", cursor)
    second_page = listing.execute()
    assert second_page.status == 200, second_page.body
    assert "link" not in second_page.headers
    paged = [item["id"] for page in (first_page, second_page) for item in page.json()["items"]]
    assert sorted(paged) == sorted([report_id, second.json()["id"]])

    # A point-in-time snapshot from the same form (its example): 200, then COMPLETED with its asOf.
    create.set_body({"category": "POINT_IN_TIME", "type": "CUSTOMER"})
    snapshot = create.execute()
    assert snapshot.status == 200 and snapshot.json()["category"] == "POINT_IN_TIME", snapshot.body
    get.set_parameter("id", snapshot.json()["id"])
    deadline = time.monotonic() + 120
    while (polled := get.execute().json())["status"] == "IN_PROGRESS" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert polled["status"] == "COMPLETED" and polled["asOf"] == snapshot.json()["asOf"], polled
    assert polled["category"] == "POINT_IN_TIME" and "POINT_IN_TIME" in polled["tempDownloadURL"]
    get.set_parameter("id", report_id)

    # Delete → 204; the URL handed out before now fails, and the report is gone.
    delete = Operation(driver, "deleteReport").try_it_out()
    delete.set_parameter("id", report_id)
    deleted = delete.execute()
    assert deleted.status == 204, deleted.body
    assert get.execute().status == 404
    with pytest.raises(urllib.error.HTTPError) as dead:
        urllib.request.urlopen(url)
    assert dead.value.code in (403, 404)
    home = driver.current_window_handle
    driver.switch_to.new_window("tab")
    driver.get(url)
    page_text = driver.find_element(By.TAG_NAME, "body").text
    # S3's error document (moto says 403 SignatureDoesNotMatch for a deleted key, S3 404 NoSuchKey or
    # 403 AccessDenied), not the file, and nothing saved this time.
    assert "Error" in page_text and "PARTNER_NAME" not in page_text, page_text
    assert [path.name for path in downloads_dir.iterdir()] == [filename]
    driver.close()
    driver.switch_to.window(home)

    # Nothing on the page broke: no script error, no Content-Security-Policy violation.
    problems = [
        entry["message"]
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE" and "Failed to load resource" not in entry["message"]
    ]
    assert problems == [], problems
    print(f"explorer screenshot: {screenshot}")
