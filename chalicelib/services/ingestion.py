"""Ingestion of provisioning events (ARCHITECTURE.md §4): one service behind SQS, the S3 drop and the CLI.

Every line is validated; good lines are appended to the event log, bad lines go to a dead-letter
record with their reason (and are counted); directory upserts update the directory (latest
`occurredAt` wins, so order does not matter); assignment events for days already rated leave a
restatement marker (the rating service re-rates from it; ingestion never re-rates in-line) and
move the data epoch back to the earliest day they fall on. Idempotent by eventId: rating reads
each event once however often it landed.
"""

from __future__ import annotations

import io
import itertools
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from chalicelib.adapters.event_screen import (
    EVENT_SCHEMA,
    WIRE_SCHEMA,
    assignment_records,
    parse_event_line,
    record_digests,
    screen_wire,
    subject_keys_all_valued,
)
from chalicelib.domain.directory import Customer, Location, Partner, Sku
from chalicelib.domain.events import ASSIGNMENT_TYPES, EventType, InvalidEvent, Verdict
from chalicelib.domain.proration import SECONDS_PER_DAY, epoch_day
from chalicelib.domain.restatement import RestatementAsked
from chalicelib.services.ports import DeadLetters, DirectoryWriter, EventIdIndex, EventLog, RatingLedger

DEFAULT_CHUNK_LINES = 100_000
_LINE_BY_LINE = 512  # a piece of a chunk this small that Arrow cannot screen goes line by line
_WIRE_OPTIONS = pj.ParseOptions(explicit_schema=WIRE_SCHEMA, unexpected_field_behavior="error")


def _one_object_per_line(chunk: list[str | bytes], start: int, end: int) -> bytes | None:
    """Lines start..end as one ASCII byte string in which every line is exactly one `{…}\\n`
    text per line start (so that Arrow's rows are the lines, in order), or None."""
    if not all(isinstance(line, bytes) for line in chunk[start:end]):
        return None
    lines = cast(list[bytes], chunk[start:end])
    if not all(map(bytes.endswith, lines[:-1], itertools.repeat(b"\n"))):
        return None
    last = lines[-1]
    data = b"".join(lines) if last.endswith(b"\n") else b"".join(lines) + b"\n"
    if not (data.isascii() and data.startswith(b"{")):
        return None
    # every line ends with its only newline, and each next line starts with "{": no blank lines
    if data.count(b"\n") != end - start or data.count(b"\n{") != end - start - 1:
        return None
    return data


@dataclass
class IngestSummary:
    lines: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates_in_batch: int = 0
    duplicates_ingested: int = 0  # landed before (any day, any earlier input): ignored
    blank_lines: int = 0  # nothing but white space: counted among the lines, skipped
    directory_updates: int = 0
    event_days: set[date] = field(default_factory=set)
    restated_from: date | None = None
    restatement: RestatementAsked | None = None  # what asking for it did (None: not asked yet)
    # landings announced to the calendar (forgotten once their restatement is asked for)
    landing_ids: list[str] = field(default_factory=list)
    dead_letter_keys: list[str] = field(default_factory=list)
    # rejected lines per kind of reason (InvalidEvent.kind, or an eventId conflict)
    rejections: Counter[str] = field(default_factory=Counter)
    # where the time went, per stage (summed over chunks and worker processes; the stages of a
    # chunk's validation overlap the landing of the previous chunk)
    stage_seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    def merge(self, other: IngestSummary) -> None:
        self.lines += other.lines
        self.accepted += other.accepted
        self.rejected += other.rejected
        self.duplicates_in_batch += other.duplicates_in_batch
        self.duplicates_ingested += other.duplicates_ingested
        self.blank_lines += other.blank_lines
        self.directory_updates += other.directory_updates
        self.event_days |= other.event_days
        self.dead_letter_keys += other.dead_letter_keys
        self.landing_ids += other.landing_ids
        self.rejections.update(other.rejections)
        for stage, seconds in other.stage_seconds.items():
            self.stage_seconds[stage] += seconds


@dataclass
class _Validated:
    """One chunk after validation: the records to land (ids unique), and what to say about it."""

    report: IngestSummary
    records: pa.Table  # EVENT_SCHEMA
    digests: list[bytes]  # record_digests(records)
    positions: list[int]  # each record's line in the chunk
    lines: list[str | bytes]  # the chunk
    directory_records: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def reject(self, line: str | bytes, reason: str, kind: str) -> None:
        self.rejected.append((_as_dead_letter(line), reason))
        self.report.rejections[kind] += 1


@dataclass
class _Screened:
    """A chunk split by the vector screen: record tables (with their lines) and lines left over."""

    tables: list[pa.Table] = field(default_factory=list)
    positions: list[pa.Array] = field(default_factory=list)
    line_by_line: list[int] = field(default_factory=list)


