"""Contract: a Webex client sends none of the create extensions (`customerOrgIds`, `columns`) and
gets Webex's file, byte for byte: the header DESIGN §4 writes out, every row the same bytes as a
report that asks for Webex's columns explicitly, and answers without extension fields. A report
made with the extensions still parses as the SDK's models (extra fields are allowed)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from chalicelib.domain.report_columns import default_columns
from chalicelib.domain.reports import ReportType
from chalicelib.local.demo import DEMO_PARTNER
from tests.conftest import TODAY
from tests.contract.conftest import SDK_BASE_URL, sdk_request
from tests.contract.webex_sdk import (
    SDK_BASE_PATH,
    response_data,
    validate_list_report,
    validate_report,
    validate_report_id,
)
from tests.readers import object_bytes

URL = SDK_BASE_URL + SDK_BASE_PATH
PERIOD = {
    "billingStartDate": (TODAY - timedelta(days=30)).isoformat(),
    "billingEndDate": (TODAY - timedelta(days=1)).isoformat(),
}
# DESIGN §4, literally: the header of each type's Webex file.
WEBEX_HEADERS = {
    ReportType.PARTNER: b"PARTNER_NAME,PARTNER_ORG_ID,SUBSCRIPTION_ID,SERVICE_NAME,SKU,DESCRIPTION,"
    b"CONSUMPTION_START_DATE,CONSUMPTION_END_DATE,QUANTITY\r\n",
    ReportType.CUSTOMER: b"PARTNER_NAME,PARTNER_ORG_ID,SUBSCRIPTION_ID,SERVICE_NAME,SKU,DESCRIPTION,"
    b"CONSUMPTION_START_DATE,CONSUMPTION_END_DATE,QUANTITY,CUSTOMER_ORG_ID,CUSTOMER_EXTERNAL_ID,LOCATION_ID\r\n",
    ReportType.USER: b"PARTNER_NAME,PARTNER_ORG_ID,SUBSCRIPTION_ID,SERVICE_NAME,SKU,DESCRIPTION,"
    b"CONSUMPTION_START_DATE,CONSUMPTION_END_DATE,QUANTITY,CUSTOMER_ORG_ID,CUSTOMER_EXTERNAL_ID,"
    b"SUBSCRIBER_ID,USER_ID,WORKSPACE_ID,LOCATION_ID\r\n",
}


def _sdk(api, method: str, url: str, body=None):
    status, headers, text = sdk_request(api, method, url, json_body=body)
    return response_data(status, headers, text)


def _file(seeded, report_id: str) -> bytes:
    return object_bytes(seeded, seeded.report_store.get(DEMO_PARTNER, report_id).s3_key)


@pytest.mark.parametrize("report_type", list(ReportType))
def test_a_webex_client_gets_webexs_file_byte_for_byte(api, seeded, report_type):
    created = validate_report_id(_sdk(api, "POST", URL, {**PERIOD, "type": report_type.value}))
    explicit = api.post(
        "/v1/wholesale/billing/reports",
        {**PERIOD, "type": report_type.value, "columns": list(default_columns(report_type))},
    ).json()
    seeded.workflow.join(60)
    raw = _sdk(api, "GET", f"{URL}/{created['id']}")
    report = validate_report(raw)
    assert report["status"] == "COMPLETED"
    assert "customerOrgIds" not in raw and "columns" not in raw
    body = _file(seeded, created["id"])
    assert body.startswith(WEBEX_HEADERS[report_type]) and body.count(b"\r\n") == raw["rowCount"] + 1
    assert hashlib.sha256(body).hexdigest() == raw["sha256"]
    # asking for Webex's columns by name is another report, with the very same bytes
    assert explicit["id"] != created["id"] and explicit["columns"] == list(default_columns(report_type))
    assert _file(seeded, explicit["id"]) == body
    items = _sdk(api, "GET", URL)["items"]
    plain = next(item for item in items if item["id"] == created["id"])
    assert "customerOrgIds" not in plain and "columns" not in plain


def test_the_sdk_reads_a_report_made_with_the_extensions(api, seeded, world):
    customer = next(c.org_id for c in world.customers if c.partner_org_id == DEMO_PARTNER and not c.internal)
    columns = [*default_columns(ReportType.CUSTOMER), "CUSTOMER_NAME", "SEAT_EQUIVALENTS"]
    created = api.post(
        "/v1/wholesale/billing/reports",
        {**PERIOD, "type": "CUSTOMER", "customerOrgIds": [customer], "columns": columns},
    ).json()
    validate_report_id(created)
    seeded.workflow.join(60)
    assert validate_report(_sdk(api, "GET", f"{URL}/{created['id']}"))["status"] == "COMPLETED"
    assert [validate_list_report(item)["id"] for item in _sdk(api, "GET", URL)["items"]] == [created["id"]]
