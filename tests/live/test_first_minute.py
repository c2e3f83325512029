"""The first minute of `wbr dev` as a new user sees it, and its links as AWS would hand them out
(make test-live; CI runs it), over real processes: a `wbr dev` of our own with the demo data,
its output going to a file (not a terminal, as in a log or CI).

- Quiet: the ready banner is the last thing printed before requests (the service's JSON log
  lines go to `service.log` in the state folder); one access-log line per request; the demo's
  rating progress is a few whole lines, not one line redrawn with carriage returns.
- The root URL is a page leading to the console, the explorer and the OpenAPI document.
- Links: a report's `tempDownloadURL` downloads as handed out; changed (path, expiry, a response
  header), stripped of its signature, or after the report was deleted it does not — 403, and for
  the deleted report 404 NoSuchKey, not a credentials fault.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from tests.stack import BASE, Stack

pytestmark = pytest.mark.live

BANNER = "wholesale-billing-reports is running"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("first-minute"), demo=True)
    running.start(timeout=300)
    try:
        yield running
    finally:
        running.stop()


def _output(stack: Stack) -> str:
    return (stack.state_dir / "dev.log").read_text(errors="replace")


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_banner_is_the_last_thing_before_requests_and_logs_go_to_a_file(stack):
    time.sleep(3)  # the stream pollers hand the demo's ~90 DayPublished records to the handlers
    output = _output(stack)
    before, banner, after = output.partition(BANNER)
    assert banner, output[-2000:]
    assert "\r" not in output
    progress = [line for line in before.splitlines() if line.startswith("rating demo days")]
    assert 1 <= len(progress) <= 30 and all(len(line) < 200 for line in progress), progress
    assert not [line for line in output.splitlines() if line.startswith("{")], "a JSON log line on the terminal"
    assert "Serving on" not in after
    service_log = stack.state_dir / "service.log"
    assert str(service_log) in after
    assert '"DayPublished"' in service_log.read_text()


def test_one_access_log_line_per_request(stack):
    before = _output(stack).splitlines()
    paths = ["/", "/v1/wholesale/billing/openapi.json", BASE]
    for path in paths:
        _get(stack.env["WBR_BASE_URL"] + path)
    time.sleep(0.5)
    new = _output(stack).splitlines()[len(before):]
    assert len(new) == len(paths), new
    for line, path in zip(new, paths, strict=True):
        assert f'"GET {path} HTTP/1.1"' in line, line


def test_the_root_leads_to_the_console_the_explorer_and_the_document(stack):
    status, page = _get(stack.env["WBR_BASE_URL"] + "/")
    assert status == 200
    for link in (b'href="console/"', b'href="v1/wholesale/billing/docs"', b'href="v1/wholesale/billing/openapi.json"'):
        assert link in page


def _changed(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode({k: v for k, v in query.items() if v is not None})))


def test_download_links_are_checked_as_on_aws(stack):
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    start = yesterday - timedelta(days=6)
    reports = []
    for report_type in ("USER", "CUSTOMER"):
        status, created = stack.request(
            "POST", BASE, {"billingStartDate": start.isoformat(), "billingEndDate": yesterday.isoformat(),
                           "type": report_type}
        )
        assert status == 200, created
        reports.append(stack.wait_for(created["id"], lambda report: report["status"] == "COMPLETED"))
    mine, other = (report["tempDownloadURL"] for report in reports)
    status, body = _get(mine)
    assert status == 200 and body.startswith(b"PARTNER_NAME,")
    other_path = urlsplit(other).path
    refused = {
        "another report's path": urlunsplit(urlsplit(mine)._replace(path=other_path)),
        "a longer expiry": _changed(mine, **{"X-Amz-Expires": "604800"}),
        "another file name": _changed(mine, **{"response-content-disposition": 'attachment; filename="x.html"'}),
        "another content type": _changed(mine, **{"response-content-type": "text/html"}),
        "no signature": _changed(mine, **{"X-Amz-Signature": None}),
        "no query at all": urlunsplit(urlsplit(mine)._replace(query="")),
        "the bucket's listing": urlunsplit(urlsplit(mine)._replace(path="/" + urlsplit(mine).path.split("/")[1], query="")),
    }
    for name, url in refused.items():
        status, body = _get(url)
        assert status == 403, (name, status, body[:300])
        assert b"PARTNER_NAME" not in body and b"<Key>" not in body, name
    status, _ = stack.request("DELETE", f"{BASE}/{reports[0]['id']}")
    assert status == 204
    status, body = _get(mine)
    assert status == 404 and b"<Code>NoSuchKey</Code>" in body and b"Secret Access Key" not in body
