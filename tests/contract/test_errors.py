"""Contract: errors as the Webex Python SDK raises and reads them.

Mirrors wxc_sdk `wxc_sdk/rest.py`: every status >= 400 raises `RestError`, whose `detail` is
`ErrorDetail.model_validate(body)` (`message: str`, `trackingId: str`, `errors[].description: str`
required) or, when that fails, just the text; `RestError.description` is `errors[0].description`.
`retry_request` retries a 429 after `int(response.headers.get('Retry-After', 5))` seconds.
"""

from __future__ import annotations

import json

import pytest

from chalicelib.api.errors import response_for
from chalicelib.domain.errors import Conflict, InvalidRequest, NotFound, TooManyRequests
from chalicelib.domain.report_ids import new_report_id
from tests.conftest import ApiClient
from tests.contract.conftest import SDK_BASE_URL, sdk_request
from tests.contract.webex_sdk import SDK_BASE_PATH, SdkRestError, response_data, retry_after_seconds

URL = SDK_BASE_URL + SDK_BASE_PATH


def test_error_bodies_parse_as_the_sdks_error_detail(api, seeded):
    anonymous = ApiClient(token="")
    cases = [
        (api, "POST", URL, {"billingStartDate": "2026-13-01", "billingEndDate": "2026-10-01"}, 400),
        (api, "GET", f"{URL}/{new_report_id()}", None, 404),
        (api, "GET", f"{URL}/not-a-report-id", None, 404),
        (api, "GET", URL + "?max=1000", None, 400),
        (api, "GET", SDK_BASE_URL + "/v1/wholesale/billing/nothing", None, 403),  # as API Gateway
        (anonymous, "GET", URL, None, 401),
    ]
    for client, method, url, body, expected in cases:
        status, headers, text = sdk_request(client, method, url, json_body=body)
        assert status == expected, (url, text)
        with pytest.raises(SdkRestError) as raised:
            response_data(status, headers, text)
        assert isinstance(raised.value.detail, dict), text  # an ErrorDetail, not the raw text
        assert raised.value.description and raised.value.detail["tracking_id"] == headers["TrackingID"]


@pytest.mark.parametrize(
    "error",
    [InvalidRequest("bad", ["billingStartDate: bad"]), NotFound("Report not found"),
     Conflict("exists"), TooManyRequests("Too many reports in progress", 17)],
)
def test_every_mapped_error_parses_as_error_detail(error):
    response = response_for(error)
    with pytest.raises(SdkRestError) as raised:
        response_data(response.status_code, response.headers, json.dumps(response.body))
    assert isinstance(raised.value.detail, dict) and raised.value.description


def test_retry_after_is_whole_seconds():
    response = response_for(TooManyRequests("Too many reports in progress", 17))
    assert response.status_code == 429 and retry_after_seconds(response.headers) == 17
