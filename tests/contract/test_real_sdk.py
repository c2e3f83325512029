"""Opt-in: the partner script run by the real Webex Python SDK against the live local stack.

Skipped unless `WBR_WXC_SDK_PYTHON` names a Python that can import `wxc_sdk` and the generated
`wholesale_billing_auto` module (github.com/jeokrohn/wxc_sdk: `wxc_sdk/` plus
`apib/tests/generated/wholesale-billing_auto.py` saved as `wholesale_billing_auto.py`, both on
`WBR_WXC_SDK_PATH`). The SDK is no dependency of this project; it runs in its own interpreter.

    WBR_WXC_SDK_PYTHON=/tmp/sdkvenv/bin/python WBR_WXC_SDK_PATH=/tmp/sdksrc \\
        .venv/bin/python -m pytest tests/contract/test_real_sdk.py
"""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta

import pytest

from tests.conftest import TODAY

SCRIPT = r"""
import sys, time, hashlib, requests
base_url, token, start, end, old_day = sys.argv[1:6]
from wxc_sdk.rest import RestSession, RestError
from wxc_sdk.tokens import Tokens
import wholesale_billing_auto as w

RestSession.BASE = base_url + "/v1"
api = w.WholesaleBillingReportsApi(session=RestSession(tokens=Tokens(access_token=token), concurrent_requests=2))
api.create_a_wholesale_billing_report(old_day, old_day)
assert [r.billing_start_date.date().isoformat() for r in api.list_wholesale_billing_reports()] == [old_day]
created = api.create_a_wholesale_billing_report(start, end, type="USER")
try:
    assert api.create_a_wholesale_billing_report(start, end, type="USER").id == created.id
except RestError as error:
    assert error.response.status_code == 409, error
# the SDK turns these into this machine's local midnight in UTC (TZ is set by the test)
mine = lambda: [r for r in api.list_wholesale_billing_reports(billing_start_date=start, billing_end_date=end, max=1)]
deadline = time.monotonic() + 90
while (found := mine())[0].status != w.ListReportStatus.completed:
    assert [r.id for r in found] == [created.id] and time.monotonic() < deadline
    time.sleep(0.25)
assert len(list(api.list_wholesale_billing_reports(max=1))) == 2
report = api.get_a_wholesale_billing_report(created.id)
assert report.status == "COMPLETED" and report.created.tzinfo is not None and report.temp_download_url
body = requests.get(report.temp_download_url, stream=True).content
assert hashlib.sha256(body).hexdigest() == report.model_extra["sha256"]
assert body.count(b"\r\n") - 1 == report.model_extra["rowCount"]
try:
    api.create_a_wholesale_billing_report(start, end, type="USER")
    raise AssertionError("expected 409")
except RestError as error:
    assert error.response.status_code == 409 and created.id in error.detail.message
print("ok")
"""


@pytest.mark.skipif(not os.environ.get("WBR_WXC_SDK_PYTHON"), reason="set WBR_WXC_SDK_PYTHON to run the real SDK")
@pytest.mark.parametrize("machine_tz", ["UTC0", "CEST-2", "EDT4"])
def test_real_sdk_partner_script(live_stack, machine_tz):
    base_url, token, _ = live_stack
    start, end = (TODAY - timedelta(days=7)).isoformat(), (TODAY - timedelta(days=1)).isoformat()
    old_day = (TODAY - timedelta(days=400)).isoformat()
    environment = {**os.environ, "TZ": machine_tz,
                   "PYTHONPATH": os.environ.get("WBR_WXC_SDK_PATH", "")}
    run = subprocess.run([os.environ["WBR_WXC_SDK_PYTHON"], "-c", SCRIPT, base_url, token, start, end, old_day],
                         capture_output=True, text=True, timeout=180, env=environment)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-3000:]
