"""What a usage day's publication sets in motion (ARCHITECTURE.md §4, §5), through the real services.

- A report over a day of the data window not published yet is parked (IN_PROGRESS, `waitingFor`),
  then started by the day's publication (its `usage_days` stream record, delivered to the deployed
  handler `api.events.on_usage_day_published`; rating calls nobody in-process), or by the sweeper
  when that event is lost, or FAILED with DATA_NOT_AVAILABLE once `DATA_WAIT_HOURS` have passed.
- A late event leaves a restatement marker (ingestion re-rates nothing in-line); the marker's stream
  record re-rates the days, and their publications regenerate the COMPLETED reports whose numbers
  changed (same id, revision + 1, new file, old file removed); the others keep their revision and file.
- Publications delivered twice start nothing twice; deleted reports are never resurrected and
  leave no file behind.

Everything runs on the session's demo data (ingested, rated and restated by the real pipeline),
with the container's own workflow runner; the stream is drained by hand (`deliver_publications`),
as Lambda's event source mapping would deliver it; nothing of chalicelib is replaced.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import threading
from datetime import date, datetime, timedelta, timezone

import pytest

from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE, Caller
from chalicelib.domain.commands import GenerationJob
from chalicelib.domain.errors import ReportErrorCode
from chalicelib.domain.messages import DayPublished
from chalicelib.domain.partners import PartnerTree
from chalicelib.domain.proration import SECONDS_PER_DAY, day_start_epoch, format_quantity
from chalicelib.domain.report_rows import RowContext, neutralise_cell
from chalicelib.domain.reports import ReportStatus, report_object_key
from chalicelib.local.demo import (
    DEMO_ADMIN,
    DEMO_PARTNER,
    DEMO_SUB_PARTNER,
    Assignment,
    demo_events,
    usage_by_day,
)
from chalicelib.local.events import usage_days_stream
from chalicelib.services.sweeper import Sweeper
from tests.conftest import TODAY, deliver_publications, unpublish_day
from tests.oracles import aggregate_reference, cells, rate_day
from tests.readers import object_exists, object_text

pytestmark = pytest.mark.usefixtures("streams_routed")  # drained by hand: moto's regional streams endpoint

CALLER = Caller(DEMO_PARTNER, DEMO_ADMIN, frozenset({READ_SCOPE, WRITE_SCOPE}))
LAST_DAY = TODAY - timedelta(days=1)  # the last day of the demo window, rated and restated
JOIN_SECONDS = 60


# ---- helpers ----------------------------------------------------------------------------------


def _create(container, start: date, end: date, report_type: str = "USER", **extra) -> str:
    body = {"billingStartDate": start.isoformat(), "billingEndDate": end.isoformat(), "type": report_type, **extra}
    report, created = container.reports.create(CALLER, body, "WBR_regeneration")
    assert created
    return report.report_id


def _stored(container, report_id: str):
    return container.report_store.get(DEMO_PARTNER, report_id)


def _objects_of(container, report_id: str) -> list[str]:
    return container.blobs.list_keys(f"reports/{DEMO_PARTNER}/{report_id}/")


def _rows(container, report) -> list[list[str]]:
    return list(csv.reader(io.StringIO(object_text(container, report.s3_key))))[1:]


def _expected_rows(world, assignments, report) -> list[list[str]]:
    """The report's rows computed independently: pure reference aggregation over the world's
    assignment intervals (prorated by the domain), as test_report_generation does."""
    tree = PartnerTree(world.partners)
    scope = tree.report_scope(DEMO_PARTNER, report.request.sub_partner_org_id)
    orgs = set(tree.subtree(scope.org_id))
    customers = {
        c.org_id: c for c in world.customers if c.partner_org_id in orgs and (report.request.internal or not c.internal)
    }
    usage = [
        row
        for day, rows in usage_by_day(assignments).items()
        if report.period.start <= day <= report.period.end
        for row in rows
        if row["customer_org_id"] in customers
    ]
    context = RowContext(report.report_type, scope, customers, {s.sku: s for s in world.skus})
    return [
        [neutralise_cell(cell) for cell in cells(context, row)] for row in aggregate_reference(report.report_type, usage)
    ]


def _unpublished_day(container) -> date:
    """A day inside the data window (after the data epoch), made unpublished by deleting its
    `usage_days` item; its neighbours stay published. (Days before the epoch count as published
    empty, so they can no longer serve.) The seeded data's own stream records are delivered
    first, so later drains carry only what the test does."""
    deliver_publications(container)
    day = TODAY - timedelta(days=15)
    unpublish_day(container, day)
    return day


def _parked(container, day: date, days_after: int = 4) -> tuple[str, date]:
    """A USER report over `day` .. `day + days_after`, its first run ended parked on `day`."""
    end = day + timedelta(days=days_after)
    report_id = _create(container, day, end)
    container.workflow.join(JOIN_SECONDS)
    parked = _stored(container, report_id)
    assert parked.status is ReportStatus.IN_PROGRESS
    assert parked.waiting_for == day
    assert parked.s3_key is None and parked.row_count is None
    assert container.blobs.list_keys("parts/") == []
    assert _objects_of(container, report_id) == []
    assert [r.report_id for r in container.report_store.waiting()] == [report_id]
    return report_id, end


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key_of_event(event: dict) -> tuple[str, ...]:
    subject = event["subject"]
    return (
        event["partnerOrgId"],
        event["customerOrgId"],
        event["locationId"],
        event["subscriptionId"],
        event["sku"],
        subject["type"],
        subject.get("userId", ""),
        subject.get("subscriberId", ""),
        subject.get("workspaceId", ""),
    )


def _key_of_assignment(a: Assignment) -> tuple[str, ...]:
    return (
        a.partner_org_id,
        a.customer_org_id,
        a.location_id,
        a.subscription_id,
        a.sku,
        a.subject_type,
        a.user_id,
        a.subscriber_id,
        a.workspace_id,
    )


def _steady_user(world, since: date, day: date) -> Assignment:
    """A user of a direct (non-internal) customer of the demo partner, assigned from before `since`
    through the end of the demo window, the only assignment of its key, with no event of its key
    from `day` on (so an UNASSIGNED at noon of `day` halves that day and empties the later ones)."""
    on_time, late = demo_events(world)  # what load_demo ingested (seeded, deterministic)
    busy = {
        _key_of_event(e)
        for e in on_time + late
        if e["eventType"].startswith("PACKAGE_") and e["occurredAt"][:10] >= day.isoformat()
    }
    direct = {c.org_id for c in world.customers if c.partner_org_id == DEMO_PARTNER and not c.internal}
    keys = [_key_of_assignment(a) for a in world.assignments]
    window_end = day_start_epoch(world.last_day) + SECONDS_PER_DAY
    for a in world.assignments:
        key = _key_of_assignment(a)
        if (
            a.subject_type == "USER"
            and a.customer_org_id in direct
            and len(a.intervals) == 1
            and a.intervals[0][0] < day_start_epoch(since)
            and a.intervals[0][1] == window_end
            and key not in busy
            and keys.count(key) == 1
        ):
            return a
    raise AssertionError("the demo world has no steadily assigned user")


def _unassign_at_noon(container, world, assignment: Assignment, day: date, event_id: str):
    """Ingest a late PACKAGE_UNASSIGNED of `assignment` at noon of the rated `day` (restates it);
    returns the world's assignments as they are now (the truth after the event)."""
    noon = day_start_epoch(day) + SECONDS_PER_DAY // 2
    event = {
        "eventId": event_id,
        "eventType": "PACKAGE_UNASSIGNED",
        "occurredAt": _iso(noon),
        "partnerOrgId": assignment.partner_org_id,
        "customerOrgId": assignment.customer_org_id,
        "locationId": assignment.location_id,
        "subscriptionId": assignment.subscription_id,
        "sku": assignment.sku,
        "subject": {"type": "USER", "userId": assignment.user_id, "subscriberId": assignment.subscriber_id},
    }
    versions_before = container.calendar.published_versions([day])
    ingested = container.ingestion.ingest_lines([json.dumps(event)], source="late-test")
    assert ingested.accepted == 1 and ingested.rejected == 0
    assert ingested.restated_from == day
    # Ingestion only leaves the marker; nothing is re-rated in-line.
    assert container.calendar.pending_restatement().from_day == day
    assert container.calendar.published_versions([day]) == versions_before
    # The marker's stream record re-rates; the publications it makes regenerate.
    deliver_publications(container)
    assert container.calendar.pending_restatement() is None
    clipped = dataclasses.replace(assignment, intervals=((assignment.intervals[0][0], noon),))
    return [clipped if a is assignment else a for a in world.assignments]


