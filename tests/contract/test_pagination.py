"""Contract: paging as the Webex Python SDK follows it.

Mirrors wxc_sdk `wxc_sdk/rest.py` `RestSession.follow_pagination`: the query parameters go with the
first GET only ("In subsequent requests we rely on the completeness of the 'next' URL"); then the
SDK GETs `response.links['next']['url']` (requests' RFC 5988 `Link` parsing) exactly as given,
until there is no rel="next" or a page has no items. So the next URL must be absolute and carry
the whole query: filters, sort and page size.
"""

from __future__ import annotations

import dataclasses
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


def _public_at(container, base_url):
    """The deployment's WBR_PUBLIC_BASE_URL (API Gateway's own domain serves the same end)."""
    container.settings = dataclasses.replace(container.settings, public_base_url=base_url)


def _reports_on_far_days(api, count):
    for offset in range(count):
        day = (TODAY - timedelta(days=300 + offset)).isoformat()
        status, _, text = sdk_request(api, "POST", URL, json_body={"billingStartDate": day, "billingEndDate": day})
        assert status == 200, text


def test_next_link_alone_continues_the_query(api, seeded):
    _public_at(seeded, SDK_BASE_URL)  # the SDK GETs the next URL as given: it must be absolute
    made = []
    for offset in range(5):
        day = (TODAY - timedelta(days=300 + offset)).isoformat()
        body = {"billingStartDate": day, "billingEndDate": day, "type": "USER" if offset % 2 else "CUSTOMER"}
        status, _, text = sdk_request(api, "POST", URL, json_body=body)
        assert status == 200, text
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


def test_next_link_never_takes_scheme_or_host_from_the_request(api, seeded):
    """A forged `Host` / `X-Forwarded-Proto` must not steer a client (and its token) elsewhere:
    the Link is built from the configured public base URL, or is a relative reference."""
    _reports_on_far_days(api, 3)
    forged = {"host": "evil.example", "x-forwarded-proto": "gopher", "x-forwarded-host": "evil.example"}

    def link_of(response):
        assert response.status == 200, response.body
        link = response.header("Link")
        assert link and link.endswith('>; rel="next"'), link
        return link[1:link.index(">")]

    relative = link_of(api.get(f"{SDK_BASE_PATH}?max=1", headers=forged))
    assert relative.startswith(SDK_BASE_PATH + "?cursor=") and "evil" not in relative
    assert not urlsplit(relative).scheme and not urlsplit(relative).netloc
    _public_at(seeded, "https://wbr.example.com/")
    absolute = link_of(api.get(f"{SDK_BASE_PATH}?max=1", headers=forged))
    assert absolute.startswith("https://wbr.example.com" + SDK_BASE_PATH + "?cursor=")
    assert "evil" not in absolute and "gopher" not in absolute
    assert parse_qs(urlsplit(absolute).query) == parse_qs(urlsplit(relative).query)
