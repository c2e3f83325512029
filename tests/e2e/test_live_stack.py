"""The partner's scripted flow over real HTTP: the API served by Chalice's local server (with
the gateway emulation of `wbr dev`) and S3/DynamoDB by a moto server, driven by `wbr reports`."""

from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.parse
import urllib.request
from datetime import timedelta

import pytest

from chalicelib.cli.client import ApiError, ReportsClient
from chalicelib.domain.report_rows import columns_for
from chalicelib.domain.reports import ReportType
from tests.conftest import TODAY


def test_scripted_partner_flow_over_http(live_stack, tmp_path, capsys):
    base_url, token, container = live_stack
    client = ReportsClient(base_url, token)
    start, end = (TODAY - timedelta(days=20)).isoformat(), (TODAY - timedelta(days=1)).isoformat()
    from chalicelib.cli import main as cli

    # `wbr reports create --wait --download`: 200, poll to COMPLETED, stream the CSV.
    out = tmp_path / "report.csv"
    code = cli.main(["reports", "--base-url", base_url, "--token", token, "create", "--type", "USER",
                     "--start", start, "--end", end, "--download", str(out)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["status"] == "COMPLETED"
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0] == list(columns_for(ReportType.USER)) and len(rows) - 1 == report["rowCount"]
    # A script lists without parameters and finds it; creating it again is "already exists" (409).
    assert [item["id"] for item in client.list()] == [report["id"]]
    with pytest.raises(ApiError) as conflict:
        client.create({"billingStartDate": start, "billingEndDate": end, "type": "USER"})
    assert conflict.value.status == 409 and report["id"] in conflict.value.body["message"]
    assert cli.main(["reports", "--base-url", base_url, "--token", token, "create", "--type", "USER",
                     "--start", start, "--end", end]) == 3
    # Delete: the URL handed out before stops working at once.
    url = client.get(report["id"])["tempDownloadURL"]
    assert urllib.request.urlopen(url).status == 200
    client.delete(report["id"])
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(url)
    with pytest.raises(ApiError) as gone:
        client.get(report["id"])
    assert gone.value.status == 404 and gone.value.body["trackingId"]


def test_list_pages_follow_link_over_http(live_stack):
    base_url, token, container = live_stack
    client = ReportsClient(base_url, token)
    container.workflow.stop_all()
    made = set()
    for offset in range(5):
        day = (TODAY - timedelta(days=200 + offset)).isoformat()
        made.add(client.create({"billingStartDate": day, "billingEndDate": day})["id"])
    pages = []
    request = urllib.request.Request(f"{base_url}/v1/wholesale/billing/reports?max=2",
                                     headers={"Authorization": f"Bearer {token}"})
    while request:
        with urllib.request.urlopen(request) as response:
            pages.append([item["id"] for item in json.loads(response.read())["items"]])
            link = response.headers.get("Link")
        request = None
        if link:
            # No WBR_PUBLIC_BASE_URL and no API Gateway domain: a relative reference (RFC 8288),
            # resolved against the URL of the page it came with, as an HTTP client does.
            target = link[1:link.index(">")]
            assert target.startswith("/v1/wholesale/billing/reports?cursor=") and "max=" not in target
            next_url = urllib.parse.urljoin(response.geturl(), target)
            assert next_url.startswith(f"{base_url}/v1/wholesale/billing/reports?cursor=")
            request = urllib.request.Request(next_url, headers={"Authorization": f"Bearer {token}"})
    assert [len(page) for page in pages] == [2, 2, 1]
    assert {report_id for page in pages for report_id in page} == made
    assert {item["id"] for item in client.list()} == made


def test_unauthenticated_over_http_has_webex_shape(live_stack):
    base_url, _, _ = live_stack
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{base_url}/v1/wholesale/billing/reports")
    body = json.loads(refused.value.read())
    assert refused.value.code == 401 and set(body) == {"message", "errors", "trackingId"}
    assert refused.value.headers["TrackingID"] == body["trackingId"]


def test_concurrent_requests_each_read_their_own_parameters(live_stack):
    """A browser (the console) sends many requests at once: each is answered from its own query
    string (Chalice keeps the current request in one attribute of the app; the local server runs
    one request at a time through it, as a Lambda execution environment does)."""
    from concurrent.futures import ThreadPoolExecutor

    base_url, token, _ = live_stack

    def ask(number: int) -> str:
        request = urllib.request.Request(f"{base_url}/v1/wholesale/billing/reports?type=BAD{number}")
        request.add_header("Authorization", f"Bearer {token}")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        return json.loads(refused.value.read())["message"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        messages = list(pool.map(ask, range(64)))
    assert all(f"'BAD{number}'" in message for number, message in enumerate(messages)), messages
