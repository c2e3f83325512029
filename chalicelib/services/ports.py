"""The small interfaces services depend on; adapters implement them (ARCHITECTURE.md §6). Every port a
service takes is declared here, typed: reports (store, files, directory, workflow), the usage
calendar and lake, the event log and its eventId index (ingestion), rating's day replay."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from chalicelib.domain.commands import GenerationJob
from chalicelib.domain.directory import Customer, Location, Partner, Sku
from chalicelib.domain.events import Key, Registrations
from chalicelib.domain.listing import ListQuery
from chalicelib.domain.messages import RestatementRequested, RunLease
from chalicelib.domain.rating import KeyDay
from chalicelib.domain.report_formats import ReportFormat
from chalicelib.domain.report_rows import RowContext
from chalicelib.domain.reports import Report, ReportError
from chalicelib.domain.restatement import RestatementMarker, RestatementPass
from chalicelib.services.rating_ports import TouchedKeys

if TYPE_CHECKING:
    import pyarrow as pa



JsonObject = dict[str, object]  # a JSON object as the API serves it (a list item)


class DuplicateReport(Exception):
    """Create found the duplicate lock `duplicate_key` taken by `report_id`."""

    def __init__(self, report_id: str, duplicate_key: str) -> None:
        super().__init__(report_id)
        self.report_id = report_id
        self.duplicate_key = duplicate_key


class InProgressLimitReached(Exception):
    """Create would exceed the partner's cap of reports IN_PROGRESS."""


@dataclass(frozen=True)
class ReportFile:
    """An assembled report file and the usage versions it was computed from."""

    s3_key: str
    row_count: int
    sha256: str
    day_versions: dict[date, int]
    size: int | None = None  # bytes (None: a file assembled before sizes were kept)


class ReportStore(Protocol):
    def create(self, report: Report, max_in_progress: int) -> None:
        """Store a new IN_PROGRESS report and its duplicate lock atomically.

        Raises DuplicateReport or InProgressLimitReached; then nothing is written."""

    def release_stale_lock(self, partner_org_id: str, duplicate_key: str, report_id: str) -> bool: ...

    def get(self, partner_org_id: str, report_id: str) -> Report | None: ...

    def list(
        self, partner_org_id: str, query: ListQuery, after: tuple[str, str] | None, limit: int
    ) -> list[JsonObject]:
        """Up to `limit` list items (`Report.summary_json()`) matching `query`, in its order,
        strictly after `after`."""

    def sort_value(self, item: JsonObject, query: ListQuery) -> str: ...

    def complete(self, report: Report, file: ReportFile, completed: datetime) -> bool:
        """IN_PROGRESS → COMPLETED if the report still exists at its revision; else False."""

    def mark_waiting(self, report: Report, first_missing: date) -> bool:
        """Park an IN_PROGRESS report until a day is published; False if it changed meanwhile."""

    def claim_waiting(self, report: Report, lease: RunLease | None) -> bool:
        """Un-park a waiting report; exactly one concurrent claimer gets True."""

    def replace_file(self, report: Report, base_revision: int, file: ReportFile, completed: datetime) -> bool:
        """A regenerated report: COMPLETED at `base_revision` → `report.revision` with `file`."""

    def claim_regeneration(self, report: Report, lease: RunLease) -> bool:
        """One regeneration of a COMPLETED report at a time (the claim expires at `until`)."""

    def release_regeneration(self, report: Report, run: str | None = None) -> bool: ...

    def take_over_run(self, report: Report, dead_run: str, lease: RunLease) -> bool:
        """Hand a dead run's IN_PROGRESS report to the run `lease` names; one taker wins."""

    def leased(self) -> builtins.list[Report]:
        """Reports (every partner) held by a run, parked ones excepted."""

    def record_versions(self, report: Report, day_versions: dict[date, int]) -> bool:
        """Remember newer day versions of a regeneration that found identical numbers."""

    def waiting(self) -> builtins.list[Report]:
        """Waiting reports of every partner."""

    def completed_covering(self, day: date | None) -> builtins.list[Report]:
        """COMPLETED reports of every partner whose period contains `day` (None: all)."""

    def fail(self, report: Report, errors: builtins.list[ReportError]) -> bool:
        """IN_PROGRESS → FAILED (lock released) if it still exists at its revision; else False."""

    def delete(self, partner_org_id: str, report_id: str) -> Report | None:
        """Remove the report, its lock and its in-progress count; the removed report or None."""

    def overdue(self, now: datetime) -> builtins.list[Report]:
        """Reports of every partner still IN_PROGRESS after their deadline."""


