"""End to end, over real HTTP with `requests`: the sequence partners' automation scripts run
against Webex, with the Webex Python SDK's requests and parsing (mirrored in `webex_sdk.py`).

The stack is the one of `wbr dev` (`live_stack` in tests/conftest.py): S3 and DynamoDB served by a
moto server holding the demo data, the API by Chalice's local server with the gateway emulation.

The script: list without parameters; create (200); create the same again (200 with the same
report while it runs, or 409 "already exists"); poll the list, following only Link rel="next"
(`follow_pagination`, wxc_sdk/rest.py), until the report is COMPLETED; GET it
(`get_a_wholesale_billing_report`); stream `tempDownloadURL` with `requests.get(stream=True)` and
check the CSV: documented header for the type, `rowCount` rows, `sha256`.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import time
from datetime import date, datetime, timedelta

import pytest
import requests

from chalicelib.domain.report_rows import columns_for
from chalicelib.domain.reports import ReportType
from tests.conftest import TODAY, unpublish_day
from tests.contract.webex_sdk import (
    SDK_BASE_PATH,
    SdkRestError,
    follow_pagination,
    list_params,
    next_link,
    request_headers,
    response_data,
    validate_report,
    validate_report_id,
)

POLL_SECONDS = 0.25
TIMEOUT_SECONDS = 90


def test_partner_automation_script(live_stack):
    base_url, token, container = live_stack
    # The SDK GETs Link rel="next" exactly as given, so it needs an absolute URL: the API's public
    # base URL, which `wbr dev` sets (WBR_PUBLIC_BASE_URL) as API Gateway gives its domain.
    container.settings = dataclasses.replace(container.settings, public_base_url=base_url)
    # The partner already has a report (of a day without usage yet: it stays IN_PROGRESS).
    unpublished = TODAY - timedelta(days=20)  # inside the data: earlier days count as published empty
    unpublish_day(container, unpublished)
    run_partner_script(base_url, token, unpublished)


def run_partner_script(base_url: str, token: str, unpublished: date) -> None:
    """The script, against the API at `base_url`, for a partner with no reports yet; `unpublished`
    is a day without published usage (a report over it stays IN_PROGRESS). Also run against a
    real `wbr dev` process by tests/live/test_real_clients.py."""
    url = base_url + SDK_BASE_PATH
    session = requests.Session()

    def call(method, target, params=None, json_body=None):
        """RestSession._request_w_response: the SDK's headers, a RestError for >= 400."""
        response = session.request(method, target, params=params, json=json_body, headers=request_headers(token))
        return response_data(response.status_code, response.headers, response.text)

    def fetch(target, params):
        response = session.get(target, params=params, headers=request_headers(token))
        # The SDK reads requests' own parse of the Link header; so does the mirror.
        assert response.links.get("next", {}).get("url") == next_link(response.headers)
        return response.status_code, response.headers, response.text

    old_day = unpublished.isoformat()
    call("POST", url, json_body={"billingStartDate": old_day, "billingEndDate": old_day})

    # 1. List without parameters.
    before = list(follow_pagination(fetch, url))
    assert [item["billing_start_date"].date().isoformat() for item in before] == [old_day]
    assert [item["status"] for item in before] == ["IN_PROGRESS"]

    # 2. Create: 200, a ReportId.
    start, end = TODAY - timedelta(days=7), TODAY - timedelta(days=1)
    body = {"billingStartDate": start.isoformat(), "billingEndDate": end.isoformat(), "type": "USER"}
    created = validate_report_id(call("POST", url, json_body=body))
    report_id = created["id"]
    assert created["billing_start_date"] == datetime(start.year, start.month, start.day)
    assert created["type"] == "USER"

    # 3. Create the same again: the running report (200), or 409 = "already exists".
    try:
        assert validate_report_id(call("POST", url, json_body=body))["id"] == report_id
    except SdkRestError as error:
        assert error.status == 409 and report_id in error.detail["message"]

    # 4. Poll the list (one report per page, so that Link rel="next" is followed) until COMPLETED.
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while True:
        items = {item["id"]: item for item in follow_pagination(fetch, url, list_params(max=1))}
        assert len(items) == 2
        if items[report_id]["status"] == "COMPLETED":
            break
        assert items[report_id]["status"] == "IN_PROGRESS" and time.monotonic() < deadline
        time.sleep(POLL_SECONDS)

    # 5. GET the report.
    raw = call("GET", f"{url}/{report_id}")
    report = validate_report(raw)
    assert report["status"] == "COMPLETED" and report["created"].tzinfo is not None
    assert report["temp_download_url"] and not report["errors"]

    # 6. Stream the CSV from tempDownloadURL (no Authorization: the URL carries its signature).
    digest, content = hashlib.sha256(), io.BytesIO()
    with requests.get(report["temp_download_url"], stream=True, timeout=30) as download:
        download.raise_for_status()
        assert f'filename="wholesale-billing_USER_{start}_{end}.csv"' in download.headers["Content-Disposition"]
        for chunk in download.iter_content(chunk_size=64 * 1024):
            digest.update(chunk)
            content.write(chunk)
    rows = list(csv.reader(io.StringIO(content.getvalue().decode("utf-8"), newline="")))
    assert rows[0] == list(columns_for(ReportType.USER))
    assert len(rows) > 1
    if raw.get("rowCount") is not None:
        assert len(rows) - 1 == raw["rowCount"]
    if raw.get("sha256") is not None:
        assert digest.hexdigest() == raw["sha256"]

    # 7. Creating it once more now is 409, and the message names the report to delete first.
    with pytest.raises(SdkRestError) as conflict:
        call("POST", url, json_body=body)
    assert conflict.value.status == 409 and report_id in conflict.value.detail["message"]
