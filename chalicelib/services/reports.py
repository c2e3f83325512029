"""The reports use cases: create, get, list, delete (ARCHITECTURE.md §2)."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from chalicelib.domain.access import Caller
from chalicelib.domain.commands import job_of
from chalicelib.domain.errors import (
    REPORT_ERROR_DESCRIPTIONS,
    REPORT_NOT_FOUND,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    ReportErrorCode,
    ReportExists,
    TooManyRequests,
)
from chalicelib.domain.lifecycle import DuplicateAnswer, duplicate_answer
from chalicelib.domain.listing import KNOWN_PARAMETERS, Cursor, CursorCodec, ListQuery, refuse_unknown_parameters
from chalicelib.domain.manifest import manifest_json
from chalicelib.domain.messages import RunLease
from chalicelib.domain.partners import PartnerTree
from chalicelib.domain.report_ids import is_report_id, new_report_id
from chalicelib.domain.reports import (
    Report,
    ReportError,
    ReportRequest,
    ReportStatus,
    report_files_prefix,
    report_parts_prefix,
)
from chalicelib.services.ports import (
    BlobStore,
    Directory,
    DuplicateReport,
    InProgressLimitReached,
    ReportStore,
    Workflow,
)


@dataclass(frozen=True)
class ReportPolicy:
    max_in_progress: int
    retry_after_seconds: int
    data_wait_hours: int
    generation_timeout_seconds: int
    download_url_ttl_seconds: int


@dataclass(frozen=True)
class ReportPage:
    items: list[dict[str, Any]]  # list items as `Report.summary_json()` gives them
    next_cursor: str | None


class ReportService:
    def __init__(
        self,
        store: ReportStore,
        blobs: BlobStore,
        directory: Directory,
        workflow: Workflow,
        cursors: CursorCodec,
        policy: ReportPolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._directory = directory
        self._workflow = workflow
        self._cursors = cursors
        self._policy = policy
        self._clock = clock

    def authorize_partner(self, caller: Caller) -> None:
        """The caller's org must be a known partner (else 403)."""
        if PartnerTree(self._directory.partners()).get(caller.org_id) is None:
            raise Forbidden("The caller's organization is not a wholesale partner")

    def create(self, caller: Caller, body: Mapping[str, Any], tracking_id: str) -> tuple[Report, bool]:
        """A new IN_PROGRESS report with its generation started, or the one already running.

        Returns (report, created). Raises InvalidRequest, Forbidden, ReportExists (a Conflict:
        an equal report is COMPLETED) or TooManyRequests; nothing is written then."""
        return self._create(caller, body, tracking_id, self._policy.max_in_progress)

    def create_for_schedule(
        self, caller: Caller, body: Mapping[str, Any], tracking_id: str, headroom: int
    ) -> tuple[Report, bool]:
        """A schedule's report of a month: as `create`, with `headroom` more reports allowed in
        progress (a partner's schedules all come due at once), and an equal COMPLETED report
        adopted instead of refused. Returns (report, created)."""
        try:
            return self._create(caller, body, tracking_id, self._policy.max_in_progress + headroom)
        except ReportExists as exists:
            existing = self._store.get(caller.org_id, exists.report_id)
            if existing is None:
                raise Conflict("The report could not be created; please retry") from None
            return existing, False

    def _create(self, caller: Caller, body: Mapping[str, Any], tracking_id: str, cap: int) -> tuple[Report, bool]:
        caller.require_write()
        now = self._clock()
        request = ReportRequest.from_body(body, now)
        tree = PartnerTree(self._directory.partners())
        scope = tree.report_scope(caller.org_id, request.sub_partner_org_id)
        if request.customer_org_ids is not None:
            self.require_customers_in(tree.subtree(scope.org_id), request.customer_org_ids)
        report = Report(
            partner_org_id=caller.org_id,
            report_id=new_report_id(),
            request=request,
            status=ReportStatus.IN_PROGRESS,
            created=now,
            created_by=caller.person_id,
            tracking_id=tracking_id,
            # a snapshot waits for no day's data: only its generation counts against the deadline
            deadline=now
            + timedelta(
                hours=0 if request.point_in_time else self._policy.data_wait_hours,
                seconds=self._policy.generation_timeout_seconds,
            ),
        )
        report = replace(report, run=RunLease(job_of(report).run_name, now))
        for _ in range(3):
            try:
                self._store.create(report, cap)
                break
            except InProgressLimitReached:
                raise TooManyRequests(
                    f"At most {self._policy.max_in_progress} reports may be in progress at a time; "
                    "retry when one has completed",
                    self._policy.retry_after_seconds,
                ) from None
            except DuplicateReport as duplicate:
                if not duplicate.report_id:
                    continue  # the lock went away meanwhile: try again
                existing = self._store.get(caller.org_id, duplicate.report_id)
                answer = duplicate_answer(existing.status if existing is not None else None)
                if answer is DuplicateAnswer.RUNNING and existing is not None:
                    # The first create's answer may have been lost before its run started; a
                    # start under the same name is a no-op if it did. A report parked, woken or
                    # resumed since belongs to its publication or the sweeper.
                    job = job_of(existing)
                    if existing.run is not None and existing.run.run == job.run_name:
                        self._workflow.start(job, job.run_name)
                    return existing, False
                if answer is DuplicateAnswer.CONFLICT and existing is not None:
                    raise ReportExists(
                        f"A report for this period already exists with id {existing.report_id}; "
                        "delete it first to generate it again",
                        existing.report_id,
                    ) from None
                # The lock names a report that holds none (failed) or is gone: free it, try again.
                self._store.release_stale_lock(caller.org_id, duplicate.duplicate_key, duplicate.report_id)
        else:
            raise Conflict("The report could not be created; please retry")
        try:
            job = job_of(report)
            self._workflow.start(job, job.run_name)
        except Exception:
            self._store.fail(
                report,
                [
                    ReportError(
                        ReportErrorCode.GENERATION_FAILED, REPORT_ERROR_DESCRIPTIONS[ReportErrorCode.GENERATION_FAILED]
                    )
                ],
            )
            raise
        return report, True

    def require_customers_in(self, org_ids: builtins.list[str], customer_org_ids: tuple[str, ...]) -> None:
        """Each of `customer_org_ids` must be a customer of the report's scope (`org_ids`, the
        partner's subtree), else 403: another partner's customer and an unknown id alike."""
        known = {customer.org_id for customer in self._directory.customers_of(org_ids)}
        foreign = [org_id for org_id in customer_org_ids if org_id not in known]
        if foreign:
            raise Forbidden(
                "customerOrgIds names customers outside the report's scope",
                [
                    f"customerOrgIds: {org_id!r} is not a customer of the report's partner tree "
                    "(the caller's, or the sub-partner's subtree)"
                    for org_id in foreign
                ],
            )

    def get(self, caller: Caller, report_id: str) -> tuple[Report, str | None]:
        """The report and, when COMPLETED, a freshly presigned download URL."""
        caller.require_read()
        report = self._find(caller, report_id)
        url = None
        if report.status is ReportStatus.COMPLETED and report.s3_key:
            url = self._blobs.presign_download(
                report.s3_key,
                report.download_filename(),
                self._policy.download_url_ttl_seconds,
                report.request.file_format.content_type,
            )
        return report, url

    def detail(self, caller: Caller, report_id: str) -> dict[str, Any]:
        """The body of GET /{id}: the report, its download URL when COMPLETED, and until when a
        report that waits for usage days will wait."""
        report, url = self.get(caller, report_id)
        return report.detail_json(url, data_wait=timedelta(hours=self._policy.data_wait_hours))

    def manifest(self, caller: Caller, report_id: str) -> dict[str, Any]:
        """GET /{id}/manifest: what the report's current file is (a COMPLETED report only)."""
        report = self.completed(caller, report_id)
        size = report.size
        if size is None and report.s3_key:  # completed before sizes were kept
            size = self._blobs.size_of(report.s3_key)
        return manifest_json(report, size)

    def completed(self, caller: Caller, report_id: str) -> Report:
        """The caller's report (read scope), which must be COMPLETED (409 otherwise: it has no
        file yet)."""
        caller.require_read()
        report = self._find(caller, report_id)
        if report.status is not ReportStatus.COMPLETED or not report.s3_key:
            raise Conflict(f"The report is {report.status.value}: it has a file once it is COMPLETED")
        return report

    def list(self, caller: Caller, params: Mapping[str, str]) -> ReportPage:
        caller.require_read()
        refuse_unknown_parameters(params, KNOWN_PARAMETERS)
        after: tuple[str, str] | None = None
        if "cursor" in params:
            cursor = self._cursors.decode(caller.org_id, params["cursor"])
            others = {name: value for name, value in params.items() if name != "cursor"}
            if others and ListQuery.from_params(others) != cursor.query:
                raise InvalidRequest("cursor was issued for another query; repeat no parameters with it")
            query = cursor.query
            after = (cursor.after_sort_value, cursor.after_report_id)
        else:
            query = ListQuery.from_params(params)
        items = self._store.list(caller.org_id, query, after, query.max_items + 1)
        next_cursor = None
        if len(items) > query.max_items:
            items = items[: query.max_items]
            last = items[-1]
            next_cursor = self._cursors.encode(
                caller.org_id, Cursor(query, self._store.sort_value(last, query), str(last["id"]))
            )
        return ReportPage(items, next_cursor)

    def delete(self, caller: Caller, report_id: str) -> None:
        """Remove the report: its file first (URLs die at once), then metadata and lock."""
        caller.require_write()
        report = self._find(caller, report_id)
        self._blobs.delete(self._files_of(report))  # URLs die now
        removed = self._store.delete(caller.org_id, report_id)
        if removed is None:
            raise NotFound(REPORT_NOT_FOUND)
        # A worker may have finished between the two steps above; nothing of it may survive.
        self._blobs.delete(self._files_of(removed))
        try:
            self._workflow.stop(report_id)  # saves work; Finalize would not resurrect it anyway
        except Exception:  # noqa: BLE001 - the report is gone whatever the worker does
            logging.getLogger(__name__).warning("could not stop the generation of a deleted report", exc_info=True)

    def _files_of(self, report: Report) -> builtins.list[str]:
        """Every S3 object of a report: the files of all its revisions (and diffs) under its
        prefix, the file it names, and the parts of this revision's run and the next's (a
        regeneration may be running)."""
        keys = set(self._blobs.list_keys(report_files_prefix(report.partner_org_id, report.report_id)))
        if report.s3_key:
            keys.add(report.s3_key)
        parts = [
            key
            for revision in (report.revision, report.revision + 1)
            for key in self._blobs.list_keys(report_parts_prefix(report.partner_org_id, report.report_id, revision))
        ]
        return sorted(keys) + parts

    def _find(self, caller: Caller, report_id: str) -> Report:
        """The caller's report `report_id`. Anything else (not an id at all, an unknown id,
        another partner's) is the same 404: an answer never tells them apart (ARCHITECTURE.md §2)."""
        report = self._store.get(caller.org_id, report_id) if is_report_id(report_id) else None
        if report is None:
            raise NotFound(REPORT_NOT_FOUND)
        return report