class BlobStore(Protocol):
    """The report files (the reports bucket): written, copied, joined, listed, deleted,
    presigned for download, and fetched into local files (encoding a format, a diff)."""

    @property
    def bucket(self) -> str:
        """The bucket's name (a Distributed Map's ItemReader names it)."""

    def put_text(self, key: str, text: str) -> None: ...

    def delete(self, keys: Iterable[str]) -> None: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def copy(self, source_key: str, target_key: str) -> None: ...

    def concatenate(
        self, target_key: str, header: bytes, part_keys: list[str], part_sizes: Sequence[int | None] = ()
    ) -> tuple[int, str]:
        """Write header + parts as one object; returns (bytes written, sha256 hex). The parts'
        sizes, when known, let an implementation copy them where they are."""

    def download(self, key: str, path: Path) -> None:
        """The object into a local file; KeyError when it does not exist."""

    def upload(self, path: Path, key: str, content_type: str) -> tuple[int, str]:
        """A local file as object `key`: (size, sha256)."""

    def size_of(self, key: str) -> int | None: ...

    def presign_download(self, key: str, filename: str, ttl_seconds: int, content_type: str = ...) -> str: ...


class ReportEncoder(Protocol):
    """A report's CSV (as computed) → the file in the format the partner asked for."""

    def encode(self, source: Path, target: Path, file_format: ReportFormat) -> None: ...


class ReportRowsReader(Protocol):
    """A report file's rows as (row key, micro-units of QUANTITY), for a diff."""

    def quantities(
        self, path: Path, file_format: ReportFormat, key_columns: Sequence[str]
    ) -> dict[tuple[str, ...], int]: ...


class Directory(Protocol):
    def partners(self) -> list[Partner]: ...

    def customers_of(
        self, partner_org_ids: Iterable[str], customers_from: str | None = None, customers_before: str | None = None
    ) -> list[Customer]: ...

    def skus(self) -> list[Sku]: ...


class DirectorySnapshots(Protocol):
    """The directory as one immutable snapshot per version (adapters/directory_snapshot.py):
    Plan pins a version at least as new as the directory, and every shard names from it."""

    def pin(self) -> int:
        """The version of a snapshot holding at least every upsert made so far."""

    def at(self, version: int) -> Directory:
        """That snapshot (or, if it was lost, a newer one), in memory."""


class UsageCalendar(Protocol):
    def published_versions(self, days: Iterable[date]) -> dict[date, int]:
        """The published lake version of each day that has one."""

    def published(self, days: Iterable[date]) -> dict[date, tuple[int, int]]:
        """(version, usage rows written) of each published day."""

    def data_epoch(self) -> date | None:
        """The first day any event occurred on (earlier days have no usage)."""

    def latest_published_day(self) -> date | None:
        """The latest day rating has published."""

    def pending_restatement(self) -> RestatementRequested | None:
        """Where late events left the lake dirty from, if a restatement is pending."""


@dataclass(frozen=True)
class UsageSlice:
    """Which usage a report shard aggregates."""

    day_versions: dict[date, int]
    partner_org_ids: tuple[str, ...]
    customers_from: str | None  # inclusive; None: from the first customer id
    customers_before: str | None  # exclusive; None: through the last customer id
    excluded_customer_ids: tuple[str, ...] = ()  # internal customers, unless asked for
    customer_org_ids: tuple[str, ...] | None = None  # only these customers (a report's customerOrgIds)
    # Usage rows each day's object holds, as its publication recorded them: a reader that finds
    # the object missing or holding other rows fails (LakeIncomplete), never reads a silent zero.
    day_rows: dict[date, int] | None = None


@dataclass(frozen=True)
class SliceFiles:
    """A slice's usage as local Parquet files (only the row groups it can touch) and the exact
    row condition to read them with (SQL over the usage fields): what the lake hands over."""

    paths: tuple[str, ...]
    row_condition: str


class UsageLake(Protocol):
    """What report generation reads from the lake."""

    def fetch_slice(self, usage: UsageSlice) -> AbstractContextManager[SliceFiles]:
        """Fetch the slice's usage to local files, which live until the context ends. A day
        object missing or holding other rows than its publication recorded raises
        LakeIncomplete (never a silent zero)."""

    def customer_rows(self, usage: UsageSlice) -> list[tuple[str, int]]:
        """Where a shard may start and the usage rows from there: (customer id, rows) pairs of
        the slice, one per lake partition (or customer) and day; shards cut at these ids read
        whole partition objects."""


# ---- the usage pipeline: ingestion, rating, point-in-time -------------------------------


@dataclass(frozen=True)
class DayWritten:
    """What writing a day version (its usage, or its closing state) wrote: a restatement writes
    only the partitions whose rows changed and names the others' earlier objects."""

    rows: int
    partitions: int
    partitions_written: int
    bytes_written: int


class ClosingStates(Protocol):
    def read_state(self, day: date, version: int, partner_org_ids: Iterable[str] | None = None) -> pa.Table:
        """The keys assigned at the end of `day` (version `version`) and since when, of the
        orgs `partner_org_ids` only when given (their partitions alone are read)."""


