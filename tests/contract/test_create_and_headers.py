"""Contract: create answers 200 with a body the Webex Python SDK parses, and every request the SDK
sends (with its fixed headers) is accepted.

Mirrors wxc_sdk `apib/tests/generated/wholesale-billing_auto.py`
`WholesaleBillingReportsApi.create_a_wholesale_billing_report` (`post(url, json=body)` then
`ReportId.model_validate(data)`: any 2xx is success) and `wxc_sdk/rest.py`
`RestSession._request_w_response`, which sends `Content-Type: application/json;charset=utf-8` and
`TrackingID: SIMPLE_<uuid4>` on every request, GET and DELETE included, and decodes a body only
when the response's Content-Type starts with `application/json`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.conftest import TODAY
from tests.contract.conftest import SDK_BASE_URL, sdk_request
from tests.contract.webex_sdk import (
    SDK_BASE_PATH,
    response_data,
    validate_list_report,
    validate_report,
    validate_report_id,
)

URL = SDK_BASE_URL + SDK_BASE_PATH


def test_create_get_list_delete_with_the_sdks_headers(api, seeded):
    start, end = TODAY - timedelta(days=320), TODAY - timedelta(days=310)
    body = {"billingStartDate": start.isoformat(), "billingEndDate": end.isoformat(), "type": "CUSTOMER"}
    status, headers, text = sdk_request(api, "POST", URL, json_body=body)
    assert status == 200
    created = validate_report_id(response_data(status, headers, text))  # '' without a JSON Content-Type
    assert created["billing_start_date"] == datetime(start.year, start.month, start.day)
    assert created["billing_end_date"] == datetime(end.year, end.month, end.day)
    assert created["type"] == "CUSTOMER" and created["id"]
    assert headers["TrackingID"].startswith("SIMPLE_")  # the SDK's own TrackingID comes back

    status, headers, text = sdk_request(api, "GET", f"{URL}/{created['id']}")
    report = validate_report(response_data(status, headers, text))
    assert report["id"] == created["id"] and report["status"] in ("IN_PROGRESS", "COMPLETED", "FAILED")

    status, headers, text = sdk_request(api, "GET", URL)
    items = [validate_list_report(item) for item in response_data(status, headers, text)["items"]]
    assert [item["id"] for item in items] == [created["id"]]

    status, headers, text = sdk_request(api, "DELETE", f"{URL}/{created['id']}")
    assert status == 204 and response_data(status, headers, text) in ("", None)
