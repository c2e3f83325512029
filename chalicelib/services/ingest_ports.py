"""The ingestion service's own values and its one port besides ports.py: what one ingest did
(`IngestSummary`: lines, accepted and rejected events and why, duplicates, directory updates, the
days the assignment events touch and the restatement asked for them, where the time went;
summaries of chunks and of worker processes merge), one chunk after validation
(`ValidatedChunk`), and the validator that makes it (`ChunkValidator`: adapters/event_chunks.py,
the Arrow screen)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pyarrow as pa

from chalicelib.domain.restatement import RestatementAsked


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


CONFLICT_KIND = "eventId already ingested with other content"


def conflict_reason(event_id: str, where: str) -> str:
    return f"eventId {event_id} was already ingested with other content (in {where}); an event id names one event"


@dataclass
class ValidatedChunk:
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


ChunkValidator = Callable[[list[str | bytes], int], ValidatedChunk]
"""A chunk of lines and the time now (epoch seconds) → the chunk validated."""


def _as_dead_letter(line: str | bytes) -> str:
    """A rejected line as its dead-letter record keeps it (text, without its newline, capped)."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    return text.rstrip("\r\n")[:10_000]
