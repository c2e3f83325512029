"""Rating one usage key for one UTC day from its events (ARCHITECTURE.md §4)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.events import EventType
from chalicelib.domain.proration import (
    MICRO_UNITS_PER_UNIT,
    SECONDS_PER_DAY,
    day_start_epoch,
    day_units,
    epoch_day,
    union_length,
    units_by_day,
)
from chalicelib.domain.rating import KeyDay, rate_key_day

ASSIGNED, UNASSIGNED = EventType.PACKAGE_ASSIGNED.value, EventType.PACKAGE_UNASSIGNED.value
FAST = settings(max_examples=100, deadline=None)


def at(text: str) -> int:
    """Epoch seconds of an ISO-8601 UTC datetime, e.g. '2026-10-01T18:00:00'."""
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


DAY = at("2026-10-01T00:00:00")
LEAP_DAY = at("2028-02-29T00:00:00")


def on(text: str, event_id: str) -> tuple[int, str, str]:
    return (at(text), event_id, ASSIGNED)


def off(text: str, event_id: str) -> tuple[int, str, str]:
    return (at(text), event_id, UNASSIGNED)


# --- table -----------------------------------------------------------------------------------


def test_assigned_all_day_without_events_is_one_full_unit_and_stays_assigned():
    assert rate_key_day(True, [], DAY) == KeyDay(units=1_000_000, assigned_at_end=True, ignored_events=0)


def test_not_assigned_without_events_is_nothing():
    assert rate_key_day(False, [], DAY) == KeyDay(units=0, assigned_at_end=False, ignored_events=0)


def test_assigned_at_noon_is_half_a_unit_and_assigned_at_midnight():
    assert rate_key_day(False, [on("2026-10-01T12:00:00", "e1")], DAY) == KeyDay(500_000, True, 0)


def test_assigned_from_six_to_eighteen_is_half_a_unit():
    events = [on("2026-10-01T06:00:00", "e1"), off("2026-10-01T18:00:00", "e2")]
    assert rate_key_day(False, events, DAY) == KeyDay(500_000, False, 0)


def test_unassigned_at_six_when_assigned_at_start_is_a_quarter():
    assert rate_key_day(True, [off("2026-10-01T06:00:00", "e1")], DAY) == KeyDay(250_000, False, 0)


def test_two_separate_assignments_in_a_day_add_up():
    events = [
        on("2026-10-01T00:00:00", "e1"),
        off("2026-10-01T06:00:00", "e2"),
        on("2026-10-01T12:00:00", "e3"),
        off("2026-10-01T18:00:00", "e4"),
    ]
    assert rate_key_day(False, events, DAY) == KeyDay(500_000, False, 0)


def test_assign_then_unassign_in_the_same_second_is_nothing_when_assign_id_sorts_first():
    t = "2026-10-01T09:15:00"
    # given in the "wrong" order: the rating orders by (time, eventId)
    events = [off(t, "b-unassign"), on(t, "a-assign")]
    assert rate_key_day(False, events, DAY) == KeyDay(units=0, assigned_at_end=False, ignored_events=0)


def test_same_second_pair_with_unassign_id_first_ignores_the_unassign_and_stays_assigned():
    t = "2026-10-01T18:00:00"
    events = [on(t, "b-assign"), off(t, "a-unassign")]
    assert rate_key_day(False, events, DAY) == KeyDay(units=250_000, assigned_at_end=True, ignored_events=1)


def test_event_id_not_type_breaks_ties_at_the_same_second():
    t = "2026-10-01T12:00:00"
    events = [on(t, "2"), off(t, "10")]  # "10" < "2" as strings: UNASSIGNED first, ignored
    assert rate_key_day(False, events, DAY) == KeyDay(500_000, True, 1)


def test_assigned_while_assigned_is_ignored_and_counted():
    events = [on("2026-10-01T12:00:00", "e1")]
    assert rate_key_day(True, events, DAY) == KeyDay(1_000_000, True, 1)


def test_repeated_assign_keeps_the_first_start_time():
    events = [
        on("2026-10-01T06:00:00", "e1"),
        on("2026-10-01T09:00:00", "e2"),  # ignored: the interval still starts at 06:00
        off("2026-10-01T18:00:00", "e3"),
    ]
    assert rate_key_day(False, events, DAY) == KeyDay(500_000, False, 1)


def test_unassigned_while_not_assigned_is_ignored_and_counted():
    assert rate_key_day(False, [off("2026-10-01T06:00:00", "e1")], DAY) == KeyDay(0, False, 1)


def test_repeated_unassign_keeps_the_first_end_time():
    events = [off("2026-10-01T06:00:00", "e1"), off("2026-10-01T18:00:00", "e2")]
    assert rate_key_day(True, events, DAY) == KeyDay(250_000, False, 1)


def test_every_ignored_event_is_counted():
    events = [
        on("2026-10-01T01:00:00", "e1"),
        on("2026-10-01T02:00:00", "e2"),
        off("2026-10-01T03:00:00", "e3"),
        off("2026-10-01T04:00:00", "e4"),
        off("2026-10-01T05:00:00", "e5"),
    ]
    assert rate_key_day(True, events, DAY) == KeyDay(day_units(3 * 3600), False, 4)


def test_assign_exactly_at_day_start_is_a_full_day():
    assert rate_key_day(False, [(DAY, "e1", ASSIGNED)], DAY) == KeyDay(1_000_000, True, 0)


def test_unassign_exactly_at_day_start_is_nothing():
    assert rate_key_day(True, [(DAY, "e1", UNASSIGNED)], DAY) == KeyDay(0, False, 0)


def test_assign_and_unassign_at_day_start_is_nothing():
    events = [(DAY, "e1", ASSIGNED), (DAY, "e2", UNASSIGNED)]
    assert rate_key_day(False, events, DAY) == KeyDay(0, False, 0)


def test_assign_in_the_last_second_counts_one_second():
    events = [(DAY + SECONDS_PER_DAY - 1, "e1", ASSIGNED)]
    assert rate_key_day(False, events, DAY) == KeyDay(12, True, 0)  # 11.57… rounds to 12


def test_unassign_in_the_last_second_leaves_one_second_out():
    events = [(DAY + SECONDS_PER_DAY - 1, "e1", UNASSIGNED)]
    assert rate_key_day(True, events, DAY) == KeyDay(999_988, False, 0)


def test_one_hour_is_the_rounded_micro_units_of_an_hour():
    events = [on("2026-10-01T08:00:00", "e1"), off("2026-10-01T09:00:00", "e2")]
    assert rate_key_day(False, events, DAY).units == 41_667


def test_leap_day_is_an_ordinary_day_of_86400_seconds():
    assert rate_key_day(True, [], LEAP_DAY) == KeyDay(1_000_000, True, 0)
    assert rate_key_day(False, [on("2028-02-29T12:00:00", "e1")], LEAP_DAY) == KeyDay(500_000, True, 0)
    events = [on("2028-02-29T06:00:00", "e1"), off("2028-02-29T18:00:00", "e2")]
    assert rate_key_day(False, events, LEAP_DAY) == KeyDay(500_000, False, 0)
    assert rate_key_day(True, [(LEAP_DAY + SECONDS_PER_DAY - 1, "e1", UNASSIGNED)], LEAP_DAY).units == 999_988


def test_events_may_be_any_iterable_including_a_generator():
    events = [on("2026-10-01T06:00:00", "e1"), off("2026-10-01T18:00:00", "e2")]
    assert rate_key_day(False, (e for e in events), DAY) == rate_key_day(False, events, DAY)
    assert rate_key_day(False, tuple(reversed(events)), DAY) == rate_key_day(False, events, DAY)


def test_rating_does_not_mutate_the_events_list():
    events = [off("2026-10-01T18:00:00", "e2"), on("2026-10-01T06:00:00", "e1")]
    snapshot = list(events)
    rate_key_day(False, events, DAY)
    assert events == snapshot


@pytest.mark.parametrize("days", [1, 2, 7, 31, 366])
@pytest.mark.parametrize("assigned", [True, False])
def test_chaining_days_without_events_keeps_the_state(days, assigned):
    state = assigned
    day = date(2028, 2, 1)
    for _ in range(days):
        result = rate_key_day(state, [], day_start_epoch(day))
        assert result == KeyDay(1_000_000 if assigned else 0, assigned, 0)
        state = result.assigned_at_end
        day += timedelta(days=1)
    assert state is assigned


def test_assignment_carries_across_midnight_into_the_next_day():
    first = rate_key_day(False, [on("2026-10-01T18:00:00", "e1")], DAY)
    second = rate_key_day(first.assigned_at_end, [off("2026-10-02T06:00:00", "e2")], DAY + SECONDS_PER_DAY)
    assert (first.units, second.units) == (250_000, 250_000)
    assert second.assigned_at_end is False
    assert units_by_day([(at("2026-10-01T18:00:00"), at("2026-10-02T06:00:00"))]) == {
        date(2026, 10, 1): first.units,
        date(2026, 10, 2): second.units,
    }


# --- oracles ---------------------------------------------------------------------------------


def walk_intervals(assigned_at_start, events, start, end):
    """Assigned intervals over [start, end) by walking the events in (time, eventId) order with
    the ARCHITECTURE.md §4 ignore rules; also the state at `end`."""
    intervals = []
    since = start if assigned_at_start else None
    for occurred_at, _, event_type in sorted(events, key=lambda e: (e[0], e[1])):
        if event_type == ASSIGNED and since is None:
            since = occurred_at
        elif event_type == UNASSIGNED and since is not None:
            intervals.append((since, occurred_at))
            since = None
    if since is not None:
        intervals.append((since, end))
    return intervals, since is not None


def seconds_by_last_event(assigned_at_start, events, day_start):
    """Independent of the walk: with the ignore rules, the key is assigned at second s exactly when
    the last event at or before s (in (time, eventId) order) is an ASSIGNED, or, with no such
    event, when it was assigned at the start of the day."""
    day_end = day_start + SECONDS_PER_DAY
    last_at: dict[int, str] = {}
    for occurred_at, _, event_type in sorted(events, key=lambda e: (e[0], e[1])):
        last_at[occurred_at] = event_type  # the last event of each second wins
    cuts = sorted(last_at)
    seconds = 0
    state = assigned_at_start
    previous = day_start
    for cut in cuts + [day_end]:
        if state:
            seconds += cut - previous
        if cut < day_end:
            state = last_at[cut] == ASSIGNED
        previous = cut
    return seconds, state


def ignored_by_definition(assigned_at_start, events):
    """An event is ignored when it would set the state the key is already in."""
    state = assigned_at_start
    ignored = 0
    for _, _, event_type in sorted(events, key=lambda e: (e[0], e[1])):
        wanted = event_type == ASSIGNED
        ignored += wanted == state
        state = wanted
    return ignored


# --- strategies ------------------------------------------------------------------------------

DAY_STARTS = [
    at("2026-10-01T00:00:00"),
    at("2026-12-31T00:00:00"),  # two-day spans cross the year end
    at("2028-02-28T00:00:00"),  # ... and the leap day
    LEAP_DAY,
    at("2027-03-28T00:00:00"),  # a European DST day: irrelevant in UTC
]


@st.composite
def timelines(draw, days=1, max_events=12):
    """(day_start, assigned_at_start, events) with unique event ids over `days` consecutive UTC days;
    times are biased onto midnights, whole hours and a few shared seconds to force ties."""
    day_start = draw(st.sampled_from(DAY_STARTS))
    span = days * SECONDS_PER_DAY
    edges = [k * SECONDS_PER_DAY for k in range(days)] + [k * SECONDS_PER_DAY - 1 for k in range(1, days + 1)]
    shared = draw(st.integers(0, span - 1))
    offset = st.one_of(
        st.integers(0, span - 1),
        st.sampled_from(edges + [shared]),
        st.integers(0, span // 3600 - 1).map(lambda h: h * 3600),
    )
    raw = draw(st.lists(st.tuples(offset, st.booleans()), max_size=max_events))
    order = draw(st.randoms(use_true_random=False)).sample(range(len(raw)), len(raw))  # ids not in time order
    events = [
        (day_start + t, f"ev-{order[i]:03d}", ASSIGNED if assign else UNASSIGNED) for i, (t, assign) in enumerate(raw)
    ]
    return day_start, draw(st.booleans()), events


def events_of_day(events, day_start):
    return [e for e in events if day_start <= e[0] < day_start + SECONDS_PER_DAY]


# --- properties ------------------------------------------------------------------------------


@FAST
@given(timelines())
def test_a_days_units_are_between_zero_and_one_unit(timeline):
    day_start, assigned, events = timeline
    result = rate_key_day(assigned, events, day_start)
    assert 0 <= result.units <= MICRO_UNITS_PER_UNIT
    assert 0 <= result.ignored_events <= len(events)
    assert isinstance(result.assigned_at_end, bool)


@FAST
@given(timelines())
def test_units_are_day_units_of_the_seconds_assigned(timeline):
    day_start, assigned, events = timeline
    seconds, state = seconds_by_last_event(assigned, events, day_start)
    result = rate_key_day(assigned, events, day_start)
    assert result.units == day_units(seconds)
    assert result.assigned_at_end == state


@FAST
@given(timelines())
def test_units_match_the_union_of_walked_intervals(timeline):
    day_start, assigned, events = timeline
    intervals, state = walk_intervals(assigned, events, day_start, day_start + SECONDS_PER_DAY)
    result = rate_key_day(assigned, events, day_start)
    assert result.units == day_units(union_length(intervals))
    assert result.units == units_by_day(intervals).get(epoch_day(day_start), 0)
    assert result.assigned_at_end == state


@FAST
@given(timelines())
def test_ignored_events_are_those_that_would_not_change_the_state(timeline):
    day_start, assigned, events = timeline
    assert rate_key_day(assigned, events, day_start).ignored_events == ignored_by_definition(assigned, events)


@FAST
@given(timelines(), st.randoms(use_true_random=False))
def test_input_order_changes_nothing(timeline, rnd):
    day_start, assigned, events = timeline
    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert rate_key_day(assigned, shuffled, day_start) == rate_key_day(assigned, events, day_start)


@FAST
@given(timelines(), st.randoms(use_true_random=False))
def test_deduplicating_a_shuffled_list_with_duplicates_gives_the_same_result(timeline, rnd):
    day_start, assigned, events = timeline
    noisy = events + [rnd.choice(events) for _ in range(len(events))] if events else []
    rnd.shuffle(noisy)
    deduplicated = list({event_id: (t, event_id, kind) for t, event_id, kind in noisy}.values())
    assert rate_key_day(assigned, deduplicated, day_start) == rate_key_day(assigned, events, day_start)


@FAST
@given(timelines(), st.randoms(use_true_random=False))
def test_undeduplicated_copies_change_neither_units_nor_state_only_the_ignored_count(timeline, rnd):
    # a copy sorts right after its original and repeats the state it set, so it is always ignored
    day_start, assigned, events = timeline
    copies = [rnd.choice(events) for _ in range(len(events))] if events else []
    noisy = events + copies
    rnd.shuffle(noisy)
    clean = rate_key_day(assigned, events, day_start)
    result = rate_key_day(assigned, noisy, day_start)
    assert (result.units, result.assigned_at_end) == (clean.units, clean.assigned_at_end)
    assert result.ignored_events == clean.ignored_events + len(copies)


@FAST
@given(st.integers(2, 3).flatmap(lambda days: st.tuples(st.just(days), timelines(days=days, max_events=16))))
def test_splitting_a_timeline_at_midnight_changes_nothing(days_and_timeline):
    days, (first_day, assigned, events) = days_and_timeline
    end = first_day + days * SECONDS_PER_DAY
    intervals, state_at_end = walk_intervals(assigned, events, first_day, end)
    expected = units_by_day(intervals)

    state = assigned
    for k in range(days):
        day_start = first_day + k * SECONDS_PER_DAY
        result = rate_key_day(state, events_of_day(events, day_start), day_start)
        assert result.units == expected.get(epoch_day(day_start), 0)
        state = result.assigned_at_end
    assert state == state_at_end
    assert set(expected) <= {epoch_day(first_day + k * SECONDS_PER_DAY) for k in range(days)}


@FAST
@given(timelines(days=2))
def test_state_at_end_of_day_one_is_the_state_at_start_of_day_two(timeline):
    first_day, assigned, events = timeline
    day_one = rate_key_day(assigned, events_of_day(events, first_day), first_day)
    second_day = first_day + SECONDS_PER_DAY
    quiet = rate_key_day(day_one.assigned_at_end, [], second_day)
    assert quiet.assigned_at_end == day_one.assigned_at_end
    assert quiet.units == (MICRO_UNITS_PER_UNIT if day_one.assigned_at_end else 0)


@FAST
@given(timelines(), st.sampled_from([ASSIGNED, UNASSIGNED]))
def test_a_final_event_decides_the_state_at_midnight(timeline, kind):
    day_start, assigned, events = timeline
    last = (day_start + SECONDS_PER_DAY - 1, "zzz-last", kind)
    assert rate_key_day(assigned, events + [last], day_start).assigned_at_end == (kind == ASSIGNED)


@FAST
@given(timelines())
def test_being_assigned_at_start_never_lowers_the_day(timeline):
    day_start, _, events = timeline
    assert rate_key_day(True, events, day_start).units >= rate_key_day(False, events, day_start).units