def _units(quantity: str) -> int:
    whole, _, fraction = quantity.partition(".")
    return int(whole) * 1_000_000 + int((fraction + "000000")[:6])


# ---- 1. parked, then started by the day's publication -----------------------------------------


def test_parked_report_is_started_by_the_days_publication(seeded, world):
    day = _unpublished_day(seeded)
    report_id, _ = _parked(seeded, day)

    rated = rate_day(seeded.rating, day)  # publishes the day; nobody is called in-process
    assert rated.day == day and seeded.calendar.published_versions([day]) == {day: rated.version}
    seeded.workflow.join(JOIN_SECONDS)
    still = _stored(seeded, report_id)
    assert still.status is ReportStatus.IN_PROGRESS and still.waiting_for == day

    assert deliver_publications(seeded) > 0  # the stream record reaches the handler, which wakes it

    done, url = seeded.reports.get(CALLER, report_id)
    assert done.status is ReportStatus.COMPLETED, done.errors
    assert done.waiting_for is None and done.revision == 1
    assert done.day_versions == seeded.calendar.published_versions(list(done.period.days()))
    expected = _expected_rows(world, world.assignments, done)
    assert expected, "the period must hold usage for the check to mean anything"
    assert _rows(seeded, done) == expected
    assert done.row_count == len(expected)
    assert done.sha256 == hashlib.sha256(object_text(seeded, done.s3_key).encode()).hexdigest()
    assert done.s3_key == report_object_key(DEMO_PARTNER, report_id, 1) and done.s3_key in url
    assert seeded.report_store.waiting() == []
    assert seeded.blobs.list_keys("parts/") == []


