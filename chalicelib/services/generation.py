"""The steps of report generation (ARCHITECTURE.md §5), as plain functions over JSON-able state.

Each step takes the state the workflow carries and returns what it adds, so the same code runs
as a Lambda task of the Step Functions state machine and in the local in-process runner.
State: ``{"job": GenerationJob, ...}``: the edge (workflow.run_step, for the Lambda handlers and
the local runner) reads the job out of the JSON Step Functions carries, and Step Functions'
``$.error`` as the `StepFailure` MarkFailed is told; Plan hands the job on, and the edge
carries it as the JSON it came as.
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
from typing import Any

from chalicelib.domain.commands import GenerationJob, StepFailure
from chalicelib.domain.errors import (
    REPORT_ERROR_DESCRIPTIONS,
    DataNotAvailable,
    LakeIncomplete,
    ReportErrorCode,
    ReportGone,
)
from chalicelib.domain.events import KEY_FIELDS
from chalicelib.domain.messages import RunLease
from chalicelib.domain.partners import PartnerTree
from chalicelib.domain.point_in_time import snapshot_cells
from chalicelib.domain.regeneration import missing_days
from chalicelib.domain.report_formats import ReportFormat
from chalicelib.domain.report_rows import CsvRenderer, Customer, Partner, RowContext
from chalicelib.domain.reports import (
    Report,
    ReportError,
    ReportStatus,
    ReportType,
    by_day_from_json,
    by_day_json,
    report_object_key,
    report_parts_prefix,
)
from chalicelib.domain.sharding import (
    INLINE_MAX_SHARDS,
    StateBudget,
    carries_shards_inline,
    plan_shards,
    shard_list_key,
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

    def plan(self, state: dict[str, Any]) -> dict[str, Any]:
        """Check data readiness and split the report's customers into shards.

        Returns ``{"job", "gone": True}`` when the run is no longer wanted; ``"ready": False``
        when the report is parked until a day is published (its publication starts a new run);
        or ``"ready": True`` with ``"dayVersions"`` (pinned) and ``"shards"``, or, past what an
        inline Map carries (`carries_shards_inline`), ``"shardList": {"bucket", "key"}`` (the
        shards as a JSON array in S3, under the run's parts prefix) and ``"shardCount"``. Each
        shard carries the pinned directory snapshot version (``"directoryVersion"``) when the
        steps have snapshots."""
        return {"job": state["job"], **self._plan(state["job"])}

    def _plan(self, job: GenerationJob) -> dict[str, Any]:
        report = self._store.get(job.partner_org_id, job.report_id)
        if not _is_run_of(report, job):
            return {"gone": True, "ready": False}
        assert report is not None
        if report.request.point_in_time:  # a snapshot waits for no day: one shard counts it
            pinned = self._pin_directory()
            return {
                "gone": False,
                "ready": True,
                "dayVersions": {},
                "dayRows": {},
                "shards": [{**shard.to_json(), **pinned} for shard in plan_shards([], self._policy.shard_rows)],
            }
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
                return {"gone": True, "ready": False}
            # The day may have been published between the check and parking: look once more.
            published = self._calendar.published(days)
            missing = missing_days(days, published, epoch)
            if missing:
                return {"gone": False, "ready": False, "waitingFor": missing[0].isoformat()}
            if not self._store.claim_waiting(report, RunLease(job.run_name, self._clock())):
                return {"gone": True, "ready": False}  # a publication started a new run
        if missing:
            raise DataNotAvailable(f"Usage for {missing[0].isoformat()} is no longer published")
        # Sizes count internal customers too: a shard may come out a little smaller, never wrong.
        versions = {day: version for day, (version, _) in published.items()}
        day_rows = {day: rows for day, (_, rows) in published.items()}
        pinned = self._pin_directory()  # one directory version for the whole report
        _, org_ids = self._partner_scope(report, self._directory_of(pinned))
        usage = UsageSlice(
            versions, tuple(org_ids), None, None, day_rows=day_rows, customer_org_ids=report.request.customer_org_ids
        )
        planned: dict[str, Any] = {
            "gone": False,
            "ready": True,
            "dayVersions": by_day_json(versions),
            "dayRows": by_day_json(day_rows),
        }
        budget = StateBudget.of({"job": job.to_json(), **planned}, _parts_prefix(job))
        if report.report_type is ReportType.PARTNER:
            # PARTNER rows sum over customers: one shard holds them all.
            shards = plan_shards([], self._policy.shard_rows)
        else:
            rows = self._lake.customer_rows(usage)
            shards = plan_shards(rows, self._policy.shard_rows, max_shards=budget.max_shards())
        items = [{**shard.to_json(), **pinned} for shard in shards]
        if len(items) == 1 and report.request.file_format.is_default:
            # One shard writes the whole file: straight to the report's key, Assemble copies nothing.
            items[0]["fileKey"] = _object_key(job, report.request.file_format)
        if carries_shards_inline(items, budget, self._policy.inline_max_shards):
            return {**planned, "shards": items}
        # A Distributed Map reads the list from S3 (its ItemReader); MarkFailed, Finalize and a
        # delete remove it with the parts.
        key = shard_list_key(_parts_prefix(job))
        self._blobs.put_text(key, json.dumps(items, separators=(",", ":")))
        if not _is_run_of(self._store.get(job.partner_org_id, job.report_id), job):
            self._blobs.delete([key])  # deleted meanwhile: its run may be stopped before any cleanup
            return {"gone": True, "ready": False}
        return {**planned, "shardList": {"bucket": self._blobs.bucket, "key": key}, "shardCount": len(items)}

    # ---- Aggregate (one shard) ----------------------------------------------------------

    def aggregate_shard(self, state: dict[str, Any]) -> dict[str, Any]:
        """Aggregate one shard's slice of the lake into a CSV part (no header) in S3."""
        job: GenerationJob = state["job"]
        shard = state["shard"]
        report = self._require(job)
        directory = self._directory_of(shard)
        if report.request.point_in_time:
            return self._count_snapshot(job, report, directory)
        low, high = shard["customersFrom"], shard["customersBefore"]
        partner, org_ids = self._partner_scope(report, directory)
        usage = UsageSlice(
            day_versions=by_day_from_json(state["dayVersions"]),
            partner_org_ids=tuple(org_ids),
            customers_from=low,
            customers_before=high,
            day_rows=by_day_from_json(state["dayRows"]) if "dayRows" in state else None,
            customer_org_ids=report.request.customer_org_ids,
        )

        def naming() -> tuple[RowContext, tuple[str, ...]]:
            customers, internal = self._customers(report, org_ids, low, high, directory)
            return _row_context(report, partner, customers, directory), tuple(sorted(internal))

        # The directory is read while the lake's day files download: neither waits for the other.
        with ThreadPoolExecutor(max_workers=1) as pool:
            named = pool.submit(naming)
            with self._lake.fetch_slice(usage) as files:
                context, excluded = named.result()
                text, rows = self._renderer.render(files, context, excluded)
        if shard["index"] == 0:  # the first part carries the header: one part is the whole file
            text = CsvRenderer().render([context.header()]) + text
        part_key = shard.get("fileKey") or f"{_parts_prefix(job)}part-{shard['index']:05d}.csv"
        return self._put_part(job, part_key, text, rows)

    def _count_snapshot(self, job: GenerationJob, report: Report, directory: Directory) -> dict[str, Any]:
        """A point-in-time report's one part: the allocations open at its `asOf` (ARCHITECTURE.md §3)."""
        assert report.request.as_of is not None
        partner, org_ids = self._partner_scope(report, directory)
        open_now = self._snapshots.open_at(report.request.as_of, org_ids)
        customers, internal = self._customers(report, org_ids, None, None, directory)
        chosen = report.request.customer_org_ids
        open_now = {
            key: since
            for key, since in open_now.items()
            if key[CUSTOMER_FIELD] not in internal and (chosen is None or key[CUSTOMER_FIELD] in chosen)
        }
        context = _row_context(report, partner, customers, directory)
        rows = snapshot_cells(context, open_now)
        renderer = CsvRenderer()
        text = renderer.render([context.header()]) + renderer.render(rows)
        return self._put_part(job, f"{_parts_prefix(job)}part-00000.csv", text, len(rows))

    def _put_part(self, job: GenerationJob, part_key: str, text: str, rows: int) -> dict[str, Any]:
        body = text.encode("utf-8")
        self._blobs.put_text(part_key, text)
        self._still_wanted(job, [part_key])
        return {"partKey": part_key, "rows": rows, "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body)}

    # ---- Assemble -----------------------------------------------------------------------

    def assemble(self, state: dict[str, Any]) -> dict[str, Any]:
        """Join header + parts in shard order into the report's CSV; count rows, hash bytes. A
        report asked for in another format (csv.gz, parquet) is encoded from that CSV."""
        job: GenerationJob = state["job"]
        file_format = self._require(job).request.file_format
        parts = sorted(state["parts"], key=lambda part: part["partKey"])
        key = _object_key(job, file_format)
        csv_key = key if file_format.is_default else f"{_parts_prefix(job)}report.csv"
        size: int | None
        if len(parts) == 1:  # already the whole file, hashed by its shard: copy it in S3 unless it is there
            if parts[0]["partKey"] != csv_key:
                self._blobs.copy(parts[0]["partKey"], csv_key)
            size, sha256 = parts[0].get("bytes"), parts[0]["sha256"]
        else:
            size, sha256 = self._blobs.concatenate(
                csv_key, b"", [part["partKey"] for part in parts], [part.get("bytes") for part in parts]
            )
        if not file_format.is_default:
            size, sha256 = self._encode(csv_key, key, file_format)
        elif size is None:  # a part made before parts carried their size (a run across an upgrade)
            size = self._blobs.size_of(key)
        self._still_wanted(job, [key])
        # Parts stay until Finalize or MarkFailed, so a retried Assemble can read them again.
        return {"s3Key": key, "rowCount": sum(part["rows"] for part in parts), "sha256": sha256, "size": size}

    def _encode(self, csv_key: str, key: str, file_format: ReportFormat) -> tuple[int, str]:
        """The report's CSV encoded as `file_format` into object `key`: (size, sha256)."""
        with tempfile.TemporaryDirectory(prefix="wbr-encode-") as folder:
            source, target = Path(folder) / "report.csv", Path(folder) / f"report.{file_format.extension}"
            self._blobs.download(csv_key, source)
            self._encoder.encode(source, target, file_format)
            return self._blobs.upload(target, key, file_format.content_type)

    # ---- Finalize -----------------------------------------------------------------------

    def finalize(self, state: dict[str, Any]) -> dict[str, Any]:
        """Publish the file if the report still exists at this run's revision (never resurrect a
        deleted report). A regeneration replaces the file only when the numbers changed."""
        job: GenerationJob = state["job"]
        assembled = state["file"]
        file = ReportFile(
            assembled["s3Key"],
            assembled["rowCount"],
            assembled["sha256"],
            by_day_from_json(state["dayVersions"]),
            assembled.get("size"),
        )
        report = self._store.get(job.partner_org_id, job.report_id)
        now = self._clock()
        outcome = "gone"
        if _already_published(report, job, file):
            outcome = "regenerated" if job.is_regeneration else "completed"  # a retried Finalize
        elif report is not None and job.is_regeneration and _is_run_of(report, job):
            if file.sha256 == report.sha256:
                outcome = "unchanged" if self._store.record_versions(report, file.day_versions) else "gone"
            else:
                regenerated = replace(report, revision=job.revision)
                base = job.base_revision if job.base_revision is not None else report.revision
                if self._store.replace_file(regenerated, base, file, now):
                    # the old revision's file stays until the report is deleted: a diff reads it
                    outcome = "regenerated"
        elif report is not None and _is_run_of(report, job) and self._store.complete(report, file, now):
            outcome = "completed"
        if outcome not in ("completed", "regenerated"):
            self._blobs.delete([file.s3_key])
        self._blobs.delete(self._blobs.list_keys(_parts_prefix(job)))
        if outcome in ("completed", "regenerated", "unchanged") and self._on_finished is not None:
            self._on_finished(job.partner_org_id, job.report_id)
        result: dict[str, Any] = {"completed": outcome in ("completed", "regenerated"), "outcome": outcome}
        if report is not None and outcome == "completed":
            result.update(rows=file.row_count, seconds=round((now - report.created).total_seconds(), 3))
        return result

    # ---- MarkFailed ---------------------------------------------------------------------

    def mark_failed(self, state: dict[str, Any]) -> dict[str, Any]:
        """Any failure (``state["error"]``, a `StepFailure`): status FAILED with
        errors[{code, description}], parts removed. A failed regeneration leaves the COMPLETED
        report and its file as they were."""
        job: GenerationJob = state["job"]
        failure: StepFailure = state.get("error") or StepFailure("")
        code = ERROR_CODES.get(failure.error, ReportErrorCode.GENERATION_FAILED)
        description = REPORT_ERROR_DESCRIPTIONS[code]
        if failure.error in EXPLAINED_ERRORS and failure.message is not None:
            description = f"{description} {failure.message}"
        report = self._store.get(job.partner_org_id, job.report_id)
        failed = False
        if job.is_regeneration:
            if report is not None and _is_run_of(report, job):
                self._store.release_regeneration(report, job.run_name)
            # its file may exist if Finalize failed: it never became the report's file
            self._blobs.delete(_object_keys(job))
        else:
            if report is not None and report.revision == job.revision:
                failed = self._store.fail(report, [ReportError(code, description)])
            # an assembled file that never became the report's (Finalize failed after Assemble)
            current = self._store.get(job.partner_org_id, job.report_id) if not failed else None
            kept = current.s3_key if current is not None and current.status is ReportStatus.COMPLETED else None
            self._blobs.delete([key for key in _object_keys(job) if key != kept])
        self._blobs.delete(self._blobs.list_keys(_parts_prefix(job)))
        return {"failed": failed, "code": int(code)}

    # ---- helpers ------------------------------------------------------------------------

    def _still_wanted(self, job: GenerationJob, written: list[str]) -> None:
        """After writing: if the report went away meanwhile (deleted; its run may have been
        stopped, so no later step cleans up), remove what was just written."""
        if not _is_run_of(self._store.get(job.partner_org_id, job.report_id), job):
            self._blobs.delete(written)
            raise ReportGone(job.report_id)

    def _require(self, job: GenerationJob) -> Report:
        report = self._store.get(job.partner_org_id, job.report_id)
        if report is None or not _is_run_of(report, job):
            raise ReportGone(job.report_id)
        return report

    def _pin_directory(self) -> dict[str, Any]:
        """What Plan adds to every shard: the directory snapshot version the report names from
        (pinned like `dayVersions`), or nothing when steps read the directory itself."""
        if self._directory_snapshots is None:
            return {}
        return {"directoryVersion": self._directory_snapshots.pin()}

    def _directory_of(self, shard: dict[str, Any]) -> Directory:
        """The directory a shard names from: its pinned snapshot, else the directory itself (a
        shard planned without a pin, e.g. by an older Plan)."""
        version = shard.get("directoryVersion")
        if self._directory_snapshots is None or version is None:
            return self._directory
        return self._directory_snapshots.at(int(version))

    def _partner_scope(self, report: Report, directory: Directory | None = None) -> tuple[Partner, list[str]]:
        """The partner the report names (the caller's, or its sub-partner) and the org ids of its
        subtree, which the report covers."""
        tree = PartnerTree((self._directory if directory is None else directory).partners())
        partner = tree.report_scope(report.partner_org_id, report.request.sub_partner_org_id)
        return partner, tree.subtree(partner.org_id)

    def _customers(
        self, report: Report, org_ids: list[str], low: str | None, high: str | None, directory: Directory | None = None
    ) -> tuple[list[Customer], set[str]]:
        """The customers of `org_ids` with ids in [low, high) the report names (internal ones only
        with `internal: true`), and the internal ids it leaves out."""
        customers = (self._directory if directory is None else directory).customers_of(org_ids, low, high)
        if report.request.internal:
            return customers, set()
        left_out = {customer.org_id for customer in customers if customer.internal}
        return [customer for customer in customers if not customer.internal], left_out


def _row_context(report: Report, partner: Partner, customers: list[Customer], directory: Directory) -> RowContext:
    """What the report's rows are named with, and its file's columns."""
    request = report.request
    return RowContext(
        report_type=request.report_type,
        partner=partner,
        customers={customer.org_id: customer for customer in customers},
        skus={sku.sku: sku for sku in directory.skus()},
        category=request.category,
        columns=request.columns,
        period_days=request.period.day_count,
    )


def _is_run_of(report: Report | None, job: GenerationJob) -> bool:
    """Does `job` still describe what `report` wants? A first generation needs the report
    IN_PROGRESS at the job's revision; a regeneration needs it COMPLETED at the base revision."""
    if report is None:
        return False
    if job.is_regeneration:
        return report.status is ReportStatus.COMPLETED and report.revision == job.base_revision
    return report.status is ReportStatus.IN_PROGRESS and report.revision == job.revision


def _already_published(report: Report | None, job: GenerationJob, file: ReportFile) -> bool:
    """The report already holds this very file at this run's revision (Finalize ran before and
    its answer was lost)."""
    return (
        report is not None
        and report.status is ReportStatus.COMPLETED
        and report.revision == job.revision
        and report.s3_key == file.s3_key
        and report.sha256 == file.sha256
    )


def _parts_prefix(job: GenerationJob) -> str:
    return report_parts_prefix(job.partner_org_id, job.report_id, job.revision)


def _object_key(job: GenerationJob, file_format: ReportFormat) -> str:
    return report_object_key(job.partner_org_id, job.report_id, job.revision, file_format)


def _object_keys(job: GenerationJob) -> list[str]:
    """The run's file in every format: what a failed run removes (its report may be gone)."""
    return [_object_key(job, file_format) for file_format in ReportFormat]
