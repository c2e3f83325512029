"""The steps of report generation (ARCHITECTURE.md §5): Plan, Aggregate (one shard), Assemble,
Finalize, MarkFailed.

Each step takes its message and returns its result as frozen values (domain/workflow_messages.py),
so the same code runs as a Lambda task of the Step Functions state machine and in the local
in-process runner; the workflow's edge (runtime/workflow_edge.py `run_step`) reads them out of
the JSON Step Functions carries and writes them back.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from chalicelib.domain.commands import GenerationJob
from chalicelib.domain.errors import (
    REPORT_ERROR_DESCRIPTIONS,
    DataNotAvailable,
    LakeIncomplete,
    ReportErrorCode,
    ReportGone,
)
from chalicelib.domain.events import KEY_FIELDS
from chalicelib.domain.messages import RunLease
from chalicelib.domain.point_in_time import snapshot_cells
from chalicelib.domain.regeneration import missing_days
from chalicelib.domain.report_formats import ReportFormat
from chalicelib.domain.report_rows import CsvRenderer, RowContext
from chalicelib.domain.reports import Report, ReportError, ReportStatus, ReportType
from chalicelib.domain.sharding import (
    INLINE_MAX_SHARDS,
    Shard,
    StateBudget,
    carries_shards_inline,
    plan_shards,
    shard_list_key,
)
from chalicelib.domain.workflow_messages import (
    AggregateInput,
    AssembledFile,
    AssembleInput,
    FinalizeInput,
    FinalizeOutcome,
    FinalizeResult,
    MarkFailedInput,
    MarkFailedResult,
    PartWritten,
    PlanGone,
    PlanInput,
    PlanReady,
    PlanResult,
    PlanWaiting,
    ShardItem,
    ShardList,
    shard_list_json,
)
from chalicelib.services.point_in_time import PointInTimeCounts
from chalicelib.services.ports import (
    BlobStore,
    Directory,
    DirectorySnapshots,
    ReportEncoder,
    ReportFile,
    ReportRenderer,
    ReportStore,
    UsageCalendar,
    UsageLake,
    UsageSlice,
)
from chalicelib.services.report_naming import partner_scope, report_customers, row_context

CUSTOMER_FIELD = KEY_FIELDS.index("customer_org_id")  # where a usage key holds its customer
# Failures by error name (a domain exception's class name) → the code a FAILED report carries.
ERROR_CODES: dict[str, ReportErrorCode] = {DataNotAvailable.__name__: ReportErrorCode.DATA_NOT_AVAILABLE}
# Errors whose message tells the partner what is wrong (which day): it joins the description.
EXPLAINED_ERRORS = frozenset({DataNotAvailable.__name__, LakeIncomplete.__name__})


@dataclass(frozen=True)
class GenerationPolicy:
    data_wait_hours: int
    shard_rows: int
    inline_max_shards: int = INLINE_MAX_SHARDS  # more shards: a Distributed Map (domain/sharding.py)


class GenerationSteps:
    def __init__(
        self,
        store: ReportStore,
        blobs: BlobStore,
        directory: Directory,
        calendar: UsageCalendar,
        lake: UsageLake,
        renderer: ReportRenderer,
        policy: GenerationPolicy,
        snapshots: PointInTimeCounts,
        encoder: ReportEncoder,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        on_finished: Callable[[str, str], object] | None = None,
        directory_snapshots: DirectorySnapshots | None = None,
    ) -> None:
        """`on_finished(partner_org_id, report_id)` is called after a run published its file (or
        found the numbers unchanged): a day restated while the run worked on the older version
        found the report busy, so it is looked at again then (RegenerationService.catch_up)."""
        self._store = store
        self._blobs = blobs
        self._directory = directory
        self._calendar = calendar
        self._lake = lake
        self._renderer = renderer
        self._policy = policy
        self._snapshots = snapshots
        self._encoder = encoder
        self._clock = clock
        self._on_finished = on_finished
        # Given: Plan pins one directory snapshot version in every shard (`directoryVersion`),
        # and each shard names its rows from it; else each step reads `directory`.
        self._directory_snapshots = directory_snapshots

    # ---- Plan ---------------------------------------------------------------------------

    def plan(self, message: PlanInput) -> PlanResult:
        """Check data readiness and split the report's customers into shards.

        `PlanGone` when the run is no longer wanted; `PlanWaiting` when the report is parked
        until a day is published (its publication starts a new run); or `PlanReady` with the
        pinned day versions and the shards, or, past what an inline Map carries
        (`carries_shards_inline`), a `ShardList` (the shards as a JSON array in S3, under the
        run's parts prefix). Each shard carries the pinned directory snapshot version when the
        steps have snapshots."""
        job = message.job
        report = self._store.get(job.partner_org_id, job.report_id)
        if not job.is_run_of(report):
            return PlanGone(job)
        assert report is not None
        if report.request.point_in_time:  # a snapshot waits for no day: one shard counts it
            pinned = self._pin_directory()
            return PlanReady(job, {}, {}, self._items(plan_shards([], self._policy.shard_rows), pinned))
        days = list(report.period.days())
        epoch = self._calendar.data_epoch()
        published = self._calendar.published(days)
        missing = missing_days(days, published, epoch)
        if missing and not job.is_regeneration:
            if self._clock() >= report.gives_up_waiting_at(timedelta(hours=self._policy.data_wait_hours)):
                raise DataNotAvailable(
                    f"Usage for {len(missing)} day(s) of the period, first {missing[0].isoformat()}, "
                    f"was not published within {self._policy.data_wait_hours} hours"
                )
            if not self._store.mark_waiting(report, missing[0]):
                return PlanGone(job)
            # The day may have been published between the check and parking: look once more.
            published = self._calendar.published(days)
            missing = missing_days(days, published, epoch)
            if missing:
                return PlanWaiting(job, missing[0])
            if not self._store.claim_waiting(report, RunLease(job.run_name, self._clock())):
                return PlanGone(job)  # a publication started a new run
        if missing:
            raise DataNotAvailable(f"Usage for {missing[0].isoformat()} is no longer published")
        # Sizes count internal customers too: a shard may come out a little smaller, never wrong.
        versions = {day: version for day, (version, _) in published.items()}
        day_rows = {day: rows for day, (_, rows) in published.items()}
        pinned = self._pin_directory()  # one directory version for the whole report
        _, org_ids = partner_scope(report, self._directory_of(pinned))
        usage = UsageSlice(
            versions, tuple(org_ids), None, None, day_rows=day_rows, customer_org_ids=report.request.customer_org_ids
        )
        budget = StateBudget.of(PlanReady(job, versions, day_rows, ()).carried_json(), job.parts_prefix)
        if report.report_type is ReportType.PARTNER:
            # PARTNER rows sum over customers: one shard holds them all.
            shards = plan_shards([], self._policy.shard_rows)
        else:
            rows = self._lake.customer_rows(usage)
            shards = plan_shards(rows, self._policy.shard_rows, max_shards=budget.max_shards())
        items = self._items(shards, pinned)
        if len(items) == 1 and report.request.file_format.is_default:
            # One shard writes the whole file: straight to the report's key, Assemble copies nothing.
            items = (replace(items[0], file_key=job.object_key(report.request.file_format)),)
        listed = shard_list_json(items)
        if carries_shards_inline(listed, budget, self._policy.inline_max_shards):
            return PlanReady(job, versions, day_rows, items)
        # A Distributed Map reads the list from S3 (its ItemReader); MarkFailed, Finalize and a
        # delete remove it with the parts.
        key = shard_list_key(job.parts_prefix)
        self._blobs.put_text(key, json.dumps(listed, separators=(",", ":")))
        if not job.is_run_of(self._store.get(job.partner_org_id, job.report_id)):
            self._blobs.delete([key])  # deleted meanwhile: its run may be stopped before any cleanup
            return PlanGone(job)
        return PlanReady(job, versions, day_rows, ShardList(self._blobs.bucket, key, len(items)))

    @staticmethod
    def _items(shards: list[Shard], directory_version: int | None) -> tuple[ShardItem, ...]:
        return tuple(ShardItem(shard, directory_version) for shard in shards)

    # ---- Aggregate (one shard) ----------------------------------------------------------

    def aggregate_shard(self, message: AggregateInput) -> PartWritten:
        """Aggregate one shard's slice of the lake into a CSV part (no header) in S3."""
        job, item = message.job, message.shard
        report = self._require(job)
        directory = self._directory_of(item.directory_version)
        if report.request.point_in_time:
            return self._count_snapshot(job, report, directory)
        low, high = item.shard.customers_from, item.shard.customers_before
        partner, org_ids = partner_scope(report, directory)
        usage = UsageSlice(
            day_versions=dict(message.day_versions),
            partner_org_ids=tuple(org_ids),
            customers_from=low,
            customers_before=high,
            day_rows=None if message.day_rows is None else dict(message.day_rows),
            customer_org_ids=report.request.customer_org_ids,
        )

        def naming() -> tuple[RowContext, tuple[str, ...]]:
            customers, internal = report_customers(report, directory, org_ids, low, high)
            return row_context(report, partner, customers, directory), tuple(sorted(internal))

        # The directory is read while the lake's day files download: neither waits for the other.
        with ThreadPoolExecutor(max_workers=1) as pool:
            named = pool.submit(naming)
            with self._lake.fetch_slice(usage) as files:
                context, excluded = named.result()
                text, rows = self._renderer.render(files, context, excluded)
        if item.shard.index == 0:  # the first part carries the header: one part is the whole file
            text = CsvRenderer().render([context.header()]) + text
        part_key = item.file_key or f"{job.parts_prefix}part-{item.shard.index:05d}.csv"
        return self._put_part(job, part_key, text, rows)

    def _count_snapshot(self, job: GenerationJob, report: Report, directory: Directory) -> PartWritten:
        """A point-in-time report's one part: the allocations open at its `asOf` (ARCHITECTURE.md §3)."""
        assert report.request.as_of is not None
        partner, org_ids = partner_scope(report, directory)
        open_now = self._snapshots.open_at(report.request.as_of, org_ids)
        customers, internal = report_customers(report, directory, org_ids, None, None)
        chosen = report.request.customer_org_ids
        open_now = {
            key: since
            for key, since in open_now.items()
            if key[CUSTOMER_FIELD] not in internal and (chosen is None or key[CUSTOMER_FIELD] in chosen)
        }
        context = row_context(report, partner, customers, directory)
        rows = snapshot_cells(context, open_now)
        renderer = CsvRenderer()
        text = renderer.render([context.header()]) + renderer.render(rows)
        return self._put_part(job, f"{job.parts_prefix}part-00000.csv", text, len(rows))

    def _put_part(self, job: GenerationJob, part_key: str, text: str, rows: int) -> PartWritten:
        body = text.encode("utf-8")
        self._blobs.put_text(part_key, text)
        self._still_wanted(job, [part_key])
        return PartWritten(part_key, rows, hashlib.sha256(body).hexdigest(), len(body))

    # ---- Assemble -----------------------------------------------------------------------

    def assemble(self, message: AssembleInput) -> AssembledFile:
        """Join header + parts in shard order into the report's CSV; count rows, hash bytes. A
        report asked for in another format (csv.gz, parquet) is encoded from that CSV."""
        job = message.job
        file_format = self._require(job).request.file_format
        parts = sorted(message.parts, key=lambda part: part.part_key)
        key = job.object_key(file_format)
        csv_key = key if file_format.is_default else f"{job.parts_prefix}report.csv"
        size: int | None
        if len(parts) == 1:  # already the whole file, hashed by its shard: copy it in S3 unless it is there
            if parts[0].part_key != csv_key:
                self._blobs.copy(parts[0].part_key, csv_key)
            size, sha256 = parts[0].bytes, parts[0].sha256
        else:
            size, sha256 = self._blobs.concatenate(
                csv_key, b"", [part.part_key for part in parts], [part.bytes for part in parts]
            )
        if not file_format.is_default:
            size, sha256 = self._encode(csv_key, key, file_format)
        elif size is None:  # a part made before parts carried their size (a run across an upgrade)
            size = self._blobs.size_of(key)
        self._still_wanted(job, [key])
        # Parts stay until Finalize or MarkFailed, so a retried Assemble can read them again.
        return AssembledFile(key, sum(part.rows for part in parts), sha256, size)

    def _encode(self, csv_key: str, key: str, file_format: ReportFormat) -> tuple[int, str]:
        """The report's CSV encoded as `file_format` into object `key`: (size, sha256)."""
        with tempfile.TemporaryDirectory(prefix="wbr-encode-") as folder:
            source, target = Path(folder) / "report.csv", Path(folder) / f"report.{file_format.extension}"
            self._blobs.download(csv_key, source)
            self._encoder.encode(source, target, file_format)
            return self._blobs.upload(target, key, file_format.content_type)

    # ---- Finalize -----------------------------------------------------------------------

    def finalize(self, message: FinalizeInput) -> FinalizeResult:
        """Publish the file if the report still exists at this run's revision (never resurrect a
        deleted report). A regeneration replaces the file only when the numbers changed."""
        job, assembled = message.job, message.file
        file = ReportFile(
            assembled.s3_key, assembled.row_count, assembled.sha256, dict(message.day_versions), assembled.size
        )
        report = self._store.get(job.partner_org_id, job.report_id)
        now = self._clock()
        outcome: FinalizeOutcome = "gone"
        if job.already_published(report, file.s3_key, file.sha256):
            outcome = "regenerated" if job.is_regeneration else "completed"  # a retried Finalize
        elif report is not None and job.is_regeneration and job.is_run_of(report):
            if file.sha256 == report.sha256:
                outcome = "unchanged" if self._store.record_versions(report, file.day_versions) else "gone"
            else:
                regenerated = replace(report, revision=job.revision)
                base = job.base_revision if job.base_revision is not None else report.revision
                if self._store.replace_file(regenerated, base, file, now):
                    # the old revision's file stays until the report is deleted: a diff reads it
                    outcome = "regenerated"
        elif report is not None and job.is_run_of(report) and self._store.complete(report, file, now):
            outcome = "completed"
        result = FinalizeResult(outcome)
        if not result.completed:
            self._blobs.delete([file.s3_key])
        self._blobs.delete(self._blobs.list_keys(job.parts_prefix))
        if outcome != "gone" and self._on_finished is not None:
            self._on_finished(job.partner_org_id, job.report_id)
        if report is not None and outcome == "completed":
            return FinalizeResult(outcome, file.row_count, round((now - report.created).total_seconds(), 3))
        return result

    # ---- MarkFailed ---------------------------------------------------------------------

    def mark_failed(self, message: MarkFailedInput) -> MarkFailedResult:
        """Any failure (`message.failure`): status FAILED with errors[{code, description}], parts
        removed. A failed regeneration leaves the COMPLETED report and its file as they were."""
        job, failure = message.job, message.failure
        code = ERROR_CODES.get(failure.error, ReportErrorCode.GENERATION_FAILED)
        description = REPORT_ERROR_DESCRIPTIONS[code]
        if failure.error in EXPLAINED_ERRORS and failure.message is not None:
            description = f"{description} {failure.message}"
        report = self._store.get(job.partner_org_id, job.report_id)
        failed = False
        if job.is_regeneration:
            if report is not None and job.is_run_of(report):
                self._store.release_regeneration(report, job.run_name)
            # its file may exist if Finalize failed: it never became the report's file
            self._blobs.delete(job.object_keys())
        else:
            if report is not None and report.revision == job.revision:
                failed = self._store.fail(report, [ReportError(code, description)])
            # an assembled file that never became the report's (Finalize failed after Assemble)
            current = self._store.get(job.partner_org_id, job.report_id) if not failed else None
            kept = current.s3_key if current is not None and current.status is ReportStatus.COMPLETED else None
            self._blobs.delete([key for key in job.object_keys() if key != kept])
        self._blobs.delete(self._blobs.list_keys(job.parts_prefix))
        return MarkFailedResult(failed, int(code))

    # ---- helpers ------------------------------------------------------------------------

    def _still_wanted(self, job: GenerationJob, written: list[str]) -> None:
        """After writing: if the report went away meanwhile (deleted; its run may have been
        stopped, so no later step cleans up), remove what was just written."""
        if not job.is_run_of(self._store.get(job.partner_org_id, job.report_id)):
            self._blobs.delete(written)
            raise ReportGone(job.report_id)

    def _require(self, job: GenerationJob) -> Report:
        report = self._store.get(job.partner_org_id, job.report_id)
        if report is None or not job.is_run_of(report):
            raise ReportGone(job.report_id)
        return report

    def _pin_directory(self) -> int | None:
        """What Plan gives every shard: the directory snapshot version the report names from
        (pinned like the day versions), or None when steps read the directory itself."""
        if self._directory_snapshots is None:
            return None
        return self._directory_snapshots.pin()

    def _directory_of(self, version: int | None) -> Directory:
        """The directory a shard names from: its pinned snapshot `version`, else the directory
        itself (a shard planned without a pin, e.g. by an older Plan)."""
        if self._directory_snapshots is None or version is None:
            return self._directory
        return self._directory_snapshots.at(version)
