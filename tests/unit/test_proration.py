"""Daily proration (ARCHITECTURE.md §3 QUANTITY): seconds in a UTC day → integer micro-units."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.proration import (
    MICRO_UNITS_PER_UNIT,
    SECONDS_PER_DAY,
    day_start_epoch,
    day_units,
    epoch_day,
    format_quantity,
    union_length,
    units_by_day,
)

FAST = settings(max_examples=100, deadline=None)


def at(text: str) -> int:
    """Epoch seconds of an ISO-8601 UTC datetime, e.g. '2026-10-01T18:00:00'."""
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def spec_day_units(seconds: int) -> int:
    """ARCHITECTURE.md §3 literally: round_half_up(seconds × 1 000 000 / 86 400), exact rationals."""
    exact = Fraction(seconds * 1_000_000, 86_400)
    return int(exact + Fraction(1, 2))  # floor(x + 1/2): int() truncates, x >= 0


# --- day_units -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "units"),
    [
        (0, 0),
        (1, 12),  # 11.574… → 12
        (27, 313),  # 312.5 exactly → rounds half up
        (81, 938),  # 937.5 exactly → rounds half up
        (3600, 41_667),  # 41 666.67 → 41 667
        (43_200, 500_000),
        (86_399, 999_988),
        (86_400, 1_000_000),
    ],
)
def test_day_units_table(seconds, units):
    assert day_units(seconds) == units


def test_round_half_up_cases_really_are_halves():
    # the two "half" rows above were found by search: seconds × 10^6 / 86 400 has fraction .5
    halves = [s for s in range(0, 200) if (s * 1_000_000 * 2) % 86_400 == 0 and (s * 1_000_000) % 86_400 != 0]
    assert halves[:2] == [27, 81]
    for seconds in halves:
        assert Fraction(seconds * 1_000_000, 86_400) % 1 == Fraction(1, 2)
        assert day_units(seconds) == int(Fraction(seconds * 1_000_000, 86_400)) + 1


def test_one_hour_formats_as_six_decimals():
    assert format_quantity(day_units(3600)) == "0.041667"


def test_half_day_is_half_a_unit():
    assert day_units(SECONDS_PER_DAY // 2) == MICRO_UNITS_PER_UNIT // 2


def test_full_day_is_one_unit():
    assert day_units(SECONDS_PER_DAY) == MICRO_UNITS_PER_UNIT


def test_day_units_matches_the_spec_formula_for_every_second_of_the_day():
    previous = -1
    for seconds in range(SECONDS_PER_DAY + 1):
        units = day_units(seconds)
        assert units == spec_day_units(seconds)
        assert units >= previous
        previous = units


@pytest.mark.parametrize("seconds", [-1, SECONDS_PER_DAY + 1, 10**9])
def test_day_units_rejects_seconds_outside_a_day(seconds):
    with pytest.raises(ValueError):
        day_units(seconds)


@FAST
@given(st.integers(0, SECONDS_PER_DAY), st.integers(0, SECONDS_PER_DAY))
def test_day_units_is_monotonic(a, b):
    low, high = sorted((a, b))
    assert day_units(low) <= day_units(high)


@FAST
@given(st.integers(0, SECONDS_PER_DAY))
def test_day_units_is_within_half_a_micro_unit_of_exact(seconds):
    # |units − s·10^6/86 400| ≤ 1/2, in integers
    assert abs(day_units(seconds) * 2 * SECONDS_PER_DAY - seconds * 2 * MICRO_UNITS_PER_UNIT) <= SECONDS_PER_DAY


# --- format_quantity -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("units", "text"),
    [
        (0, "0"),
        (12, "0.000012"),
        (41_667, "0.041667"),
        (500_000, "0.5"),
        (1_000_000, "1"),
        (10_000_000, "10"),
        (15_500_000, "15.5"),
        (31_000_000, "31"),
        (31_000_001, "31.000001"),
        (1_230_000, "1.23"),
    ],
)
def test_format_quantity_table(units, text):
    assert format_quantity(units) == text


def test_format_quantity_rejects_negative_units():
    with pytest.raises(ValueError):
        format_quantity(-1)


@FAST
@given(st.integers(0, 10**15))
def test_format_quantity_is_a_plain_exact_decimal(units):
    text = format_quantity(units)
    assert "e" not in text.lower() and not text.endswith(".")
    if "." in text:
        assert not text.endswith("0")
        assert len(text.split(".")[1]) <= 6
    # exact: parses back to the same number of micro-units, no float involved
    assert Fraction(text) * MICRO_UNITS_PER_UNIT == units


# --- epoch helpers ---------------------------------------------------------------------------


def test_day_start_and_epoch_day_agree():
    assert day_start_epoch(date(2026, 10, 1)) == at("2026-10-01T00:00:00")
    assert epoch_day(at("2026-10-01T00:00:00")) == date(2026, 10, 1)
    assert epoch_day(at("2026-10-01T23:59:59")) == date(2026, 10, 1)
    assert epoch_day(at("2026-10-02T00:00:00")) == date(2026, 10, 2)


# --- union_length ----------------------------------------------------------------------------


def test_union_length_merges_overlaps_and_touching_intervals():
    assert union_length([]) == 0
    assert union_length([(0, 10), (5, 15)]) == 15
    assert union_length([(0, 10), (10, 20)]) == 20
    assert union_length([(0, 10), (20, 30)]) == 20
    assert union_length([(0, 100), (10, 20)]) == 100
    assert union_length([(5, 5), (9, 3)]) == 0  # empty and reversed intervals count for nothing


# --- units_by_day ----------------------------------------------------------------------------


def test_a_whole_day_is_one_unit():
    assert units_by_day([(at("2026-10-01T00:00:00"), at("2026-10-02T00:00:00"))]) == {date(2026, 10, 1): 1_000_000}


def test_interval_crossing_midnight_is_split_between_the_two_days():
    result = units_by_day([(at("2026-10-01T18:00:00"), at("2026-10-02T06:00:00"))])
    assert result == {date(2026, 10, 1): 250_000, date(2026, 10, 2): 250_000}


def test_interval_over_several_days_gives_full_days_in_between():
    result = units_by_day([(at("2026-10-01T12:00:00"), at("2026-10-04T06:00:00"))])
    assert result == {
        date(2026, 10, 1): 500_000,
        date(2026, 10, 2): 1_000_000,
        date(2026, 10, 3): 1_000_000,
        date(2026, 10, 4): 250_000,
    }


def test_leap_day_is_a_day_of_its_own():
    result = units_by_day([(at("2028-02-28T12:00:00"), at("2028-03-01T06:00:00"))])
    assert result == {
        date(2028, 2, 28): 500_000,
        date(2028, 2, 29): 1_000_000,
        date(2028, 3, 1): 250_000,
    }


def test_month_end_and_year_end_crossings():
    result = units_by_day([(at("2026-12-31T23:00:00"), at("2027-01-01T01:00:00"))])
    assert result == {date(2026, 12, 31): 41_667, date(2027, 1, 1): 41_667}


def test_overlapping_intervals_count_their_union_once():
    result = units_by_day(
        [
            (at("2026-10-01T08:00:00"), at("2026-10-01T12:00:00")),
            (at("2026-10-01T10:00:00"), at("2026-10-01T14:00:00")),
        ]
    )
    assert result == {date(2026, 10, 1): 250_000}  # 6 h, not 8 h


def test_overlaps_never_exceed_a_full_day():
    whole = (at("2026-10-01T00:00:00"), at("2026-10-02T00:00:00"))
    assert units_by_day([whole, whole, (at("2026-10-01T03:00:00"), at("2026-10-01T05:00:00"))]) == {
        date(2026, 10, 1): 1_000_000
    }


def test_zero_length_and_reversed_intervals_give_nothing():
    t = at("2026-10-01T08:00:00")
    assert units_by_day([]) == {}
    assert units_by_day([(t, t)]) == {}
    assert units_by_day([(t + 10, t)]) == {}


def test_a_single_assigned_second_already_counts():
    t = at("2026-10-01T08:00:00")
    assert units_by_day([(t, t + 1)]) == {date(2026, 10, 1): 12}


def test_interval_ending_exactly_at_midnight_does_not_touch_the_next_day():
    result = units_by_day([(at("2026-10-01T12:00:00"), at("2026-10-02T00:00:00"))])
    assert result == {date(2026, 10, 1): 500_000}


def test_units_by_day_accepts_a_one_shot_iterator():
    intervals = iter([(at("2026-10-01T00:00:00"), at("2026-10-01T12:00:00"))])
    assert units_by_day(intervals) == {date(2026, 10, 1): 500_000}


# --- properties ------------------------------------------------------------------------------

BASE = at("2028-02-26T00:00:00")  # window spans the 2028 leap day
WINDOW = 6 * SECONDS_PER_DAY
MIDNIGHTS = [BASE + k * SECONDS_PER_DAY for k in range(7)]


@st.composite
def an_interval(draw, allow_empty=False):
    # bias endpoints onto midnights and whole hours as well as arbitrary seconds
    point = st.one_of(
        st.integers(BASE, BASE + WINDOW),
        st.sampled_from(MIDNIGHTS),
        st.integers(0, WINDOW // 3600).map(lambda h: BASE + h * 3600),
    )
    a, b = draw(point), draw(point)
    if allow_empty:
        return (a, b)
    start, end = sorted((a, b))
    return (start, end)


intervals_strategy = st.lists(an_interval(), max_size=6)


def brute_force_units(intervals):
    """Independent oracle for minute-aligned intervals: mark every assigned minute per day, then
    apply the spec formula to 60 × marked minutes."""
    minutes_per_day: dict[date, set[int]] = {}
    for start, end in intervals:
        assert start % 60 == 0 and end % 60 == 0
        for minute in range(start // 60, end // 60):
            minutes_per_day.setdefault(epoch_day(minute * 60), set()).add(minute)
    return {day: spec_day_units(60 * len(marked)) for day, marked in minutes_per_day.items() if marked}


@FAST
@given(st.lists(st.tuples(st.integers(0, 5 * 24 * 60), st.integers(0, 30 * 60)), max_size=5))
def test_units_by_day_matches_a_brute_force_oracle(minute_spans):
    intervals = [(BASE + m * 60, BASE + (m + length) * 60) for m, length in minute_spans]
    assert units_by_day(intervals) == brute_force_units(intervals)


@FAST
@given(intervals_strategy)
def test_a_day_never_exceeds_one_unit_and_present_days_are_positive(intervals):
    for units in units_by_day(intervals).values():
        assert 0 < units <= MICRO_UNITS_PER_UNIT


@FAST
@given(intervals_strategy, st.data())
def test_splitting_an_interval_anywhere_changes_nothing(intervals, data):
    if not intervals:
        intervals = [(BASE, BASE + WINDOW)]
    index = data.draw(st.integers(0, len(intervals) - 1))
    start, end = intervals[index]
    cut = data.draw(
        st.one_of(st.integers(start, end), st.sampled_from([m for m in MIDNIGHTS if start <= m <= end] or [start]))
    )
    split = intervals[:index] + [(start, cut), (cut, end)] + intervals[index + 1 :]
    assert units_by_day(split) == units_by_day(intervals)


@FAST
@given(intervals_strategy)
def test_splitting_every_interval_at_every_midnight_changes_nothing(intervals):
    pieces = []
    for start, end in intervals:
        cuts = [start] + [m for m in MIDNIGHTS if start < m < end] + [end]
        pieces.extend(zip(cuts, cuts[1:], strict=False))
    assert units_by_day(pieces) == units_by_day(intervals)


@FAST
@given(intervals_strategy, st.randoms(use_true_random=False))
def test_order_and_duplication_of_intervals_change_nothing(intervals, rnd):
    shuffled = intervals + [rnd.choice(intervals) for _ in range(len(intervals))] if intervals else []
    rnd.shuffle(shuffled)
    assert units_by_day(shuffled) == units_by_day(intervals)


@FAST
@given(st.lists(an_interval(allow_empty=True), max_size=6))
def test_empty_and_reversed_intervals_contribute_nothing(intervals):
    non_empty = [(s, e) for s, e in intervals if e > s]
    assert units_by_day(intervals) == units_by_day(non_empty)
    if not non_empty:
        assert units_by_day(intervals) == {}


@FAST
@given(intervals_strategy)
def test_days_are_those_touched_and_total_units_track_total_seconds(intervals):
    result = units_by_day(intervals)
    # every day with assigned seconds is present (1 s already rounds up to 12 micro-units)
    touched = {epoch_day(s) for s, e in intervals if e > s} | {epoch_day(e - 1) for s, e in intervals if e > s}
    assert touched <= set(result)
    # the sum over days is within half a micro-unit per day of exact seconds × 10^6 / 86 400
    total_seconds = union_length(intervals)
    total_units = sum(result.values())
    assert abs(total_units * 2 * SECONDS_PER_DAY - total_seconds * 2 * MICRO_UNITS_PER_UNIT) <= SECONDS_PER_DAY * len(
        result
    )


@FAST
@given(intervals_strategy, an_interval())
def test_adding_an_interval_never_lowers_any_day(intervals, extra):
    before = units_by_day(intervals)
    after = units_by_day(intervals + [extra])
    for day, units in before.items():
        assert after[day] >= units


def test_thirty_one_full_days_print_as_31():
    start = at("2026-10-01T00:00:00")
    result = units_by_day([(start, start + 31 * SECONDS_PER_DAY)])
    assert len(result) == 31
    assert format_quantity(sum(result.values())) == "31"
    assert min(result) == date(2026, 10, 1) and max(result) == date(2026, 10, 31)
    assert all(d - timedelta(days=1) in result or d == date(2026, 10, 1) for d in result)
