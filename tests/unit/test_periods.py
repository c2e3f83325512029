"""Billing periods: strict dates and the window a report may cover (ARCHITECTURE.md §2 Create rules)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.periods import (
    LOOKBACK_YEARS,
    BillingPeriod,
    parse_filter_date,
    parse_strict_date,
    utc_today,
    years_before,
)

TODAY = date(2026, 11, 24)

# --- parse_strict_date -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-05", date(2026, 10, 5)),
        ("2028-02-29", date(2028, 2, 29)),
        ("0001-01-01", date(1, 1, 1)),
        ("2026-12-31", date(2026, 12, 31)),
    ],
)
def test_strict_date_accepts_yyyy_mm_dd(text, expected):
    assert parse_strict_date("billingStartDate", text) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2026-1-5",
        "2026-01-5",
        "26-01-05",
        "2026-02-30",
        "2027-02-29",  # not a leap year
        "2026-13-01",
        "2026-00-10",
        "20261005",
        " 2026-10-05",
        "2026-10-05 ",
        "2026-10-05\n",
        "2026/10/05",
        "2026-10-05T00:00:00Z",
        "2026-W40-1",
        "2026-278",
        "+2026-10-05",
        "２０２６-10-05",  # full-width digits
        "٢٠٢٦-١٠-٠٥",  # Arabic-Indic digits
        "",
        "yesterday",
    ],
)
def test_strict_date_rejects_anything_but_yyyy_mm_dd(value):
    with pytest.raises(InvalidRequest) as caught:
        parse_strict_date("billingStartDate", value)
    assert caught.value.status == 400
    assert all("billingStartDate" in problem for problem in caught.value.problems)


@pytest.mark.parametrize(
    "value", [None, 20261005, 2026.1, ["2026-10-05"], {"d": "2026-10-05"}, date(2026, 10, 5), True]
)
def test_strict_date_rejects_non_strings(value):
    with pytest.raises(InvalidRequest) as caught:
        parse_strict_date("billingEndDate", value)
    assert caught.value.problems and "billingEndDate" in caught.value.problems[0]


def test_strict_date_problem_names_the_field_and_the_value():
    with pytest.raises(InvalidRequest) as caught:
        parse_strict_date("billingEndDate", "2026-02-30")
    (problem,) = caught.value.problems
    assert "billingEndDate" in problem and "2026-02-30" in problem


@settings(max_examples=100, deadline=None)
@given(st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)))
def test_strict_date_round_trips_every_iso_date(day):
    assert parse_strict_date("f", day.isoformat()) == day


# --- parse_filter_date -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-10-01", date(2026, 10, 1)),
        ("2026-10-01T00:00:00.000Z", date(2026, 10, 1)),  # what the Webex Python SDK sends
        ("2026-10-01T00:00:00Z", date(2026, 10, 1)),
        ("2026-10-01T04:00:00.000Z", date(2026, 10, 1)),  # the SDK in New York (EDT)
        ("2026-10-01T10:00:00.000Z", date(2026, 10, 1)),  # ... in Hawaii
        ("2026-09-30T22:00:00.000Z", date(2026, 10, 1)),  # ... in Berlin (CEST)
        ("2026-09-30T11:00:00.000Z", date(2026, 10, 1)),  # ... in Auckland (NZDT)
        ("2026-10-01T09:59:59.999999+00:00", date(2026, 10, 1)),
        ("2026-10-01T10:00:00.001Z", date(2026, 10, 2)),
        ("2026-10-01T23:59:59.999999Z", date(2026, 10, 2)),
        ("2028-02-29T00:00:00.000Z", date(2028, 2, 29)),
        ("2028-02-28T23:00:00.000Z", date(2028, 2, 29)),
    ],
)
def test_filter_date_accepts_a_date_or_a_utc_datetime(text, expected):
    assert parse_filter_date("billingStartDate", text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "",
        "2026-10-01T",
        "2026-10-01T00:00",
        "2026-10-01T00:00:00",  # no zone: not known to be UTC
        "2026-10-01T00:00:00+02:00",  # not UTC
        "2026-10-01T25:00:00Z",
        "2026-10-01T24:00:00Z",
        "2026-10-01T00:61:00Z",
        "2026-02-30T00:00:00Z",
        "2026-10-01T00:00:00.1234567Z",
        "2026-10-01t00:00:00z",
        "2026-10-01T00:00:00Z\n",
        "2026-1-01T00:00:00Z",
        "20261001T000000Z",
        " 2026-10-01",
    ],
)
def test_filter_date_rejects_garbage(text):
    with pytest.raises(InvalidRequest) as caught:
        parse_filter_date("billingEndDate", text)
    assert "billingEndDate" in caught.value.problems[0]


@settings(max_examples=200, deadline=None)
@given(
    st.dates(min_value=date(1970, 1, 2), max_value=date(2100, 1, 1)),
    st.integers(min_value=-10 * 4, max_value=13 * 4 + 3),  # UTC-10:00 .. UTC+13:45 in quarter hours
)
def test_filter_datetime_is_the_date_of_a_local_midnight(day, quarter_hours):
    """What the Webex Python SDK sends for a date on a machine at that UTC offset (dt_iso_str of the
    local midnight) names that date again."""
    local_midnight = datetime.combine(day, datetime.min.time(), timezone(timedelta(minutes=15 * quarter_hours)))
    text = local_midnight.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert parse_filter_date("billingStartDate", text) == day


@settings(max_examples=100, deadline=None)
@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)))
def test_filter_datetime_is_its_utc_date_or_the_next(moment):
    text = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    parsed = parse_filter_date("billingStartDate", text)
    assert parsed == (moment.date() if moment.time() <= time(10, 0) else moment.date() + timedelta(days=1))


def test_filter_datetime_after_the_last_date_is_a_400():
    with pytest.raises(InvalidRequest):
        parse_filter_date("billingEndDate", "9999-12-31T23:00:00Z")


# --- years_before / utc_today ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "years", "expected"),
    [
        (date(2026, 11, 24), 5, date(2021, 11, 24)),
        (date(2028, 2, 29), 5, date(2023, 2, 28)),  # 29 Feb → 28 Feb
        (date(2028, 2, 29), 4, date(2024, 2, 29)),  # leap year to leap year keeps 29 Feb
        (date(2028, 3, 1), 5, date(2023, 3, 1)),
        (date(2026, 1, 1), 5, date(2021, 1, 1)),
    ],
)
def test_years_before(day, years, expected):
    assert years_before(day, years) == expected


def test_utc_today_converts_to_utc_first():
    late_evening_west = datetime(2026, 11, 23, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert utc_today(late_evening_west) == date(2026, 11, 24)
    early_morning_east = datetime(2026, 11, 24, 1, 0, tzinfo=timezone(timedelta(hours=9)))
    assert utc_today(early_morning_east) == date(2026, 11, 23)


# --- BillingPeriod.validated -----------------------------------------------------------------


def test_valid_period_is_returned():
    period = BillingPeriod.validated(date(2026, 10, 1), date(2026, 10, 31), TODAY)
    assert period == BillingPeriod(date(2026, 10, 1), date(2026, 10, 31))


def test_single_day_period_is_allowed():
    assert BillingPeriod.validated(date(2026, 11, 23), date(2026, 11, 23), TODAY).day_count == 1


def test_start_after_end_is_rejected():
    with pytest.raises(InvalidRequest) as caught:
        BillingPeriod.validated(date(2026, 10, 31), date(2026, 10, 1), TODAY)
    assert len(caught.value.problems) == 1
    assert "billingStartDate" in caught.value.problems[0] and "billingEndDate" in caught.value.problems[0]


def test_yesterday_is_the_latest_allowed_end():
    assert BillingPeriod.validated(date(2026, 11, 1), TODAY - timedelta(days=1), TODAY).end == date(2026, 11, 23)


@pytest.mark.parametrize("end", [TODAY, TODAY + timedelta(days=1), date(2027, 1, 1)])
def test_today_and_future_ends_are_rejected(end):
    with pytest.raises(InvalidRequest) as caught:
        BillingPeriod.validated(date(2026, 11, 1), end, TODAY)
    assert caught.value.problems == [caught.value.message]
    assert "billingEndDate" in caught.value.message


def test_start_exactly_five_years_back_is_allowed():
    assert LOOKBACK_YEARS == 5
    period = BillingPeriod.validated(date(2021, 11, 24), date(2021, 11, 30), TODAY)
    assert period.start == date(2021, 11, 24)


def test_start_one_day_more_than_five_years_back_is_rejected():
    with pytest.raises(InvalidRequest) as caught:
        BillingPeriod.validated(date(2021, 11, 23), date(2021, 11, 30), TODAY)
    assert "billingStartDate" in caught.value.problems[0]
    assert "2021-11-24" in caught.value.problems[0]


def test_five_years_back_from_a_leap_day_is_28_february():
    leap_today = date(2028, 2, 29)
    assert BillingPeriod.validated(date(2023, 2, 28), date(2023, 3, 31), leap_today).start == date(2023, 2, 28)
    with pytest.raises(InvalidRequest):
        BillingPeriod.validated(date(2023, 2, 27), date(2023, 3, 31), leap_today)


def test_all_problems_are_listed_start_after_end_and_end_not_before_today():
    with pytest.raises(InvalidRequest) as caught:
        BillingPeriod.validated(TODAY + timedelta(days=5), TODAY, TODAY)
    problems = caught.value.problems
    assert len(problems) == 2
    assert "on or before" in problems[0]
    assert "before today" in problems[1]
    assert caught.value.message == problems[0]


def test_all_problems_are_listed_too_old_and_end_in_future():
    with pytest.raises(InvalidRequest) as caught:
        BillingPeriod.validated(date(2020, 1, 1), date(2030, 1, 1), TODAY)
    assert len(caught.value.problems) == 2


@settings(max_examples=150, deadline=None)
@given(
    st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31)),
    st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31)),
    st.dates(min_value=date(2020, 1, 1), max_value=date(2032, 12, 31)),
)
def test_validated_accepts_exactly_the_documented_window(start, end, today):
    earliest = years_before(today, 5)
    allowed = start <= end < today and start >= earliest
    try:
        period = BillingPeriod.validated(start, end, today)
    except InvalidRequest as error:
        assert not allowed
        expected_count = (start > end) + (end >= today) + (start < earliest)
        assert len(error.problems) == expected_count
    else:
        assert allowed
        assert (period.start, period.end) == (start, end)


# --- days() / day_count ----------------------------------------------------------------------


def test_days_lists_every_day_inclusive():
    period = BillingPeriod(date(2028, 2, 27), date(2028, 3, 2))
    assert list(period.days()) == [
        date(2028, 2, 27),
        date(2028, 2, 28),
        date(2028, 2, 29),
        date(2028, 3, 1),
        date(2028, 3, 2),
    ]
    assert period.day_count == 5


def test_october_has_31_days():
    period = BillingPeriod(date(2026, 10, 1), date(2026, 10, 31))
    assert period.day_count == 31 == len(list(period.days()))


@settings(max_examples=100, deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 1, 1)), st.integers(0, 400))
def test_day_count_equals_number_of_days(start, extra):
    period = BillingPeriod(start, start + timedelta(days=extra))
    days = list(period.days())
    assert len(days) == period.day_count == extra + 1
    assert days[0] == period.start and days[-1] == period.end