class RatingLake(ClosingStates, Protocol):
    def write_day(self, day: date, version: int, usage: pa.Table, previous_version: int | None = None) -> DayWritten:
        """Write a day's usage rows as version `version`; returns the rows written."""

    def write_state(
        self, day: date, version: int, state: pa.Table, previous_version: int | None = None
    ) -> DayWritten: ...


class DayEvents(Protocol):
    def read_day(self, day: date, event_types: Iterable[str] | None = None) -> pa.Table:
        """Every logged event that occurred on `day` (of `event_types`, if given)."""

    def event_days(self) -> list[date]:
        """The days any event occurred on, ascending."""


class EventLog(Protocol):
    """Where ingestion lands accepted events, append-only, before anything is applied."""

    def new_batch_id(self) -> str: ...

    def object_key(self, day: date, batch_id: str) -> str: ...

    def append_table(self, table: pa.Table, batch_id: str | None = None) -> list[date]:
        """Validated event records (EVENT_SCHEMA columns)."""


class EventIdIndex(Protocol):
    def register_rows(
        self,
        event_ids: Sequence[str] | pa.Array | pa.ChunkedArray,
        digests: Sequence[bytes],
        object_keys: Sequence[str],
    ) -> Registrations:
        """Rows of (event_id, record digest, object it will land in), ids unique → NEW,
        DUPLICATE or CONFLICT each."""


class DeadLetters(Protocol):
    def put(self, rejected: list[tuple[str, str]], source: str) -> str | None:
        """Keep rejected (line, reason) pairs; the object key, None when nothing."""


class RatingLedger(Protocol):
    """What ingestion tells rating, durably (the `usage_days` table)."""

    def latest_claimed_day(self) -> date | None:
        """The latest day a rating run has claimed (it reads the day's events after claiming)."""

    def request_restatement(self, from_day: date) -> int:
        """Oblige a re-rating of every day from `from_day` on; the request's number."""

    def restatement_marker(self) -> RestatementMarker: ...

    def restatement_pass(self) -> RestatementPass | None: ...

    def extend_epoch(self, first_day: date) -> bool: ...

    def announce_landing(self, landing_id: str, first_day: date) -> None:
        """Events from `first_day` on are about to land (found by `stale_landings` if the ingest
        dies before it asks for their restatement)."""

    def landings_asked(self, landing_ids: Iterable[str]) -> None: ...


class RatingCalendar(Protocol):
    """What rating reads and writes in the `usage_days` table."""

    def published_versions(self, days: Iterable[date]) -> dict[date, int]: ...

    def latest_published_day(self) -> date | None: ...

    def claim(self, day: date, version: int) -> bool:
        """Take `version` of `day` for this run; False if another run took it."""

    def publish(self, day: date, version: int, row_count: int) -> bool: ...

    def latest_claimed_day(self) -> date | None: ...

    def restatement_marker(self) -> RestatementMarker: ...

    def settle_restatement(self, snapshot: int, through: date, finished: bool) -> RestatementMarker:
        """What a pass that read the marker at `snapshot` re-rated (domain/restatement.py)."""

    def record_restatement_pass(self, progress: RestatementPass) -> None: ...

    def stale_landings(self, older_than: datetime) -> dict[str, date]: ...

    def request_restatement(self, from_day: date) -> int: ...

    def landings_asked(self, landing_ids: Iterable[str]) -> None: ...


class DirectoryWriter(Protocol):
    def upsert_partner(self, partner: Partner, as_of: int | None = None) -> None: ...

    def upsert_customer(self, customer: Customer, as_of: int | None = None) -> None: ...

    def upsert_sku(self, sku: Sku, as_of: int | None = None) -> None: ...

    def upsert_location(self, location: Location, as_of: int | None = None) -> None: ...


class DayReplay(Protocol):
    """Rating's table work (adapters/rating_sql.py): the keys a day's events touch, in replay
    order, and the day's usage and closing state built from the domain's verdict per key."""

    def empty_state(self) -> pa.Table: ...

    def touched(self, state: pa.Table, events: pa.Table) -> TouchedKeys: ...

    def tables(
        self, day: date, touched: TouchedKeys, rated: Sequence[tuple[Key, KeyDay]]
    ) -> tuple[pa.Table, pa.Table]: ...


class ReportRenderer(Protocol):
    def render(self, files: SliceFiles, context: RowContext, excluded_customer_ids: tuple[str, ...]) -> tuple[str, int]:
        """The report rows of the files' usage (grouped and sorted by GROUP_KEYS of the type,
        zero rows and the excluded customers left out) as CSV text without a header, and how
        many rows it holds."""


class Workflow(Protocol):
    def start(self, job: GenerationJob, name: str) -> None:
        """Begin one generation run (`job`, see domain.commands.job_of); returns at once.
        Starting the same `name` again does nothing."""

    def is_running(self, name: str) -> bool:
        """Is the run (execution) `name` alive? False for one that ended or never started."""

    def stop(self, report_id: str) -> None:
        """Stop every running generation of the report (it was deleted)."""