# ---- 2. the sweeper as the safety net ------------------------------------------------------------


def test_sweeper_starts_a_parked_report_whose_publication_event_was_lost(seeded, world):
    day = _unpublished_day(seeded)
    report_id, _ = _parked(seeded, day)

    # The day is published, but its stream record never reaches the handler (not drained).
    rated = rate_day(seeded.rating, day)
    assert seeded.calendar.published_versions([day]) == {day: rated.version}
    seeded.workflow.join(JOIN_SECONDS)
    still = _stored(seeded, report_id)
    assert still.status is ReportStatus.IN_PROGRESS and still.waiting_for == day

    result = seeded.sweeper.sweep()
    assert result.started == [report_id]
    assert result.failed == [] and result.regenerated == []
    seeded.workflow.join(JOIN_SECONDS)

    done = _stored(seeded, report_id)
    assert done.status is ReportStatus.COMPLETED, done.errors
    assert done.waiting_for is None
    expected = _expected_rows(world, world.assignments, done)
    assert _rows(seeded, done) == expected and done.row_count == len(expected) > 0
    assert seeded.blobs.list_keys("parts/") == []
    # A second sweep finds nothing to do.
    again = seeded.sweeper.sweep()
    assert (again.started, again.failed, again.regenerated) == ([], [], [])
    # ... nor does the publication's record when it arrives after all.
    assert deliver_publications(seeded) > 0
    assert _stored(seeded, report_id) == done
    assert _objects_of(seeded, report_id) == [done.s3_key]


