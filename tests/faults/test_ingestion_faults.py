"""Faults in the middle of ingestion (ARCHITECTURE.md §4): the S3 put of the event log failing or its
answer lost, the dead-letter put failing, the directory write throttled, and the process
crashing between steps (after part of the event log landed, after the dead letters, half-way
through the directory upserts, between landing and restatement, half-way through a restatement).

Contract under test (IngestionService.ingest_lines): it raises on an infrastructure fault and the
caller retries the same input. After the retry, rating the days must give exactly the usage the
input describes — no event lost, none counted twice — and the directory must hold exactly the
input's partners, customers and SKUs. Expected usage is computed from the input's assignment
intervals with the domain's proration (`usage_by_day`), independently of the pipeline.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest

from chalicelib.domain.events import KEY_FIELDS
from chalicelib.local.demo import demo_events, demo_world, usage_by_day
from tests.conftest import TODAY
from tests.faults.fault_plan import ProcessCrash
from tests.readers import usage_rows

pytestmark = pytest.mark.deep  # a fault matrix: make test-deep (CI), not make test (tests/tiers.py)

YESTERDAY = TODAY - timedelta(days=1)
WORLD = demo_world(TODAY, days=4, users=24, workspaces=3, seed=31)
ON_TIME, LATE = demo_events(WORLD, seed=31)
ON_TIME_LINES = [json.dumps(event) for event in ON_TIME]
LATE_LINES = [json.dumps(event) for event in LATE]
BAD_LINES = ['{"eventType": "PACKAGE_ASSIGNED"}', "not json at all"]
DAYS = [WORLD.first_day + timedelta(days=offset) for offset in range((WORLD.last_day - WORLD.first_day).days + 1)]


def _expected_usage() -> dict[tuple, int]:
    expected: dict[tuple, int] = {}
    for day, rows in usage_by_day(WORLD.assignments).items():
        for row in rows:
            if row["units"] > 0:
                key = (day, *(row[name] or "" for name in KEY_FIELDS))
                expected[key] = expected.get(key, 0) + row["units"]
    return expected


EXPECTED = _expected_usage()


def _lake_usage(container) -> dict[tuple, int]:
    versions = container.calendar.published_versions(DAYS)
    assert sorted(versions) == DAYS, "some day is not published"
    partners = tuple(partner.org_id for partner in WORLD.partners)
    table = usage_rows(container, versions, partners).to_pylist()
    keys = Counter((row["usage_date"], *(row[name] or "" for name in KEY_FIELDS)) for row in table)
    duplicated = [key for key, count in keys.items() if count > 1]
    assert not duplicated, f"usage rows written twice: {duplicated[:3]}"
    return {(row["usage_date"], *(row[name] or "" for name in KEY_FIELDS)): row["units"] for row in table}


def _assert_exact(container) -> None:
    actual = _lake_usage(container)
    missing = {key: units for key, units in EXPECTED.items() if key not in actual}
    extra = {key: units for key, units in actual.items() if key not in EXPECTED}
    wrong = {key: (actual[key], units) for key, units in EXPECTED.items() if key in actual and actual[key] != units}
    assert not (missing or extra or wrong), (
        f"{len(missing)} usage rows lost, {len(extra)} unexpected, {len(wrong)} with other units "
        f"(e.g. {list(wrong.items())[:2] or list(missing.items())[:1] or list(extra.items())[:1]})"
    )
    assert sum(actual.values()) == sum(EXPECTED.values())
    directory = container.directory
    directory_partners = {(p.org_id, p.name, p.parent_org_id or None) for p in directory.partners()}
    assert directory_partners == {(p.org_id, p.name, p.parent_org_id or None) for p in WORLD.partners}
    customers = directory.customers_of([partner.org_id for partner in WORLD.partners])
    assert {(c.org_id, c.partner_org_id, c.external_id, c.internal) for c in customers} == {
        (c.org_id, c.partner_org_id, c.external_id, c.internal) for c in WORLD.customers
    }
    assert {(s.sku, s.service_name, s.description) for s in directory.skus()} == {
        (s.sku, s.service_name, s.description) for s in WORLD.skus
    }


def _ingest_with_retries(pipeline, lines, attempts=5):
    """The caller's contract: retry the same input until it is accepted; the failures seen. A
    crash loses everything in memory: the retry runs in a new process (freshly built services)."""
    failures = []
    for _ in range(attempts):
        try:
            return pipeline.container.ingestion.ingest_lines(list(lines), source="faults"), failures
        except ProcessCrash as crash:
            failures.append(crash)
            pipeline.restart()
        except Exception as error:  # noqa: BLE001 - an infrastructure fault surfaces; retry
            failures.append(error)
    raise AssertionError(f"ingestion never succeeded: {failures!r}")


def _table(container, which):
    name = getattr(container.settings, which)
    return lambda params: params.get("TableName") == name


def _key_starts(prefix):
    return lambda params: str(params.get("Key", "")).startswith(prefix)


def _published_day(container):
    table = container.settings.usage_days_table

    def where(params):
        item = params.get("Item") or {}
        day = (item.get("usageDate") or {}).get("S", "")
        return params.get("TableName") == table and day[:1].isdigit()

    return where


# ---- faults while landing a batch (nothing rated yet) ----------------------------------------

LANDING = [
    pytest.param(
        dict(service="s3", error="SlowDown", operations=("PutObject",), where="events/"),
        id="event-log-put-SlowDown-once",
    ),
    pytest.param(
        dict(service="s3", error="ReadTimeoutError", operations=("PutObject",), where="events/", phase="after"),
        id="event-log-put-answer-lost",
    ),
    pytest.param(
        dict(service="s3", error="InternalError", operations=("PutObject",), where="dead-letters/"),
        id="dead-letter-put-fails-once",
    ),
    pytest.param(
        dict(service="dynamodb", error="ThrottlingException", operations=("PutItem",), where="directory"),
        id="directory-write-throttled-once",
    ),
    pytest.param(
        dict(
            service="dynamodb",
            error="ProvisionedThroughputExceededException",
            operations=("PutItem",),
            where="directory",
            times=2,
            skip=3,
        ),
        id="directory-write-throttled-twice-mid-batch",
    ),
    pytest.param(
        dict(service="s3", error="crash", operations=("PutObject",), where="events/", phase="after"),
        id="crash-after-first-event-log-object",
    ),
    pytest.param(
        dict(service="s3", error="crash", operations=("PutObject",), where="dead-letters/", phase="after"),
        id="crash-after-dead-letters",
    ),
    pytest.param(
        dict(service="dynamodb", error="crash", operations=("PutItem",), where="directory", phase="after", skip=4),
        id="crash-half-way-through-directory-upserts",
    ),
]


def _rule(pipeline, spec):
    spec = dict(spec)
    where = spec.pop("where")
    if where == "directory":
        predicate = _table(pipeline.container, "directory_table")
    else:
        predicate = _key_starts(where)
    return pipeline.plan.fail(spec.pop("service"), spec.pop("error"), where=predicate, **spec)


@pytest.mark.parametrize("spec", LANDING)
def test_fault_while_landing_then_retry_loses_nothing_and_counts_nothing_twice(fresh_pipeline, spec):
    rule = _rule(fresh_pipeline, spec)
    report, failures = _ingest_with_retries(fresh_pipeline, ON_TIME_LINES + LATE_LINES + BAD_LINES)
    assert rule.fired >= 1 and len(failures) >= 1, "the fault never happened"
    assert report.rejected == len(BAD_LINES)
    container = fresh_pipeline.container
    container.rating.rate_through(YESTERDAY)
    _assert_exact(container)
    dead = [record["line"] for record in container.dead_letters.read_all()]
    assert set(BAD_LINES) <= set(dead), "a rejected line was lost"


# ---- faults while late events restate rated days ---------------------------------------------
#
# Ingestion only records the restatement (the `#restate` marker of `usage_days`); the marker's
# stream record reaches the deployed handler, which re-rates (`RatingService.restate_pending`).
# So the caller's retry is the ingestion retry for a fault while landing or marking, and the
# event source's redelivery of the stream batch (`drain_stream` again) for a fault while
# re-rating; a crash loses the process but not the stream's position (the event source mapping
# lives outside it).


def _restate_key(params):
    return (params.get("Key") or {}).get("usageDate", {}).get("S") == "#restate"


RESTATEMENT = [
    pytest.param(
        lambda p: p.plan.fail("s3", "SlowDown", operations=("PutObject",), where=_key_starts("events/")),
        id="late-event-log-put-SlowDown-once",
    ),
    pytest.param(
        lambda p: p.plan.fail(
            "dynamodb", "crash", operations=("GetItem",), where=_table(p.container, "usage_days_table")
        ),
        id="crash-between-landing-and-restatement",
    ),
    pytest.param(
        lambda p: p.plan.fail(
            "dynamodb",
            "crash",
            operations=("GetItem",),
            where=lambda params: _table(p.container, "usage_days_table")(params) and _restate_key(params),
        ),
        id="crash-between-marker-and-restatement",
    ),
    pytest.param(
        lambda p: p.plan.fail("s3", "SlowDown", operations=("PutObject",), where=_key_starts("usage/"), skip=1),
        id="lake-write-SlowDown-mid-restatement",
    ),
    pytest.param(
        lambda p: p.plan.fail(
            "dynamodb", "crash", operations=("PutItem",), where=_published_day(p.container), phase="after"
        ),
        id="crash-after-first-restated-day-published",
    ),
]


def _deliver_stream_with_retries(pipeline, attempts=5):
    """The event source's contract: a stream batch whose handler fails is delivered again (and
    nothing after it before it succeeds), to a new process after a crash; the failures seen."""
    failures = []
    for _ in range(attempts):
        try:
            pipeline.stream.drain_stream()
            pipeline.container.workflow.join(30)
            return failures
        except ProcessCrash as crash:
            failures.append(crash)
            pipeline.restart()
        except Exception as error:  # noqa: BLE001 - an infrastructure fault surfaces; redelivered
            failures.append(error)
    raise AssertionError(f"the stream batch never succeeded: {failures!r}")


@pytest.mark.parametrize("inject", RESTATEMENT)
def test_fault_while_restating_then_retry_gives_the_exact_usage(fresh_pipeline, inject):
    container = fresh_pipeline.container
    container.ingestion.ingest_lines(ON_TIME_LINES, source="on-time")
    container.rating.rate_through(YESTERDAY)
    fresh_pipeline.stream.drain_stream()  # the first publications: no report waits for them
    before = container.calendar.published_versions(DAYS)
    rule = inject(fresh_pipeline)
    report, failures = _ingest_with_retries(fresh_pipeline, LATE_LINES)
    assert report.restated_from is not None, "the late events for rated days asked for no restatement"
    assert fresh_pipeline.container.calendar.published_versions(DAYS) == before, "ingestion re-rated in-line"
    failures += _deliver_stream_with_retries(fresh_pipeline)
    container = fresh_pipeline.container  # the process that outlived the faults
    assert rule.fired >= 1 and failures, "the fault never happened"
    assert container.calendar.pending_restatement() is None, "the restatement marker was never cleared"
    after = container.calendar.published_versions(DAYS)
    assert any(after[day] > before[day] for day in DAYS), "nothing was restated"
    _assert_exact(container)
