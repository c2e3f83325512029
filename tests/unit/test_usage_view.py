"""The read API's domain rules (DESIGN §12): seat-equivalents, months, a period cut into months
and days, the sums of rollup rows, the queries' validation, and which days explain reads."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.months import Month, days_between, last_complete_month, split_period
from chalicelib.domain.proration import MICRO_UNITS_PER_UNIT, day_start_epoch, epoch_day, format_quantity, units_by_day
from chalicelib.domain.usage_queries import GroupBy, SeriesQuery, UsageQuery
from chalicelib.domain.usage_view import (
    TouchedKey,
    customer_totals,
    key_units,
    page,
    seat_equivalents,
    sku_totals,
    user_rows,
)

FAST = settings(max_examples=200, deadline=None)
TODAY = date(2026, 12, 7)
days_st = st.dates(min_value=date(2021, 1, 1), max_value=date(2026, 12, 31))


# ---- seat-equivalents ---------------------------------------------------------------------------


@FAST
@given(units=st.integers(0, 10**15), days=st.integers(1, 1830))
def test_seat_equivalents_are_exact_half_up_to_six_decimals(units, days):
    exact = Decimal(units) / Decimal(MICRO_UNITS_PER_UNIT) / Decimal(days)
    expected = exact.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    assert Decimal(seat_equivalents(units, days)) == expected
    text = seat_equivalents(units, days)
    assert "." not in text or (not text.endswith("0") and len(text.split(".")[1]) <= 6)


@pytest.mark.parametrize(
    ("units", "days", "text"),
    [
        (31_000_000, 31, "1"),
        (15_500_000, 31, "0.5"),
        (1, 2, "0.000001"),
        (1, 3, "0"),
        (0, 30, "0"),
        (2_000_000, 3, "0.666667"),
    ],
)
def test_seat_equivalents_examples(units, days, text):
    assert seat_equivalents(units, days) == text


# ---- months ---------------------------------------------------------------------------------------


@FAST
@given(day=days_st)
def test_a_month_holds_its_days_and_its_neighbours_meet_it(day):
    month = Month.of(day)
    assert month.first_day <= day <= month.last_day
    assert month.days() == days_between(month.first_day, month.last_day) and len(month.days()) == month.day_count
    assert month.next().previous() == month == month.previous().next()
    assert month.previous().last_day + timedelta(days=1) == month.first_day
    assert Month.from_text(str(month)) == month


@FAST
@given(day=days_st, count=st.integers(1, 60))
def test_back_counts_months_ending_with_this_one(day, count):
    months = Month.of(day).back(count)
    assert len(months) == count and months[-1] == Month.of(day)
    assert all(later == earlier.next() for earlier, later in zip(months, months[1:], strict=False))


def test_last_complete_month_is_the_one_before_today():
    assert str(last_complete_month(date(2026, 12, 7))) == "2026-11"
    assert str(last_complete_month(date(2026, 1, 1))) == "2025-12"


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-01", "2026-01-01", "", "٢٠٢٦-٠١", "0000-01"])
def test_bad_months(text):
    assert Month.from_text(text) is None
    with pytest.raises(InvalidRequest, match="endMonth: expected YYYY-MM"):
        SeriesQuery.from_params({"endMonth": text}, date(2026, 12, 7))


@FAST
@given(start=days_st, length=st.integers(0, 800))
def test_a_period_is_its_whole_months_and_its_other_days(start, length):
    end = start + timedelta(days=length)
    months, loose = split_period(start, end)
    covered = sorted([day for month in months for day in month.days()] + loose)
    assert covered == days_between(start, end)  # every day once
    assert all(start <= month.first_day and month.last_day <= end for month in months)
    assert all(not (Month.of(day).first_day >= start and Month.of(day).last_day <= end) for day in loose)


# ---- sums of rollup rows ----------------------------------------------------------------------------

rows_st = st.lists(
    st.tuples(
        st.sampled_from(["c1", "c2", "c3"]),
        st.sampled_from(["l1", "l2"]),
        st.sampled_from(["s1", "s2"]),
        st.sampled_from(["A", "B", "C"]),
        st.integers(1, 31_000_000),
    ),
    max_size=40,
)


@FAST
@given(rows=rows_st)
def test_sku_and_customer_totals_sum_exactly_and_agree(rows):
    by_sku, by_customer = sku_totals(rows), customer_totals(rows)
    total = sum(row[-1] for row in rows)
    assert sum(t.units for t in by_sku) == total == sum(t.units for t in by_customer)
    expected: dict[tuple[str, str], int] = defaultdict(int)
    for _, _, subscription, sku, units in rows:
        expected[(subscription, sku)] += units
    assert [(t.subscription_id, t.sku, t.units) for t in by_sku] == sorted(
        (*key, units) for key, units in expected.items()
    )
    for customer in by_customer:
        assert customer.units == sum(units for _, units in customer.skus)
        assert customer.units == sum(row[-1] for row in rows if row[0] == customer.customer_org_id)
    assert [c.customer_org_id for c in by_customer] == sorted({row[0] for row in rows})


@FAST
@given(items=st.lists(st.integers(), max_size=30), offset=st.integers(0, 40), size=st.integers(1, 10))
def test_pages_cover_the_items_in_order(items, offset, size):
    shown, more = page(items, offset, size)
    assert shown == items[offset : offset + size] and more == (len(items) > offset + size)


# ---- queries ----------------------------------------------------------------------------------------


def test_a_usage_query_names_every_problem():
    with pytest.raises(InvalidRequest) as raised:
        UsageQuery.from_params({"groupBy": "user", "max": "0", "zzz": "1"}, TODAY)
    problems = raised.value.problems
    assert problems[0] == "zzz: not a query parameter of this API"
    assert any("max" in p for p in problems) and any("billingStartDate: required" == p for p in problems)
    assert any("customerOrgId: required" in p for p in problems)


def test_a_usage_query_and_its_next_page():
    query = UsageQuery.from_params(
        {
            "billingStartDate": "2026-11-01",
            "billingEndDate": "2026-11-30",
            "groupBy": "customer",
            "max": "5",
            "internal": "true",
        },
        TODAY,
    )
    assert query.group_by is GroupBy.CUSTOMER and query.day_count == 30 and query.scope.internal
    assert query.next_page_params() == {
        "billingStartDate": "2026-11-01",
        "billingEndDate": "2026-11-30",
        "groupBy": "customer",
        "internal": "true",
        "offset": "5",
        "max": "5",
    }
    # The current month may be asked for (its unpublished days count as nothing), not the next.
    UsageQuery.from_params({"billingStartDate": "2026-12-01", "billingEndDate": "2026-12-31", "groupBy": "sku"}, TODAY)
    with pytest.raises(InvalidRequest):
        UsageQuery.from_params(
            {"billingStartDate": "2026-12-01", "billingEndDate": "2027-01-01", "groupBy": "sku"}, TODAY
        )


def test_a_series_defaults_to_twelve_months_ending_last_month():
    query = SeriesQuery.from_params({"groupBy": "sku"}, TODAY)
    assert [str(m) for m in query.month_list()][::11] == ["2025-12", "2026-11"]


# ---- a key through the days, as rating rates it ------------------------------------------------------

KEY = ("partner", "customer", "location", "subscription", "SKU", "USER", "user", "subscriber", "")


@st.composite
def histories(draw):
    """Disjoint assignment intervals of one key, at least a second apart, some at midnight."""
    start = day_start_epoch(date(2026, 10, 1))
    cursor = start + draw(st.integers(0, 5 * 86_400))
    intervals = []
    for _ in range(draw(st.integers(1, 5))):
        length = draw(st.one_of(st.integers(1, 86_400 * 3), st.sampled_from([86_400, 2 * 86_400])))
        intervals.append((cursor, cursor + length))
        cursor += length + draw(st.one_of(st.integers(1, 86_400 * 2), st.sampled_from([1, 3600, 86_400])))
    if draw(st.booleans()):
        intervals = [(s - s % 86_400, e) for s, e in intervals[:1]] + intervals[1:]
    return intervals


@FAST
@given(intervals=histories(), offset=st.integers(0, 5), length=st.integers(0, 12))
def test_walking_the_touched_days_gives_the_prorated_units(intervals, offset, length):
    """The state the period starts from and each day's events with the units rating gave the key
    (what the rollup keeps) give back every day's units: untouched assigned days are full."""
    period_start = date(2026, 10, 1) + timedelta(days=offset)
    period_end = period_start + timedelta(days=length)
    truth = units_by_day(intervals)
    start_epoch = day_start_epoch(period_start)
    open_at_start = [KEY] if any(s < start_epoch <= e for s, e in intervals) else []
    events: dict[date, list] = defaultdict(list)
    for number, (first, last) in enumerate(intervals):
        events[epoch_day(first)].append((first, f"a{number:03d}", "PACKAGE_ASSIGNED"))
        events[epoch_day(last)].append((last, f"u{number:03d}", "PACKAGE_UNASSIGNED"))
    days = days_between(period_start, period_end)
    touched = {day: {KEY: TouchedKey(truth.get(day, 0), tuple(sorted(events[day])))} for day in days if day in events}
    walked = key_units(days, open_at_start, touched).get(KEY, {})
    assert walked == {day: units for day, units in truth.items() if period_start <= day <= period_end}


def test_user_rows_are_the_user_report_rows():
    units = {KEY: {date(2026, 11, 1): 1_000_000, date(2026, 11, 2): 500_000}}
    assert user_rows(units) == [("location", "subscription", "SKU", "USER", "user", "subscriber", "", 1_500_000)]


def test_format_of_explain_days_is_the_reports():
    assert format_quantity(958_333) == "0.958333"
