"""Ingestion of provisioning events (ARCHITECTURE.md §4): one service behind SQS, the S3 drop and the CLI.

Every line is validated; good lines are appended to the event log, bad lines go to a dead-letter
record with their reason (and are counted); directory upserts update the directory (latest
`occurredAt` wins, so order does not matter); assignment events for days already rated leave a
restatement marker (the rating service re-rates from it; ingestion never re-rates in-line) and
move the data epoch back to the earliest day they fall on. Idempotent by eventId: rating reads
each event once however often it landed.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from chalicelib.domain.events import (
    ASSIGNMENT_TYPES,
    EventType,
    InvalidEvent,
    Verdict,
    screen_event_line,
)
from chalicelib.domain.proration import SECONDS_PER_DAY, epoch_day
from chalicelib.domain.report_rows import Customer, Partner, Sku
from chalicelib.services.ports import DeadLetters, DirectoryWriter, EventIdIndex, EventLog, RatingLedger

DEFAULT_CHUNK_LINES = 50_000


@dataclass
class IngestSummary:
    lines: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates_in_batch: int = 0
    duplicates_ingested: int = 0  # landed before (any day, any earlier input): ignored
    directory_updates: int = 0
    event_days: set[date] = field(default_factory=set)
    restated_from: date | None = None
    dead_letter_keys: list[str] = field(default_factory=list)
    # rejected lines per kind of reason (InvalidEvent.kind, or an eventId conflict)
    rejections: Counter[str] = field(default_factory=Counter)

    def merge(self, other: IngestSummary) -> None:
        self.lines += other.lines
        self.accepted += other.accepted
        self.rejected += other.rejected
        self.duplicates_in_batch += other.duplicates_in_batch
        self.duplicates_ingested += other.duplicates_ingested
        self.directory_updates += other.directory_updates
        self.event_days |= other.event_days
        self.dead_letter_keys += other.dead_letter_keys
        self.rejections.update(other.rejections)


@dataclass
class _Validated:
    """One chunk after validation: what to land, and what to say about it."""

    report: IngestSummary
    lines: list[bytes] = field(default_factory=list)
    occurred_at: list[int] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)
    digests: list[bytes] = field(default_factory=list)
    is_assignment: list[bool] = field(default_factory=list)
    directory_records: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def reject(self, line: str | bytes, reason: str, kind: str) -> None:
        self.rejected.append((_as_dead_letter(line), reason))
        self.report.rejections[kind] += 1


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
            report.restated_from = self.restate_if_rated(report.event_days)
        return report

    def restate_if_rated(self, event_days: Iterable[date]) -> date | None:
        """Ask for a re-rating from the earliest of `event_days` if that day is already rated;
        that day. Also moves the data epoch back to it."""
        days = sorted(event_days)
        if not days:
            return None
        self._ledger.extend_epoch(days[0])
        latest = self._ledger.latest_published_day()
        if latest is None or days[0] > latest:
            return None
        self._ledger.request_restatement(days[0])
        return days[0]

    def _validate(self, chunk: list[str | bytes]) -> _Validated:
        validated = _Validated(IngestSummary())
        now = int(self._clock())
        seen: dict[str, bytes] = {}  # event id → content digest, within the chunk
        for line in chunk:
            if not line.strip():
                continue
            validated.report.lines += 1
            try:
                event_id, event_type, occurred_at, record, digest = screen_event_line(line, now)
            except InvalidEvent as error:
                validated.reject(line, error.reason, error.kind)
                continue
            if event_id in seen:
                if seen[event_id] == digest:
                    validated.report.duplicates_in_batch += 1
                else:
                    validated.reject(line, _conflict_reason(event_id, "this input"), CONFLICT_KIND)
                continue
            seen[event_id] = digest
            validated.lines.append(line if isinstance(line, bytes) else line.encode("utf-8"))
            validated.occurred_at.append(occurred_at)
            validated.event_ids.append(event_id)
            validated.digests.append(digest)
            validated.is_assignment.append(event_type in ASSIGNMENT_TYPES)
            if event_type not in ASSIGNMENT_TYPES and record is not None:
                validated.directory_records.append(record)
        return validated

    def _land(self, validated: _Validated, source: str) -> IngestSummary:
        """Register the ids (across all days), then land the new events in the log before
        anything is applied; the same event again is ignored, the same id with other content is
        dead-lettered as a conflict."""
        report = validated.report
        batch_id = self._log.new_batch_id()
        verdicts = self._event_ids.register(
            (event_id, digest, self._log.object_key(epoch_day(at), batch_id))
            for event_id, digest, at in zip(validated.event_ids, validated.digests, validated.occurred_at, strict=True)
        )
        lines, occurred_at, day_numbers = [], [], set()
        for position, event_id in enumerate(validated.event_ids):
            registered = verdicts[event_id]
            if registered.verdict is Verdict.NEW:
                lines.append(validated.lines[position])
                occurred_at.append(validated.occurred_at[position])
                if validated.is_assignment[position]:
                    day_numbers.add(validated.occurred_at[position] // SECONDS_PER_DAY)
            elif registered.verdict is Verdict.DUPLICATE:
                report.duplicates_ingested += 1
                if validated.is_assignment[position]:
                    # its first delivery may have died before asking for the restatement: ask
                    # again (idempotent; at worst a re-rating that changes no number)
                    day_numbers.add(validated.occurred_at[position] // SECONDS_PER_DAY)
            else:
                validated.reject(
                    validated.lines[position], _conflict_reason(event_id, str(registered.landed_in)), CONFLICT_KIND
                )
        self._log.append_lines(lines, occurred_at, batch_id)  # logged before anything is applied
        report.accepted = len(lines)
        report.rejected = len(validated.rejected)
        key = self._dead_letters.put(validated.rejected, source)
        if key:
            report.dead_letter_keys.append(key)
        report.event_days = {epoch_day(number * SECONDS_PER_DAY) for number in day_numbers}
        conflicted = {event_id for event_id, registered in verdicts.items() if registered.verdict is Verdict.CONFLICT}
        report.directory_updates = self._apply_directory(
            [record for record in validated.directory_records if record["event_id"] not in conflicted]
        )
        return report

    def _apply_directory(self, records: list[dict[str, Any]]) -> int:
        applied = 0
        for record in records:
            kind = record["event_type"]
            if kind == EventType.PARTNER_UPSERTED.value:
                partner = Partner(record["partner_org_id"], record["name"], record["parent_partner_org_id"] or None)
                self._directory.upsert_partner(partner, as_of=record["occurred_at"])
            elif kind == EventType.CUSTOMER_UPSERTED.value:
                customer = Customer(
                    record["customer_org_id"], record["partner_org_id"], record["external_id"], record["internal"]
                )
                self._directory.upsert_customer(customer, as_of=record["occurred_at"])
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