def test_sweeper_fails_a_report_parked_past_the_data_wait(seeded):
    day = _unpublished_day(seeded)
    report_id, end = _parked(seeded, day)

    hours = seeded.settings.data_wait_hours
    later = datetime.now(timezone.utc) + timedelta(hours=hours, minutes=1)
    sweeper = Sweeper(seeded.report_store, seeded.blobs, seeded.regeneration, hours, clock=lambda: later)
    result = sweeper.sweep()
    assert result.failed == [report_id] and result.started == []

    failed, url = seeded.reports.get(CALLER, report_id)
    assert failed.status is ReportStatus.FAILED and url is None
    assert [error.code for error in failed.errors] == [ReportErrorCode.DATA_NOT_AVAILABLE]
    assert int(failed.errors[0].code) == 1001
    assert day.isoformat() in failed.errors[0].description
    assert f"{hours} hours" in failed.errors[0].description
    assert seeded.report_store.waiting() == []
    assert seeded.blobs.list_keys("parts/") == [] and _objects_of(seeded, report_id) == []

    # Its duplicate lock went with it: the same request makes a new report.
    again = _create(seeded, day, end)
    assert again != report_id
    seeded.workflow.join(JOIN_SECONDS)
    assert _stored(seeded, again).waiting_for == day  # still unpublished: parked again


# ---- 3. a restatement regenerates what changed ------------------------------------------------------