class IngestionService:
    def __init__(
        self,
        event_log: EventLog,
        event_ids: EventIdIndex,
        dead_letters: DeadLetters,
        directory: DirectoryWriter,
        ledger: RatingLedger,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._log = event_log
        self._event_ids = event_ids
        self._dead_letters = dead_letters
        self._directory = directory
        self._ledger = ledger
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

    def _validate(self, chunk: list[str | bytes]) -> _Validated:
        """Screen the chunk in Arrow (`screen_wire`), the lines it cannot approve one by one
        (`parse_event_line`, the one statement of the rules); then one record per eventId."""
        report = IngestSummary()
        now = int(self._clock())
        started = time.perf_counter()
        screened = _Screened()
        self._screen(chunk, 0, len(chunk), now, screened)
        report.stage_seconds["screen (Arrow)"] += time.perf_counter() - started
        started = time.perf_counter()
        rejected: list[tuple[int, str, str]] = []
        records, positions = [], []
        for position in screened.line_by_line:
            line = chunk[position]
            if not line.strip():
                report.blank_lines += 1
                continue
            try:
                records.append(parse_event_line(line, now))
                positions.append(position)
            except InvalidEvent as error:
                rejected.append((position, error.reason, error.kind))
        if records:
            screened.tables.append(pa.Table.from_pylist(records, schema=EVENT_SCHEMA))
            screened.positions.append(pa.array(positions, pa.int64()))
        report.stage_seconds["validate line by line"] += time.perf_counter() - started
        report.lines = sum(table.num_rows for table in screened.tables) + len(rejected) + report.blank_lines
        started = time.perf_counter()
        table = pa.concat_tables(screened.tables) if screened.tables else EVENT_SCHEMA.empty_table()
        position_of = pa.concat_arrays(screened.positions).to_pylist() if screened.positions else []
        digests = record_digests(table)
        report.stage_seconds["digest"] += time.perf_counter() - started
        started = time.perf_counter()
        keep = self._first_of_each_id(table, digests, position_of, report, rejected)
        if keep is not None:
            table = table.take(keep)
            digests = [digests[row] for row in keep]
            position_of = [position_of[row] for row in keep]
        validated = _Validated(report, table, digests, position_of, chunk)
        for position, reason, kind in sorted(rejected):
            validated.reject(chunk[position], reason, kind)
        directory = pc.invert(pc.is_in(table["event_type"], pa.array(sorted(ASSIGNMENT_TYPES))))
        if pc.any(directory).as_py():
            validated.directory_records = table.filter(directory).to_pylist()
        report.stage_seconds["one record per eventId"] += time.perf_counter() - started
        return validated

    def _screen(self, chunk: list[str | bytes], start: int, end: int, now: int, into: _Screened) -> None:
        """Lines start..end of the chunk through the vector screen, halving a piece Arrow cannot
        read as one row per line (a bad line, a blank one, an unusual spelling) down to
        `_LINE_BY_LINE` lines, which go line by line, as do the rows the screen cannot approve."""
        if end - start <= _LINE_BY_LINE:
            into.line_by_line.extend(range(start, end))
            return
        data = _one_object_per_line(chunk, start, end)
        wire = None
        if data is not None:
            try:
                wire = pj.read_json(io.BytesIO(data), parse_options=_WIRE_OPTIONS)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
                wire = None
            if wire is not None and (wire.num_rows != end - start or not subject_keys_all_valued(data, wire)):
                wire = None
        if wire is None:
            middle = (start + end) // 2
            self._screen(chunk, start, middle, now, into)
            self._screen(chunk, middle, end, now, into)
            return
        approved_chunks, occurred_at = screen_wire(wire, now)
        approved = approved_chunks.combine_chunks()
        positions = pa.array(range(start, end), pa.int64())
        into.tables.append(assignment_records(wire.filter(approved), occurred_at.filter(approved)))
        into.positions.append(positions.filter(approved))
        if not pc.all(approved).as_py():
            missed = pc.indices_nonzero(pc.invert(approved)).to_pylist()
            into.line_by_line.extend(start + row for row in missed)

    @staticmethod
    def _first_of_each_id(
        table: pa.Table,
        digests: list[bytes],
        position_of: list[int],
        report: IngestSummary,
        rejected: list[tuple[int, str, str]],
    ) -> list[int] | None:
        """Rows to keep so that each eventId is once (its first line); None when it already is.
        A repeat with the same digest is counted, one with another is a conflict."""
        ids = table["event_id"]
        if len(pc.unique(ids)) == table.num_rows:
            return None
        counts = table.group_by("event_id").aggregate([("event_id", "count")])
        repeated = counts.filter(pc.greater(counts["event_id_count"], 1))["event_id"]
        rows = pc.indices_nonzero(pc.is_in(ids, value_set=repeated)).to_pylist()
        id_of = dict(zip(rows, ids.take(pa.array(rows, pa.int64())).to_pylist(), strict=True))
        first: dict[str, int] = {}
        dropped = set()
        for row in sorted(rows, key=position_of.__getitem__):
            event_id = id_of[row]
            if event_id not in first:
                first[event_id] = row
                continue
            dropped.add(row)
            if digests[first[event_id]] == digests[row]:
                report.duplicates_in_batch += 1
            else:
                rejected.append((position_of[row], _conflict_reason(event_id, "this input"), CONFLICT_KIND))
        return [row for row in range(table.num_rows) if row not in dropped]

    def _land(self, validated: _Validated, source: str) -> IngestSummary:
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
                _conflict_reason(records["event_id"][row].as_py(), landed_in),
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


CONFLICT_KIND = "eventId already ingested with other content"


def _conflict_reason(event_id: str, where: str) -> str:
    return f"eventId {event_id} was already ingested with other content (in {where}); an event id names one event"


def _as_dead_letter(line: str | bytes) -> str:
    """A rejected line as its dead-letter record keeps it (text, without its newline, capped)."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    return text.rstrip("\r\n")[:10_000]
