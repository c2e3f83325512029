"""No interleaving loses a restatement request (issue 22; domain/restatement.py, the marker's rule,
held by the real `usage_days` store on moto: DynamoUsageCalendar's compare-and-set).

The model: days 0..L are rated; a late event for day d obliges every day from d on to be
re-rated after it landed (day x's numbers depend on the events of every day up to x). Actors,
interleaved in any order by hypothesis:

- ingests land events (announcing the landing first), then ask — or die between the two;
- the schedule rates a new day (claiming it before it reads events);
- restatement passes start (reading the marker, then the latest claimed day), re-rate one day at
  a time, finish (settling what they saw), or die;
- the sweep asks for landings whose ingest died.

At the end every live ingest asks, the sweep runs once, and passes run one after another until
the marker is gone: then every rated day must have been re-rated after the last event that
landed for it or an earlier day. The old rule (a request for a day at or after the marker's
only kept the marker's token) fails this within a few steps.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import boto3
import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from moto import mock_aws

from chalicelib.adapters.usage_calendar import DynamoUsageCalendar, table_definition
from chalicelib.domain.restatement import Obligation, RestatementMarker
from tests.tiers import examples

pytestmark = pytest.mark.tiered  # the state machines: more examples under make test-deep (tests/tiers.py)

D0 = date(2026, 11, 1)
FIRST_RATED = 4  # days 0..4 are rated when the machine starts
MAX_DAYS_PER_PASS = 2  # bounded passes, so that they continue one another
DAYS = 8


def day(index: int) -> date:
    return D0 + timedelta(days=index)


@dataclass
class Pass:
    snapshot: int
    next: int  # the next day it re-rates
    last: int
    latest: int  # the latest claimed day it read after its snapshot


class MemoryCalendar:
    """The calendar's marker methods over one Python value (the domain's rule, no store): the
    same machine runs many more interleavings on it than on moto."""

    def __init__(self) -> None:
        self.marker = RestatementMarker()
        self.claimed: date | None = None
        self.landings: dict[str, date] = {}

    def claim(self, claimed: date, version: int) -> bool:
        self.claimed = max(self.claimed or claimed, claimed)
        return True

    def latest_claimed_day(self) -> date | None:
        return self.claimed

    def restatement_marker(self) -> RestatementMarker:
        return self.marker

    def request_restatement(self, from_day: date) -> int:
        self.marker = self.marker.requested(from_day)
        return self.marker.seq

    def settle_restatement(self, snapshot: int, through: date, finished: bool) -> RestatementMarker:
        self.marker = self.marker.passed(snapshot, through, finished)
        return self.marker

    def announce_landing(self, landing_id: str, first_day: date) -> None:
        self.landings[landing_id] = first_day

    def landings_asked(self, landing_ids) -> None:
        for landing_id in list(landing_ids):
            self.landings.pop(landing_id, None)

    def stale_landings(self, older_than: datetime) -> dict[str, date]:
        return dict(self.landings)


class Interleavings(RuleBasedStateMachine):
    on_moto = True

    def __init__(self) -> None:
        super().__init__()
        self.mock = mock_aws()
        if self.on_moto:
            self.mock.start()
            dynamodb = boto3.client("dynamodb", region_name="us-east-1")
            dynamodb.create_table(**table_definition("usage_days"))
            self.calendar = DynamoUsageCalendar(dynamodb, "usage_days")
        else:
            self.calendar = MemoryCalendar()
        self.clock = itertools.count(1)
        self.landed = [0] * DAYS  # when the last late event for each day landed
        self.rated = [0] * DAYS  # when each day was last (re-)rated
        self.latest = FIRST_RATED
        for index in range(FIRST_RATED + 1):
            assert self.calendar.claim(day(index), 1)
        self.ingests: dict[str, int] = {}  # landed, not asked yet: id → day
        self.ids = itertools.count()
        self.passes: list[Pass] = []

    def teardown(self) -> None:
        if self.on_moto:
            self.mock.stop()

    # ---- ingests ----------------------------------------------------------------------------

    @rule(index=st.integers(0, DAYS - 1))
    def land(self, index: int) -> None:
        landing = f"ingest-{next(self.ids)}"
        self.calendar.announce_landing(landing, day(index))
        self.landed[index] = next(self.clock)
        self.ingests[landing] = index

    @rule(index=st.integers(0, DAYS - 1))
    def land_and_ask(self, index: int) -> None:
        self.land(index)
        self._ask(f"ingest-{next(self.ids) - 1}")

    def _ask(self, landing: str) -> None:
        index = self.ingests.pop(landing)
        latest = self.calendar.latest_claimed_day()
        if latest is not None and day(index) <= latest:  # as IngestionService.restate_if_rated
            self.calendar.request_restatement(day(index))
        self.calendar.landings_asked([landing])

    @precondition(lambda self: self.ingests)
    @rule(data=st.data())
    def ask(self, data: st.DataObject) -> None:
        self._ask(data.draw(st.sampled_from(sorted(self.ingests))))

    @precondition(lambda self: self.ingests)
    @rule(data=st.data())
    def ingest_dies_before_asking(self, data: st.DataObject) -> None:
        del self.ingests[data.draw(st.sampled_from(sorted(self.ingests)))]

    @rule()
    def sweep(self) -> None:
        """RatingService.ask_for_stale_landings, with every landing old enough."""
        stale = self.calendar.stale_landings(datetime.now(timezone.utc) + timedelta(seconds=1))
        for first_day in sorted(set(stale.values())):
            self.calendar.request_restatement(first_day)
        self.calendar.landings_asked(stale)
        for landing in stale:
            self.ingests.pop(landing, None)  # asked for: a live ingest asking again changes nothing

    # ---- the schedule rates a new day -------------------------------------------------------

    @precondition(lambda self: self.latest < DAYS - 1)
    @rule()
    def rate_next_day(self) -> None:
        self.latest += 1
        assert self.calendar.claim(day(self.latest), 1)  # claimed, then the events are read
        self.rated[self.latest] = next(self.clock)

    # ---- restatement passes -----------------------------------------------------------------

    @rule()
    def start_pass(self) -> None:
        marker = self.calendar.restatement_marker()
        if not marker.pending:
            return
        latest = (self.calendar.latest_claimed_day() - D0).days
        start = (marker.from_day - D0).days
        if start > latest:
            self.calendar.settle_restatement(marker.seq, marker.from_day, finished=True)
            return
        self.passes.append(Pass(marker.seq, start, min(start + MAX_DAYS_PER_PASS - 1, latest), latest))

    @precondition(lambda self: any(p.next <= p.last for p in self.passes))
    @rule(data=st.data())
    def pass_rates_a_day(self, data: st.DataObject) -> None:
        running = data.draw(st.sampled_from([p for p in self.passes if p.next <= p.last]))
        self.rated[running.next] = next(self.clock)
        running.next += 1

    @precondition(lambda self: any(p.next > p.last for p in self.passes))
    @rule(data=st.data())
    def pass_finishes(self, data: st.DataObject) -> None:
        done = data.draw(st.sampled_from([p for p in self.passes if p.next > p.last]))
        self.passes.remove(done)
        self.calendar.settle_restatement(done.snapshot, day(done.last), finished=done.last >= done.latest)

    @precondition(lambda self: self.passes)
    @rule(data=st.data())
    def pass_dies(self, data: st.DataObject) -> None:
        self.passes.remove(data.draw(st.sampled_from(self.passes)))

    # ---- what must hold -----------------------------------------------------------------------

    @invariant()
    def marker_stays_small(self) -> None:
        marker = self.calendar.restatement_marker()
        days = [o.from_day for o in marker.obligations]
        assert days == sorted(set(days)), "kept obligations rise in day (one per day at most)"

    def drain(self) -> None:
        for landing in sorted(self.ingests):
            self._ask(landing)
        self.sweep()
        self.passes.clear()  # whatever was running died
        for _ in range(DAYS * 2):
            if not self.calendar.restatement_marker().pending:
                break
            self.start_pass()
            while self.passes:
                running = self.passes[0]
                while running.next <= running.last:
                    self.pass_rates_a_day_of(running)
                self.passes.remove(running)
                self.calendar.settle_restatement(
                    running.snapshot, day(running.last), finished=running.last >= running.latest
                )
        assert not self.calendar.restatement_marker().pending, "the passes never cleared the marker"
        for index in range(self.latest + 1):
            needed = max(self.landed[: index + 1])
            assert needed == 0 or self.rated[index] > needed, (
                f"day {index} was last rated at t={self.rated[index]}, before an event landed at t={needed}: lost"
            )

    def pass_rates_a_day_of(self, running: Pass) -> None:
        self.rated[running.next] = next(self.clock)
        running.next += 1


class CheckedAtTheEnd(Interleavings):
    def teardown(self) -> None:
        try:
            self.drain()
        finally:
            super().teardown()


class CheckedAtTheEndInMemory(CheckedAtTheEnd):
    on_moto = False


TestNoInterleavingLosesARequestOfTheRule = CheckedAtTheEndInMemory.TestCase
TestNoInterleavingLosesARequestOfTheRule.settings = settings(
    max_examples=examples(deep=300, quick=100), stateful_step_count=40, deadline=None
)


# No shrinking: each step is a few DynamoDB calls on moto, and shrinking a 30-step failure takes
# minutes; the failing run's steps are printed as they are.
TestNoInterleavingLosesARequestOnMoto = CheckedAtTheEnd.TestCase
TestNoInterleavingLosesARequestOnMoto.settings = settings(
    max_examples=examples(deep=15, quick=5),
    stateful_step_count=30,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


# ---- the two scenarios, step by step -------------------------------------------------------


@pytest.fixture
def calendar():
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**table_definition("usage_days"))
        yield DynamoUsageCalendar(dynamodb, "usage_days")


def test_a_request_for_a_day_the_running_pass_already_rerated_survives_its_end(calendar):
    for index in range(10):
        assert calendar.claim(day(index), 1)
    calendar.request_restatement(day(2))  # an earlier late event
    snapshot = calendar.restatement_marker()
    # the pass re-rates 2..9; meanwhile 1 000 events land for day 4, which it has re-rated
    second = calendar.request_restatement(day(4))
    after = calendar.settle_restatement(snapshot.seq, day(9), finished=True)
    assert after.pending and after.from_day == day(4), "the second request was cleared by a pass that never saw it"
    assert after.obligations == (Obligation(second, day(4)),)
    # the next pass takes it, and only then is the marker gone
    calendar.settle_restatement(calendar.restatement_marker().seq, day(9), finished=True)
    assert calendar.pending_restatement() is None


def test_a_rerun_asking_again_for_a_pending_day_obliges_a_new_pass(calendar):
    for index in range(10):
        assert calendar.claim(day(index), 1)
    first = calendar.request_restatement(day(3))
    running = calendar.restatement_marker()  # a pass under way, snapshot taken
    again = calendar.request_restatement(day(3))  # the rerun of an ingest killed before asking
    assert again > first
    assert calendar.settle_restatement(running.seq, day(9), finished=True).from_day == day(3)


def test_a_bounded_pass_moves_the_marker_past_what_it_rerated(calendar):
    for index in range(10):
        assert calendar.claim(day(index), 1)
    calendar.request_restatement(day(1))
    snapshot = calendar.restatement_marker().seq
    calendar.request_restatement(day(2))  # after the snapshot, for a day the pass re-rates
    after = calendar.settle_restatement(snapshot, day(4), finished=False)
    assert [o.from_day for o in after.obligations] == [day(2)]  # the newer one covers "from day 5" too


def test_a_marker_from_before_obligations_is_read_and_replaced(calendar):
    calendar._db.put_item(
        TableName="usage_days",
        Item={"usageDate": {"S": "#restate"}, "fromDay": {"S": day(3).isoformat()}, "token": {"S": "abc"}},
    )
    assert calendar.restatement_marker() == RestatementMarker(0, (Obligation(0, day(3)),))
    calendar.request_restatement(day(5))
    marker = calendar.restatement_marker()
    assert marker.from_day == day(3) and marker.seq == 1
    assert calendar.settle_restatement(0, day(9), finished=True).obligations == (Obligation(1, day(5)),)


def test_the_latest_claimed_day_counts_days_being_rated(calendar):
    assert calendar.latest_claimed_day() is None
    calendar.claim(day(0), 1)
    calendar.publish(day(0), 1, 0)
    calendar.claim(day(1), 1)  # being rated: claimed, not published
    assert calendar.latest_claimed_day() == day(1)
    assert calendar.latest_published_day() == day(0)