def test_restatement_regenerates_exactly_the_reports_whose_numbers_changed(seeded, world):
    start = TODAY - timedelta(days=10)
    user = _steady_user(world, since=start, day=LAST_DAY)
    changed_id = _create(seeded, start, LAST_DAY, "USER")
    not_covering_id = _create(seeded, start, LAST_DAY - timedelta(days=1), "USER")
    sub_partner_id = _create(seeded, start, LAST_DAY, "CUSTOMER", subPartnerOrgId=DEMO_SUB_PARTNER)
    seeded.workflow.join(JOIN_SECONDS)
    before = {report_id: _stored(seeded, report_id) for report_id in (changed_id, not_covering_id, sub_partner_id)}
    for report in before.values():
        assert report.status is ReportStatus.COMPLETED and report.revision == 1, report.errors
    old_rows = _rows(seeded, before[changed_id])
    assert old_rows == _expected_rows(world, world.assignments, before[changed_id])
    old_version = seeded.calendar.published_versions([LAST_DAY])[LAST_DAY]
    assert before[changed_id].day_versions[LAST_DAY] == old_version

    truth = _unassign_at_noon(seeded, world, user, LAST_DAY, "late-unassign-regeneration")
    new_version = seeded.calendar.published_versions([LAST_DAY])[LAST_DAY]
    assert new_version == old_version + 1

    # The report over the user: same id, revision 2, a new file; the r1 file stays (a diff
    # against revision 1 reads it) until the report is deleted.
    regenerated, url = seeded.reports.get(CALLER, changed_id)
    assert regenerated.status is ReportStatus.COMPLETED, regenerated.errors
    assert regenerated.revision == 2
    assert regenerated.s3_key == report_object_key(DEMO_PARTNER, changed_id, 2)
    assert regenerated.s3_key.endswith("/r2.csv")
    assert object_exists(seeded, before[changed_id].s3_key)
    assert _objects_of(seeded, changed_id) == [before[changed_id].s3_key, regenerated.s3_key]
    assert url and regenerated.s3_key in url
    text = object_text(seeded, regenerated.s3_key)
    assert regenerated.sha256 == hashlib.sha256(text.encode()).hexdigest() != before[changed_id].sha256
    new_rows = _rows(seeded, regenerated)
    assert new_rows == _expected_rows(world, truth, regenerated)
    assert regenerated.row_count == len(new_rows) == len(old_rows)
    assert regenerated.day_versions == seeded.calendar.published_versions(list(regenerated.period.days()))
    assert regenerated.day_versions[LAST_DAY] == new_version
    # ... and the file differs in that user's row only, by half a day less.
    differing = [(old, new) for old, new in zip(old_rows, new_rows, strict=True) if old != new]
    assert len(differing) == 1
    old, new = differing[0]
    header = list(csv.reader(io.StringIO(text)))[0]
    user_column, quantity_column = header.index("USER_ID"), header.index("QUANTITY")
    assert old[user_column] == new[user_column] == user.user_id
    assert _units(old[quantity_column]) - _units(new[quantity_column]) == 500_000
    assert [c for i, c in enumerate(old) if i != quantity_column] == [
        c for i, c in enumerate(new) if i != quantity_column
    ]
    assert new[quantity_column] == format_quantity(_units(old[quantity_column]) - 500_000)

    # What the restatement changed, as the diff against revision 1 says it: that row, -0.5.
    diff = seeded.report_diffs.diff(CALLER, changed_id, {"revision": "1"})
    lines = list(csv.reader(io.StringIO(diff.csv)))
    assert lines[0][0] == "CHANGE" and lines[0][-3:] == ["OLD_QUANTITY", "NEW_QUANTITY", "DIFFERENCE"]
    assert len(lines) == 2 and lines[1][0] == "CHANGED" and user.user_id in lines[1]
    assert lines[1][-3:] == [old[quantity_column], new[quantity_column], "-0.5"]
    assert diff.summary["rowsChanged"] == 1 and diff.summary["rowsAdded"] == diff.summary["rowsRemoved"] == 0
    assert diff.summary["difference"] == "-0.5" and diff.summary["against"] == {"id": changed_id, "revision": 1}

    # A report not covering the day: untouched.
    untouched = _stored(seeded, not_covering_id)
    assert untouched == before[not_covering_id]
    assert object_exists(seeded, untouched.s3_key)

    # A report covering the day whose numbers did not change: revision and file kept, the day's
    # recorded version moved to the new one (so it is not stale any more).
    same = _stored(seeded, sub_partner_id)
    assert same.status is ReportStatus.COMPLETED and same.revision == 1
    assert (same.s3_key, same.sha256, same.row_count) == (
        before[sub_partner_id].s3_key,
        before[sub_partner_id].sha256,
        before[sub_partner_id].row_count,
    )
    assert same.s3_key.endswith("/r1.csv") and object_exists(seeded, same.s3_key)
    assert _objects_of(seeded, sub_partner_id) == [same.s3_key]
    assert same.day_versions[LAST_DAY] == new_version
    assert same.day_versions == seeded.calendar.published_versions(list(same.period.days()))

    assert seeded.blobs.list_keys("parts/") == []
    # Everything is in step with the lake: a sweep regenerates nothing.
    swept = seeded.sweeper.sweep()
    assert (swept.started, swept.failed, swept.regenerated) == ([], [], [])

    # ---- 4a. the same publication delivered again starts nothing ----
    replay = seeded.regeneration.on_day_published(DayPublished(LAST_DAY, new_version))
    assert (replay.started, replay.regenerated) == ([], [])
    seeded.workflow.join(JOIN_SECONDS)
    assert _stored(seeded, changed_id) == regenerated
    files = [before[changed_id].s3_key, regenerated.s3_key]  # every revision's file is kept
    assert _objects_of(seeded, changed_id) == files
    # ... and so does the whole stream delivered once more from its start (the marker included).
    replayed = usage_days_stream(seeded.dynamodb, seeded.dynamodb_streams, seeded.settings.usage_days_table)
    assert replayed.drain_stream() > 0
    seeded.workflow.join(JOIN_SECONDS)
    assert seeded.calendar.published_versions([LAST_DAY]) == {LAST_DAY: new_version}
    assert _stored(seeded, changed_id) == regenerated
    assert _stored(seeded, sub_partner_id) == same
    assert _objects_of(seeded, changed_id) == files
    # Deleting the report removes every revision's file.
    seeded.reports.delete(CALLER, changed_id)
    assert _objects_of(seeded, changed_id) == []


