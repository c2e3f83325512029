"""Real clients against `make run` (make test-live; CI runs it): a `wbr dev` process of our own
with the demo data, and over real HTTP

- the partner automation script (tests/contract/test_partner_automation.py: list, create, 409 =
  exists, poll the list following Link rel="next", GET, stream the CSV), with the Webex Python
  SDK's requests, headers and response models as `tests/contract/webex_sdk.py` mirrors them;
- a point-in-time snapshot created and downloaded the same way;
- the answers every unknown id gets, byte for byte the same.
"""

from __future__ import annotations

import csv
import io
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain.point_in_time import POINT_IN_TIME_COLUMNS
from chalicelib.domain.report_ids import new_report_id
from chalicelib.domain.reports import ReportType
from tests.contract.test_partner_automation import run_partner_script
from tests.contract.webex_sdk import SdkRestError, response_data, validate_report, validate_report_id
from tests.stack import BASE, Stack

pytestmark = pytest.mark.live

TODAY = datetime.now(timezone.utc).date()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("clients"), demo=True)
    running.start(timeout=300)
    try:
        yield running
    finally:
        running.stop()


def test_the_partner_automation_script_against_wbr_dev(stack):
    unpublished = TODAY - timedelta(days=20)
    stack.client("dynamodb").delete_item(
        TableName=stack.env["WBR_USAGE_DAYS_TABLE"], Key={"usageDate": {"S": unpublished.isoformat()}}
    )
    run_partner_script(stack.env["WBR_BASE_URL"], stack.token, unpublished)


def test_a_point_in_time_snapshot_against_wbr_dev(stack):
    status, created = stack.request("POST", BASE, {"category": "POINT_IN_TIME", "type": "CUSTOMER"})
    assert status == 200, created
    parsed = validate_report_id(created)  # the SDK's ReportId model parses it
    assert parsed["id"] == created["id"] and created["category"] == "POINT_IN_TIME" and created["asOf"]
    report = stack.wait_for(created["id"], lambda r: r["status"] != "IN_PROGRESS")
    assert validate_report(report)["status"] == "COMPLETED"
    with urllib.request.urlopen(report["tempDownloadURL"], timeout=60) as response:
        assert "POINT_IN_TIME" in response.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.read().decode("utf-8"))))
    assert rows[0] == list(POINT_IN_TIME_COLUMNS[ReportType.CUSTOMER]) and len(rows) - 1 == report["rowCount"] > 0
    assert sum(int(row[-1]) for row in rows[1:]) > 0  # allocations open now in the demo


def test_every_id_that_is_not_the_callers_gets_the_same_404_over_http(stack):
    bodies = set()
    for report_id in ("not-an-id", new_report_id(), "Y2lzY29zcGFyazovL3VzL0JJTExJTkdfUkVQT1JUL25vcGU"):
        request = urllib.request.Request(
            stack.env["WBR_BASE_URL"] + f"{BASE}/{report_id}",
            headers={"Authorization": f"Bearer {stack.token}", "TrackingID": "ROUTER_live-404"},
        )
        try:
            urllib.request.urlopen(request, timeout=30)
            raise AssertionError(f"{report_id}: not a 404")
        except urllib.error.HTTPError as error:
            assert error.code == 404
            bodies.add(error.read())
    assert len(bodies) == 1
    with pytest.raises(SdkRestError) as refused:  # the SDK raises its RestError with the ErrorDetail
        response_data(404, {"Content-Type": "application/json"}, bodies.pop().decode())
    assert "Billing Report not found" in str(refused.value.detail)
