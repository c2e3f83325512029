"""Contract: paging as the Webex Python SDK follows it.

Mirrors wxc_sdk `wxc_sdk/rest.py` `RestSession.follow_pagination`: the query parameters go with the
first GET only ("In subsequent requests we rely on the completeness of the 'next' URL"); then the
SDK GETs `response.links['next']['url']` (requests' RFC 5988 `Link` parsing) exactly as given,
until there is no rel="next" or a page has no items. So the next URL must be absolute and carry
the whole query: filters, sort and page size.
"""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from tests.conftest import TODAY
from tests.contract.conftest import SDK_BASE_URL, sdk_request
from tests.contract.webex_sdk import (
    SDK_BASE_PATH,
    ListReportType,
    ListWholesaleBillingReportsSortBy,
    follow_pagination,
    list_params,
    next_link,
)

URL = SDK_BASE_URL + SDK_BASE_PATH


def test_next_link_alone_continues_the_query(api, seeded):
    made = []
    for offset in range(5):
        day = (TODAY - timedelta(days=300 + offset)).isoformat()
        body = {"billingStartDate": day, "billingEndDate": day, "type": "USER" if offset % 2 else "CUSTOMER"}
        status, _, text = sdk_request(api, "POST", URL, json_body=body)
        assert status == 202, text
        made.append(json.loads(text))
    requests_made: list[tuple[str, object]] = []

    def fetch(url, params):
        requests_made.append((url, params))
        status, headers, text = sdk_request(api, "GET", url, params)
        link = next_link(headers)
        if link:  # absolute, same API, and nothing in it but the opaque cursor
            assert link.startswith(URL + "?") and set(parse_qs(urlsplit(link).query)) == {"cursor"}
        return status, headers, text

    # list_wholesale_billing_reports(sort_by=..., max=2): three pages, params on the first only.
    params = list_params(sort_by=ListWholesaleBillingReportsSortBy.billing_end_date, max=2)
    items = list(follow_pagination(fetch, URL, params))
    assert [item["id"] for item in items] == [m["id"] for m in sorted(made, key=lambda m: m["billingEndDate"])]
    assert [params is not None for _, params in requests_made] == [True, False, False]
    # A filter survives the page boundary: every USER report and nothing else, one per page.
    requests_made.clear()
    users = list(follow_pagination(fetch, URL, list_params(type=ListReportType.user, max=1)))
    assert sorted(item["id"] for item in users) == sorted(m["id"] for m in made if m["type"] == "USER")
    assert {item["type"] for item in users} == {"USER"} and len(requests_made) == 2