def test_restatement_of_several_days_leaves_the_report_on_the_latest_versions(seeded, world):
    """A late event for D restates D and every later day: one publication per day, in a row. The
    report must end up built on the newest version of each of them (ARCHITECTURE.md §4–§6: it never
    mixes a restated D with the superseded D+1), without waiting for the sweeper."""
    start = TODAY - timedelta(days=10)
    day = LAST_DAY - timedelta(days=3)
    user = _steady_user(world, since=start, day=day)
    report_id = _create(seeded, start, LAST_DAY, "USER")
    seeded.workflow.join(JOIN_SECONDS)
    before = _stored(seeded, report_id)
    assert before.status is ReportStatus.COMPLETED, before.errors

    versions_before = seeded.calendar.published_versions(list(before.period.days()))
    truth = _unassign_at_noon(seeded, world, user, day, "late-unassign-several-days")
    seeded.workflow.join(JOIN_SECONDS)
    restated = seeded.calendar.published_versions(list(before.period.days()))
    assert {d for d in restated if restated[d] != versions_before[d]} == {
        day + timedelta(days=n) for n in range((LAST_DAY - day).days + 1)
    }

    after = _stored(seeded, report_id)
    assert after.status is ReportStatus.COMPLETED and after.revision >= 2
    published = seeded.calendar.published_versions(list(after.period.days()))
    stale = {d: (after.day_versions.get(d), v) for d, v in published.items() if after.day_versions.get(d) != v}
    assert stale == {}, f"built on superseded versions (recorded, published): {stale}"
    assert _rows(seeded, after) == _expected_rows(world, truth, after)
    # the file of every revision it went through stays (a diff against any of them works)
    assert _objects_of(seeded, report_id) == [
        report_object_key(DEMO_PARTNER, report_id, revision) for revision in range(1, after.revision + 1)
    ]
    assert seeded.blobs.list_keys("parts/") == []


# ---- 4b. a regeneration whose report is deleted meanwhile leaves nothing ------------------------


@pytest.mark.parametrize(
    ("step", "when"),
    [("plan", "before"), ("aggregate_shard", "before"), ("assemble", "after"), ("finalize", "before")],
)
def test_report_deleted_during_its_regeneration_leaves_no_file(seeded, world, monkeypatch, step, when):
    start = LAST_DAY - timedelta(days=2)
    user = _steady_user(world, since=start, day=LAST_DAY)
    report_id = _create(seeded, start, LAST_DAY, "USER")
    seeded.workflow.join(JOIN_SECONDS)
    assert _stored(seeded, report_id).status is ReportStatus.COMPLETED

    # The report is deleted (through the API's service) while its regeneration is at `step`.
    real = getattr(seeded.generation, step)
    deleted = threading.Event()

    def delete_meanwhile():
        if not deleted.is_set():
            deleted.set()
            seeded.reports.delete(CALLER, report_id)

    def step_with_delete(message):
        if not message.job.is_regeneration:
            return real(message)
        if when == "before":
            delete_meanwhile()
            return real(message)
        result = real(message)
        delete_meanwhile()
        return result

    monkeypatch.setattr(seeded.generation, step, step_with_delete)
    _unassign_at_noon(seeded, world, user, LAST_DAY, f"late-unassign-delete-{step}")
    seeded.workflow.join(JOIN_SECONDS)

    assert deleted.is_set(), "the regeneration never reached the step"
    assert _stored(seeded, report_id) is None
    assert _objects_of(seeded, report_id) == []
    assert seeded.blobs.list_keys("parts/") == []
    assert seeded.report_store.completed_covering(None) == []


# ---- 5. a parked report deleted before its day is published -------------------------------------


