"""The one place where settings, adapters and services meet.

`get_container()` builds everything lazily on first use, so importing `app.py` costs nothing;
tests install their own container with `set_container()`, steered through its overrides. What
only a machine without AWS runs (the in-process state machine, the local event sources) is never
built here: `wbr dev` and the tests give it as overrides (chalicelib/local/parts.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import cached_property, partial
from operator import attrgetter
from pathlib import Path
from typing import Any, TypeVar

from chalicelib.adapters.aws import is_throttling, make_client
from chalicelib.adapters.directory_snapshot import SnapshotDirectory
from chalicelib.adapters.dynamo_directory import DynamoDirectory
from chalicelib.adapters.dynamo_report_store import DynamoReportStore
from chalicelib.adapters.dynamo_schedule_store import DynamoScheduleStore
from chalicelib.adapters.dynamo_webhook_store import DynamoWebhookStore
from chalicelib.adapters.event_bus import EventBridgePublisher
from chalicelib.adapters.event_chunks import validate_chunk
from chalicelib.adapters.event_ids import S3EventIdIndex
from chalicelib.adapters.event_log import S3DeadLetters, S3EventLog
from chalicelib.adapters.jwt_tokens import JwtTokenVerifier
from chalicelib.adapters.rating_sql import DuckDbDayReplay
from chalicelib.adapters.report_files import ReportFiles
from chalicelib.adapters.report_sql import DuckDbReportRenderer
from chalicelib.adapters.report_stream import settled_of_stream_record
from chalicelib.adapters.s3_blob_store import S3BlobStore
from chalicelib.adapters.s3_report_copies import S3ReportCopier
from chalicelib.adapters.sqs_deliveries import SqsDeliveryQueue, delivery_from_json
from chalicelib.adapters.usage_calendar import DynamoUsageCalendar, message_of_stream_record
from chalicelib.adapters.usage_lake import S3ParquetUsageLake
from chalicelib.adapters.usage_rollup import S3UsageRollups
from chalicelib.adapters.usage_subjects import LakeSubjectReads
from chalicelib.adapters.webhook_http import HttpWebhookSender
from chalicelib.config import Settings, local_state_dir
from chalicelib.domain.errors import Throttled
from chalicelib.domain.events import ASSIGNMENT_TYPES
from chalicelib.domain.listing import CursorCodec
from chalicelib.domain.workflow_messages import StepInput, StepOutput
from chalicelib.runtime.observability import bind_tracking_id, logger, record_step
from chalicelib.services.generation import GenerationPolicy, GenerationSteps
from chalicelib.services.ingestion import IngestionService
from chalicelib.services.messagebus import MessageBus, event_handlers
from chalicelib.services.point_in_time import PointInTimeCounts
from chalicelib.services.rating import RatingService
from chalicelib.services.regeneration import RegenerationService
from chalicelib.services.report_diffs import ReportDiffService
from chalicelib.services.reports import ReportPolicy, ReportService
from chalicelib.services.schedules import SchedulePolicy, ScheduleService
from chalicelib.services.sub_partners import SubPartnerService
from chalicelib.services.sweeper import Sweeper
from chalicelib.services.usage import UsageService
from chalicelib.services.webhooks import WebhookPolicy, WebhookService

T = TypeVar("T")


def _wired(build: Callable[..., T], *parts: str) -> cached_property[T]:
    """A part of the container built on first use (and kept) from other parts and settings,
    named by their paths: ``_wired(DynamoReportStore, "dynamodb", "settings.reports_table")``
    calls ``DynamoReportStore(container.dynamodb, container.settings.reports_table)``."""
    getters = [attrgetter(part) for part in parts]

    def build_part(container: Container) -> T:
        return build(*(get(container) for get in getters))

    return cached_property(build_part)


def _client(service: str) -> cached_property[Any]:
    """An AWS client of the container, built on first use from its settings."""
    return _wired(partial(make_client, service), "settings")


class OverrideTooLate(RuntimeError):
    """An override of a part the container has already handed out: what took it keeps the old."""


class Container:
    """Every adapter and service, each built on first use from the settings and kept.

    Overrides (tests, tools): the outer parts — the AWS clients ``dynamodb`` and ``s3``, the
    report ``workflow`` and the local event sources ``usage_days_stream`` and ``reports_stream``
    — may be given, each as an instance or as a factory that takes the container
    (``workflow=lambda container: HeldWorkflow(container, plan)``; a callable is a factory, an
    instance is not callable). Whatever the container builds then uses the given part, since the
    part is in place before it is first used: pass it to the constructor, or to `override` before
    anything asked for the part. `override` raises `OverrideTooLate` for a part already built —
    every service takes its parts when it is built, so one built before would keep the old part.
    In local mode the workflow and the event sources must be given (``**local_parts()``,
    chalicelib/local/parts.py): the container builds only what runs on AWS."""

    GIVEN_PARTS = ("dynamodb", "s3", "workflow", "usage_days_stream", "reports_stream")

    def __init__(self, settings: Settings, **parts: Any) -> None:
        """`parts`: the given parts (`GIVEN_PARTS`), as `override` takes them."""
        self.settings = settings
        self.created = datetime.now(timezone.utc)
        self._overrides: dict[str, Any] = {}
        self.override(**parts)

    def override(self, **given: Any) -> None:
        """Use these parts (`GIVEN_PARTS`: instances or factories; None: leave the part as it is)
        instead of building them. Raises `OverrideTooLate`, overriding nothing, if one was built
        already; TypeError for a name that is not a part one may give."""
        unknown = sorted(set(given) - set(self.GIVEN_PARTS))
        if unknown:
            raise TypeError(f"{', '.join(unknown)}: not a part one may give (those are {', '.join(self.GIVEN_PARTS)})")
        parts = {name: part for name, part in given.items() if part is not None}
        late = sorted(name for name in parts if self.built(name))
        if late:
            raise OverrideTooLate(f"{', '.join(late)}: built already; override a part before its first use")
        self._overrides.update(parts)

    def built(self, name: str) -> bool:
        """Has the part or service `name` been built yet (e.g. stop a workflow, never build one)?"""
        return name in vars(self)

    def _given(self, name: str, build: Callable[[], Any]) -> Any:
        """The override of the part `name` (a factory's product), else what `build` makes."""
        if name not in self._overrides:
            return build()
        part = self._overrides[name]
        return part(self) if callable(part) else part

    # ---- AWS clients --------------------------------------------------------------------

    @cached_property
    def dynamodb(self) -> Any:
        return self._given("dynamodb", lambda: make_client("dynamodb", self.settings))

    @cached_property
    def s3(self) -> Any:
        return self._given("s3", lambda: make_client("s3", self.settings))

    dynamodb_streams = _client("dynamodbstreams")
    sqs = _client("sqs")
    eventbridge = _client("events")

    @cached_property
    def usage_days_stream(self) -> Any:
        """The usage_days stream delivered by hand to its deployed handler (tests, tools): a
        given part (`usage_days_stream_of`, chalicelib/local/events.py); `wbr dev` runs its own
        pollers of every source."""
        return self._given("usage_days_stream", lambda: self._not_given("usage_days_stream"))

    @cached_property
    def reports_stream(self) -> Any:
        """The reports table's stream and the webhook deliveries queue, delivered by hand to
        their deployed handlers (tests, tools): a given part (`reports_stream_of`)."""
        return self._given("reports_stream", lambda: self._not_given("reports_stream"))

    @staticmethod
    def _not_given(name: str) -> Any:
        raise RuntimeError(f"{name}: a local part the container does not build; give it (chalicelib/local/parts.py)")

    # ---- adapters -----------------------------------------------------------------------

    report_store = _wired(DynamoReportStore, "dynamodb", "settings.reports_table")
    blobs = _wired(S3BlobStore, "s3", "settings.reports_bucket")
    directory = _wired(DynamoDirectory, "dynamodb", "settings.directory_table", "settings.directory_cache_seconds")
    calendar = _wired(DynamoUsageCalendar, "dynamodb", "settings.usage_days_table")
    lake = _wired(S3ParquetUsageLake, "s3", "settings.lake_bucket", "settings.lake_partition_customers")
    event_log = _wired(S3EventLog, "s3", "settings.lake_bucket")
    dead_letters = _wired(S3DeadLetters, "s3", "settings.lake_bucket")
    webhook_store = _wired(DynamoWebhookStore, "dynamodb", "settings.webhooks_table")
    schedule_store = _wired(DynamoScheduleStore, "dynamodb", "settings.schedules_table")
    deliveries = _wired(SqsDeliveryQueue, "sqs", "settings.webhook_deliveries_queue")

    @cached_property
    def directory_snapshots(self) -> SnapshotDirectory:
        """The directory as report generation reads it: one snapshot object per version in the
        lake bucket, kept in memory per process (the API and the upserts use `directory`)."""
        return SnapshotDirectory(self.directory, self.s3, self.settings.lake_bucket, logger=logger)

    @cached_property
    def rollups(self) -> S3UsageRollups:
        """The read API's per-day rollup beside the lake (a day published before it existed is
        rolled up from its lake objects once)."""
        return S3UsageRollups(
            self.s3,
            self.settings.lake_bucket,
            day_usage=self.lake.read_day,
            day_events=lambda day: self.event_log.read_day(day, ASSIGNMENT_TYPES),
        )

    @cached_property
    def token_verifier(self) -> JwtTokenVerifier:
        settings = self.settings
        if settings.jwks_url:
            return JwtTokenVerifier(settings.jwt_issuer, settings.jwt_audience, jwks_url=settings.jwks_url)
        key_file = (
            Path(settings.jwt_public_key_file)
            if settings.jwt_public_key_file
            else (local_state_dir() / "dev-jwt-public.pem")
        )
        return JwtTokenVerifier(settings.jwt_issuer, settings.jwt_audience, public_key_pem=key_file.read_bytes())

    @cached_property
    def cursors(self) -> CursorCodec:
        return CursorCodec(self.settings.cursor_secret.encode())

    @cached_property
    def workflow(self) -> Any:
        return self._given("workflow", self._configured_workflow)

    def _configured_workflow(self) -> Any:
        if self.settings.workflow_mode == "stepfunctions":
            from chalicelib.adapters.step_functions import StepFunctionsWorkflow

            if not self.settings.state_machine_arn:
                raise RuntimeError("WBR_STATE_MACHINE_ARN is required with WBR_WORKFLOW_MODE=stepfunctions")
            return StepFunctionsWorkflow(make_client("stepfunctions", self.settings), self.settings.state_machine_arn)
        return self._not_given("workflow")  # WBR_WORKFLOW_MODE=local: the in-process state machine

    # ---- the event sources' records, typed by the adapter that writes them -----------------
    # (the entry points, api/events.py, reach the adapters only through the container)

    usage_day_message = staticmethod(message_of_stream_record)  # a `usage_days` stream record's Message
    settled_report = staticmethod(settled_of_stream_record)  # a reports-table stream record's ReportSettled
    webhook_delivery = staticmethod(delivery_from_json)  # a queued WebhookDelivery; a malformed one raises

    # ---- services -----------------------------------------------------------------------

    @cached_property
    def reports(self) -> ReportService:
        settings = self.settings
        return ReportService(
            self.report_store,
            self.blobs,
            self.directory,
            self.workflow,
            self.cursors,
            ReportPolicy(
                max_in_progress=settings.max_reports_in_progress,
                retry_after_seconds=settings.retry_after_seconds,
                data_wait_hours=settings.data_wait_hours,
                generation_timeout_seconds=settings.generation_timeout_seconds,
                download_url_ttl_seconds=settings.download_url_ttl_seconds,
            ),
        )

    sub_partners = _wired(SubPartnerService, "directory")

    @cached_property
    def report_diffs(self) -> ReportDiffService:
        return ReportDiffService(
            self.reports, self.blobs, ReportFiles(), self.settings.download_url_ttl_seconds, self.directory
        )

    @cached_property
    def generation(self) -> GenerationSteps:
        settings = self.settings
        return GenerationSteps(
            self.report_store,
            self.blobs,
            self.directory,
            self.calendar,
            self.lake,
            DuckDbReportRenderer(),
            GenerationPolicy(settings.data_wait_hours, settings.shard_rows, settings.inline_max_shards),
            PointInTimeCounts(self.calendar, self.lake, self.event_log),
            encoder=ReportFiles(),
            on_finished=self.regeneration.after_run,
            directory_snapshots=self.directory_snapshots,
        )

    @cached_property
    def regeneration(self) -> RegenerationService:
        local = self.settings.workflow_mode != "stepfunctions"
        return RegenerationService(
            self.report_store,
            self.calendar,
            self.workflow,
            logger=logger,
            runs_known_since=self.created if local else None,
        )

    @cached_property
    def bus(self) -> MessageBus:
        return MessageBus(event_handlers(self.rating, self.regeneration, self.schedules, self.usage))

    @cached_property
    def webhooks(self) -> WebhookService:
        settings = self.settings
        local = settings.stage == "local"
        return WebhookService(
            self.webhook_store,
            self.deliveries,
            EventBridgePublisher(self.eventbridge, settings.event_bus),
            HttpWebhookSender(allow_loopback=local),
            WebhookPolicy(local, settings.webhook_retry_base_seconds, settings.webhook_retry_max_seconds),
        )

    @cached_property
    def schedules(self) -> ScheduleService:
        settings = self.settings
        return ScheduleService(
            self.schedule_store,
            self.reports,
            self.report_store,
            self.directory,
            self.webhooks,
            S3ReportCopier(self.s3, settings.reports_bucket),
            self.cursors,
            SchedulePolicy(service_buckets=frozenset({settings.reports_bucket, settings.lake_bucket})),
            logger=logger,
        )

    sweeper = _wired(Sweeper, "report_store", "blobs", "regeneration", "settings.data_wait_hours")

    @cached_property
    def rating(self) -> RatingService:
        # A publication reaches the regeneration service only through the usage_days stream
        # (api/events.py), on AWS and under `wbr dev` alike: no in-process listener.
        return RatingService(
            self.event_log,
            self.lake,
            self.calendar,
            DuckDbDayReplay(),
            logger=logger,
            stale_landing_grace=timedelta(seconds=self.settings.stale_landing_seconds),
            rollups=self.rollups,
        )

    @cached_property
    def usage(self) -> UsageService:
        """The console's read API: the rollup for totals and series; for a customer's users and
        explain, the closing state before the period (one partition) and the rollup's touched keys."""
        return UsageService(
            self.directory_snapshots,
            self.calendar,
            self.rollups,
            LakeSubjectReads(self.lake, self.rollups),
            logger=logger,
        )

    @cached_property
    def ingestion(self) -> IngestionService:
        return IngestionService(
            self.event_log,
            S3EventIdIndex(self.s3, self.settings.lake_bucket),
            self.dead_letters,
            self.directory,
            ledger=self.calendar,
            validate=validate_chunk,
        )

    def step(self, name: str) -> Callable[[StepInput], StepOutput]:
        """A generation step as the workflow calls it: logged under the report's trackingId,
        with AWS throttling surfaced as `Throttled` so the workflow retries it with backoff."""

        def run(message: StepInput) -> StepOutput:
            job = message.job  # read out of the workflow's JSON at the edge (workflow_edge.run_step)
            bind_tracking_id(job.tracking_id)
            logger.info("step started", extra={"step": name, "report_id": job.report_id})
            try:
                result: StepOutput = getattr(self.generation, name)(message)
                record_step(name, result)
                return result
            except Exception as error:
                if is_throttling(error):
                    raise Throttled(str(error)) from error
                raise

        return run


_container: Container | None = None
_container_lock = threading.Lock()


def get_container() -> Container:
    global _container
    with _container_lock:
        if _container is None:
            settings = Settings.from_env()
            settings.validate_for_deployment()  # fail closed at cold start outside the local stage
            _container = Container(settings)
        return _container


def set_container(container: Container | None) -> None:
    """Replace the process's container (tests, the local stack)."""
    global _container
    with _container_lock:
        _container = container
