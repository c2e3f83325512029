"""Contract: the list filters `billingStartDate` / `billingEndDate` as the Webex Python SDK sends them.

Mirrors wxc_sdk `apib/tests/generated/wholesale-billing_auto.py`
`WholesaleBillingReportsApi.list_wholesale_billing_reports`, which turns a date given as a string
into `dt_iso_str(isoparse(value))` (`wxc_sdk/base.py`): the UTC instant of the caller's *local*
midnight with milliseconds, e.g. `2026-10-01T00:00:00.000Z` in UTC but `2026-09-30T22:00:00.000Z`
in Berlin in summer. Plain `YYYY-MM-DD` (curl, other clients) must keep working too.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest

from chalicelib.domain.listing import ListQuery
from chalicelib.domain.periods import parse_filter_date
from tests.conftest import TODAY
from tests.contract.conftest import SDK_BASE_URL, sdk_request
from tests.contract.webex_sdk import SDK_BASE_PATH, dt_iso_str, follow_pagination, list_params

# Machines the SDK may run on: POSIX TZ (UTC offset is the negated number) -> offset.
MACHINE_ZONES = {
    "UTC0": timedelta(0),
    "EDT4": timedelta(hours=-4),  # New York in summer
    "HST10": timedelta(hours=-10),  # Honolulu
    "CEST-2": timedelta(hours=2),  # Berlin in summer
    "IST-5:30": timedelta(hours=5, minutes=30),  # India
    "JST-9": timedelta(hours=9),  # Tokyo
    "NZDT-13": timedelta(hours=13),  # Auckland in summer
    "CHADT-13:45": timedelta(hours=13, minutes=45),  # Chatham Islands in summer
}
DAYS = [date(2026, 10, 1), date(2028, 2, 29), date(2026, 12, 31), date(2027, 1, 1)]


@pytest.mark.parametrize("posix_tz", MACHINE_ZONES)
def test_sdk_filter_dates_name_the_same_date_in_every_machine_zone(machine_zone, posix_tz):
    """list_wholesale_billing_reports(billing_start_date='2026-10-01') -> dt_iso_str(isoparse(...))."""
    machine_zone(posix_tz)
    assert datetime(2026, 10, 1).astimezone().utcoffset() == MACHINE_ZONES[posix_tz]  # the zone took effect
    for day in DAYS:
        params = list_params(billing_start_date=day.isoformat(), billing_end_date=day.isoformat())
        assert params["billingStartDate"].endswith(".000Z")
        query = ListQuery.from_params(params)
        assert query.billing_start_date == query.billing_end_date == day, params


@pytest.mark.parametrize("offset_minutes", [0, -4 * 60, -10 * 60, 2 * 60, 9 * 60, 13 * 60])
def test_sdk_filter_datetimes_with_a_zone_name_their_local_date(offset_minutes):
    """list_wholesale_billing_reports(billing_start_date=datetime(..., tzinfo=...)) -> dt_iso_str."""
    zone = timezone(timedelta(minutes=offset_minutes))
    for day in DAYS:
        sent = dt_iso_str(datetime(day.year, day.month, day.day, tzinfo=zone))
        assert parse_filter_date("billingStartDate", sent) == day, sent


def test_plain_dates_still_work():
    """Other clients (curl, the Webex docs' examples) send `YYYY-MM-DD`."""
    assert parse_filter_date("billingEndDate", "2026-10-01") == date(2026, 10, 1)


def test_sdk_filters_find_exactly_the_report_over_http(api, seeded, machine_zone):
    """The whole way: SDK params -> requests' URL encoding (`2026-10-01T00%3A00%3A00.000Z`) ->
    the API, with reports on adjacent days so that an off-by-one date shows."""
    days = [TODAY - timedelta(days=250 + n) for n in range(3)]
    ids = {}
    for day in days:
        status, _, text = sdk_request(api, "POST", SDK_BASE_URL + SDK_BASE_PATH,
                                      json_body={"billingStartDate": day.isoformat(), "billingEndDate": day.isoformat()})
        assert status == 200, text
        ids[day] = json.loads(text)["id"]
    for posix_tz in ("UTC0", "EDT4", "CEST-2", "NZDT-13"):
        machine_zone(posix_tz)
        for day in days:
            params = list_params(billing_start_date=day.isoformat(), billing_end_date=day.isoformat())
            found = list(follow_pagination(lambda url, p: sdk_request(api, "GET", url, p),
                                           SDK_BASE_URL + SDK_BASE_PATH, params))
            assert [item["id"] for item in found] == [ids[day]], (posix_tz, params)
            assert found[0]["billing_start_date"] == datetime(day.year, day.month, day.day)