def test_parked_report_deleted_then_day_published_starts_nothing(seeded, world):
    day = _unpublished_day(seeded)
    report_id, end = _parked(seeded, day)
    seeded.reports.delete(CALLER, report_id)
    assert _stored(seeded, report_id) is None
    assert seeded.report_store.waiting() == []

    rated = rate_day(seeded.rating, day)
    assert deliver_publications(seeded) > 0  # its record reaches the real handler
    assert _stored(seeded, report_id) is None
    assert seeded.blobs.list_keys("reports/") == []
    assert seeded.blobs.list_keys("parts/") == []
    # The publication delivered once more still finds nothing to start.
    replay = seeded.regeneration.on_day_published(DayPublished(day, rated.version))
    assert (replay.started, replay.regenerated) == ([], [])
    seeded.workflow.join(JOIN_SECONDS)
    assert seeded.blobs.list_keys("reports/") == []

    # Its lock and in-progress slot went with it: the same request makes a new report, which
    # now completes at once (the day is published).
    again = _create(seeded, day, end)
    assert again != report_id
    seeded.workflow.join(JOIN_SECONDS)
    done = _stored(seeded, again)
    assert done.status is ReportStatus.COMPLETED and done.waiting_for is None
    assert done.row_count == len(_expected_rows(world, world.assignments, done)) > 0


# ---- a regeneration whose start fails gives its claim back --------------------------------------


def test_a_failed_start_releases_the_regeneration_claim(seeded, monkeypatch):
    """If starting the run fails (throttled, denied), the claim must not block the report until
    it expires: the next publication, sweep or catch-up may start it at once."""
    report_id = _create(seeded, LAST_DAY - timedelta(days=5), LAST_DAY, "CUSTOMER")
    seeded.workflow.join(JOIN_SECONDS)
    report = _stored(seeded, report_id)
    assert report.status is ReportStatus.COMPLETED, report.errors
    version = seeded.calendar.published_versions([LAST_DAY])[LAST_DAY]
    assert seeded.calendar.publish(LAST_DAY, version + 1, 1)  # a restatement nobody announced

    def refuse(job, name):
        raise RuntimeError("StartExecution throttled")

    monkeypatch.setattr(seeded.workflow, "start", refuse)
    with pytest.raises(RuntimeError):
        seeded.regeneration.catch_up(DEMO_PARTNER, report_id)
    with pytest.raises(RuntimeError):
        seeded.regeneration.regenerate_stale("regen-test", LAST_DAY)

    started: list[GenerationJob] = []
    monkeypatch.setattr(seeded.workflow, "start", lambda job, name: started.append(job))
    assert seeded.regeneration.catch_up(DEMO_PARTNER, report_id) == [report_id]
    assert [job.report_id for job in started] == [report_id]
    # and that claim, now held by a started run, keeps a second start out
    assert seeded.regeneration.regenerate_stale("regen-test", LAST_DAY) == []
    assert _stored(seeded, report_id).status is ReportStatus.COMPLETED


def test_restating_one_partners_day_rewrites_only_its_partitions(seeded, world):
    """A late event of one partner restates the day as a new version that writes that partner's
    partitions (usage and closing state) and names every other partition's earlier object."""
    from chalicelib.adapters.usage_lake_layout import MANIFEST, day_prefix, state_prefix

    user = _steady_user(world, since=LAST_DAY, day=LAST_DAY)
    old = seeded.calendar.published_versions([LAST_DAY])[LAST_DAY]

    def manifest(prefix: str) -> list[dict]:
        body = seeded.s3.get_object(Bucket=seeded.settings.lake_bucket, Key=prefix + MANIFEST)["Body"].read()
        return json.loads(body)["partitions"]

    before = {p["id"]: p for p in manifest(day_prefix(LAST_DAY, old))}
    assert len({p["partnerOrgId"] for p in before.values()}) >= 3  # the demo tree: three orgs with usage
    _unassign_at_noon(seeded, world, user, LAST_DAY, "late-unassign-one-partition")
    new = seeded.calendar.published_versions([LAST_DAY])[LAST_DAY]
    assert new == old + 1
    for prefix in (day_prefix, state_prefix):
        after = manifest(prefix(LAST_DAY, new))
        rewritten = {p["partnerOrgId"] for p in after if p["key"].startswith(prefix(LAST_DAY, new))}
        assert rewritten == {user.partner_org_id}, prefix.__name__
        if prefix is day_prefix:
            kept = [p for p in after if p["partnerOrgId"] != user.partner_org_id]
            assert kept and all(p == before[p["id"]] for p in kept)  # the same objects, rows, hashes
