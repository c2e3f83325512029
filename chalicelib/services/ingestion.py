"""Ingestion of provisioning events (ARCHITECTURE.md §4): one service behind SQS, the S3 drop and the CLI.

Every line is validated; good lines are appended to the event log, bad lines go to a dead-letter
record with their reason (and are counted); directory upserts update the directory (latest
`occurredAt` wins, so order does not matter); assignment events for days already rated leave a
restatement marker (the rating service re-rates from it; ingestion never re-rates in-line) and
move the data epoch back to the earliest day they fall on. Idempotent by eventId: rating reads
each event once however often it landed. A chunk's validation: the `ChunkValidator`
port (adapters/event_chunks.py); what an ingest did: services/ingest_ports.py.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from chalicelib.domain.directory import Customer, Location, Partner, Sku
from chalicelib.domain.events import ASSIGNMENT_TYPES, EventType, Verdict
from chalicelib.domain.proration import SECONDS_PER_DAY, epoch_day
from chalicelib.domain.restatement import RestatementAsked
from chalicelib.services.ingest_ports import (
    CONFLICT_KIND,
    ChunkValidator,
    IngestSummary,
    ValidatedChunk,
    conflict_reason,
)
from chalicelib.services.ports import DeadLetters, DirectoryWriter, EventIdIndex, EventLog, RatingLedger

DEFAULT_CHUNK_LINES = 100_000


class IngestionService:
    def __init__(
        self,
        event_log: EventLog,
        event_ids: EventIdIndex,
        dead_letters: DeadLetters,
        directory: DirectoryWriter,
        ledger: RatingLedger,
        validate: ChunkValidator,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._log = event_log
        self._event_ids = event_ids
        self._dead_letters = dead_letters
        self._directory = directory
        self._ledger = ledger
        self._validate_chunk = validate
        self._clock = clock

    def ingest_lines(
        self,
        lines: Iterable[str | bytes],
        source: str,
        chunk_lines: int = DEFAULT_CHUNK_LINES,
        progress: Callable[[int], None] = lambda lines_done: None,
        restate: bool = True,
    ) -> IngestSummary:
        """Validate and land every line; restate rated days the assignment events touch.

        With `restate=False` the caller restates (`restate_if_rated`) once several inputs landed.
        Raises only on infrastructure faults (then the caller retries the same input, which is
        safe: landing an event twice changes nothing)."""
        report = IngestSummary()
        # Validation (Python) of the next chunk overlaps landing (Parquet, S3) of the previous.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-land") as lander:
            landing: Future[IngestSummary] | None = None
            chunk: list[str | bytes] = []
            for line in itertools.chain(lines, [None]):
                if line is not None:
                    chunk.append(line)
                    if len(chunk) < chunk_lines:
                        continue
                if not chunk:
                    break
                validated = self._validate(chunk)
                chunk = []
                if landing is not None:
                    report.merge(landing.result())
                    progress(report.lines)
                landing = lander.submit(self._land, validated, source)
            if landing is not None:
                report.merge(landing.result())
                progress(report.lines)
        if restate:
            self.restate_if_rated(report)
        return report

    def restate_if_rated(self, landed: IngestSummary) -> RestatementAsked:
        """Ask for a re-rating from the earliest day the landed assignment events touch if a rating
        run has claimed that day already (a day claimed later reads the events itself); record the
        answer on `landed`. Also moves the data epoch back to that day, and forgets the landings
        once asked (an ingest that dies before this is asked for by the sweep)."""
        days = sorted(landed.event_days)
        asked = RestatementAsked(None, None, None)
        if days:
            self._ledger.extend_epoch(days[0])
            latest = self._ledger.latest_claimed_day()
            if latest is not None and days[0] <= latest:
                request = self._ledger.request_restatement(days[0])
                marker = self._ledger.restatement_marker()
                running = self._ledger.restatement_pass()
                asked = RestatementAsked(
                    days[0],
                    request,
                    marker.from_day if marker.pending else None,
                    running if running is not None and running.running else None,
                )
        if landed.landing_ids:
            self._ledger.landings_asked(landed.landing_ids)
        landed.restatement = asked
        landed.restated_from = asked.requested_day
        return asked

    def _validate(self, chunk: list[str | bytes]) -> ValidatedChunk:
        return self._validate_chunk(chunk, int(self._clock()))

    def _land(self, validated: ValidatedChunk, source: str) -> IngestSummary:
        """Register the ids (across all days), then land the new events in the log before
        anything is applied; the same event again is ignored, the same id with other content is
        dead-lettered as a conflict."""
        report = validated.report
        records = validated.records
        started = time.perf_counter()
        batch_id = self._log.new_batch_id()
        day_numbers = pc.divide(records["occurred_at"], SECONDS_PER_DAY)  # integer division: days since 1970
        days = pc.unique(day_numbers)
        keys = pa.array(
            [self._log.object_key(epoch_day(number * SECONDS_PER_DAY), batch_id) for number in days.to_pylist()]
        )
        object_keys = keys.take(pc.index_in(day_numbers, value_set=days))
        registrations = self._event_ids.register_rows(records["event_id"], validated.digests, object_keys.to_pylist())
        report.stage_seconds["eventId index"] += time.perf_counter() - started
        started = time.perf_counter()
        codes = {Verdict.NEW: 0, Verdict.DUPLICATE: 1, Verdict.CONFLICT: 2}
        verdicts = pa.array([codes[verdict] for verdict in registrations.verdicts], pa.int8())
        new, duplicate = pc.equal(verdicts, 0), pc.equal(verdicts, 1)
        assignment = pc.is_in(records["event_type"], pa.array(sorted(ASSIGNMENT_TYPES)))
        for row, landed_in in registrations.landed_in.items():
            validated.reject(
                validated.lines[validated.positions[row]],
                conflict_reason(records["event_id"][row].as_py(), landed_in),
                CONFLICT_KIND,
            )
        landing = records.filter(new)
        touched = pc.and_(assignment, pc.or_(new, duplicate))
        if pc.any(touched).as_py():  # found by the sweep if this ingest dies before it asks
            first_day = pc.min(day_numbers.filter(touched)).as_py()
            self._ledger.announce_landing(batch_id, epoch_day(first_day * SECONDS_PER_DAY))
            report.landing_ids.append(batch_id)
        self._log.append_table(landing, batch_id)  # logged before anything is applied
        report.stage_seconds["event log (Parquet, S3)"] += time.perf_counter() - started
        started = time.perf_counter()
        report.accepted = landing.num_rows
        report.duplicates_ingested = pc.sum(duplicate).as_py() or 0
        report.rejected = len(validated.rejected)
        key = self._dead_letters.put(validated.rejected, source)
        if key:
            report.dead_letter_keys.append(key)
        # a duplicate's first delivery may have died before asking for the restatement: ask
        # again (idempotent; at worst a re-rating that changes no number)
        report.event_days = {
            epoch_day(number * SECONDS_PER_DAY) for number in pc.unique(day_numbers.filter(touched)).to_pylist()
        }
        conflicted = {records["event_id"][row].as_py() for row in registrations.landed_in}
        report.directory_updates = self._apply_directory(
            [record for record in validated.directory_records if record["event_id"] not in conflicted]
        )
        report.stage_seconds["dead letters, directory"] += time.perf_counter() - started
        return report

    def _apply_directory(self, records: list[dict[str, Any]]) -> int:
        applied = 0
        for record in records:
            kind = record["event_type"]
            if kind == EventType.PARTNER_UPSERTED.value:
                partner = Partner(
                    record["partner_org_id"],
                    record["name"],
                    record["parent_partner_org_id"] or None,
                    record["subscription_id"] or None,
                    record["provisioning_state"] or None,
                    record["created"] or None,
                    record["billing_start_date"] or None,
                )
                self._directory.upsert_partner(partner, as_of=record["occurred_at"])
            elif kind == EventType.CUSTOMER_UPSERTED.value:
                customer = Customer(
                    record["customer_org_id"],
                    record["partner_org_id"],
                    record["external_id"],
                    record["internal"],
                    record["name"],
                )
                self._directory.upsert_customer(customer, as_of=record["occurred_at"])
            elif kind == EventType.LOCATION_UPSERTED.value:
                location = Location(
                    record["partner_org_id"], record["customer_org_id"], record["location_id"], record["name"]
                )
                self._directory.upsert_location(location, as_of=record["occurred_at"])
            elif kind == EventType.SKU_UPSERTED.value:
                sku = Sku(record["sku"], record["service_name"], record["description"])
                self._directory.upsert_sku(sku, as_of=record["occurred_at"])
            else:
                continue
            applied += 1
        return applied
