"""The restatement marker's rule, as pure values (domain/restatement.py). The interleavings of
requests and passes against the real store: tests/integration/test_restatement_marker.py."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.restatement import (
    Obligation,
    RestatementAsked,
    RestatementMarker,
    RestatementPass,
    compact,
)

D0 = date(2026, 11, 1)
days = st.integers(0, 30).map(lambda n: D0 + timedelta(days=n))


def test_every_request_is_an_obligation_of_its_own():
    marker = RestatementMarker().requested(D0 + timedelta(days=3))
    again = marker.requested(D0 + timedelta(days=3))
    assert again.seq == marker.seq + 1
    assert again.obligations == (Obligation(2, D0 + timedelta(days=3)),)  # the newer covers the older


def test_a_pass_settles_only_what_it_saw():
    marker = RestatementMarker().requested(D0 + timedelta(days=2))
    snapshot = marker.seq
    marker = marker.requested(D0 + timedelta(days=5))  # while the pass runs
    after = marker.passed(snapshot, D0 + timedelta(days=9), finished=True)
    assert after.obligations == (Obligation(2, D0 + timedelta(days=5)),)


def test_an_unfinished_pass_moves_what_it_saw_past_its_last_day():
    marker = RestatementMarker().requested(D0).requested(D0 + timedelta(days=10))
    after = marker.passed(marker.seq, D0 + timedelta(days=4), finished=False)
    assert after.obligations == (Obligation(1, D0 + timedelta(days=5)), Obligation(2, D0 + timedelta(days=10)))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 50), days), max_size=20))
def test_compacting_keeps_exactly_what_every_pass_needs(obligations):
    """For any pass snapshot, the earliest day it must start from is the same before and after."""
    raw = [Obligation(seq, day) for seq, day in obligations]
    kept = compact(raw)
    assert [o.from_day for o in kept] == sorted({o.from_day for o in kept})
    assert [o.seq for o in kept] == sorted({o.seq for o in kept})
    for snapshot in range(0, 52):
        # what is still owed after a pass that saw up to `snapshot` and re-rated nothing: the
        # earliest day among the obligations it did not see
        unseen = [o.from_day for o in raw if o.seq > snapshot]
        unseen_kept = [o.from_day for o in kept if o.seq > snapshot]
        assert min(unseen, default=None) == min(unseen_kept, default=None)
    assert min((o.from_day for o in raw), default=None) == min((o.from_day for o in kept), default=None)


def test_whether_a_running_pass_takes_a_request():
    now = datetime(2026, 12, 7, tzinfo=timezone.utc)
    running = RestatementPass("p", 7, D0, D0 + timedelta(days=9), 3, 10, now, now)
    assert RestatementAsked(D0, 7, D0, running).covered_by_running_pass
    assert not RestatementAsked(D0, 8, D0, running).covered_by_running_pass
    answer = RestatementAsked(D0, 8, D0, running).as_json()
    assert answer["runningPass"]["daysDone"] == 3 and answer["coveredByRunningPass"] is False
    assert RestatementAsked(None, None, None).as_json()["request"] is None
