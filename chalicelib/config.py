"""Settings from the environment: one frozen dataclass, read once per process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from chalicelib.domain.lake_partitions import CUSTOMERS_PER_PARTITION

DEV_CURSOR_SECRET = "local-dev-cursor-secret-not-for-production"


@dataclass(frozen=True)
class Settings:
    """Every knob of the service; see the configuration table in docs/CONFIGURATION.md."""

    stage: str = "local"
    region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    # The local stack serves DynamoDB (and its streams) from a server of its own (local/aws.py).
    dynamodb_endpoint_url: str | None = None
    reports_table: str = "wbr-reports"
    usage_days_table: str = "wbr-usage-days"
    directory_table: str = "wbr-directory"
    lake_bucket: str = "wbr-lake"
    reports_bucket: str = "wbr-reports"
    events_queue: str = "wbr-provisioning-events"
    # Local stack only: the lake bucket's `incoming/` notifications (on AWS they invoke Lambda).
    incoming_notifications_queue: str = "wbr-incoming-notifications"
    download_url_ttl_seconds: int = 900
    max_reports_in_progress: int = 10
    retry_after_seconds: int = 30
    data_wait_hours: int = 36
    generation_timeout_seconds: int = 3600
    workflow_mode: str = "local"  # "local" (threads in-process) or "stepfunctions"
    state_machine_arn: str | None = None
    map_max_concurrency: int = 8
    shard_rows: int = 4_000_000
    # about this many customers per lake partition (domain/lake_partitions.py); rating only
    lake_partition_customers: int = CUSTOMERS_PER_PARTITION
    # More shards than this run as a Distributed Map (ARCHITECTURE.md §5; domain/sharding.py).
    inline_max_shards: int = 40
    jwt_issuer: str = "https://idbroker.wbr.local"
    jwt_audience: str = "wholesale-billing-reports"
    jwks_url: str | None = None
    jwt_public_key_file: str | None = None
    cursor_secret: str = DEV_CURSOR_SECRET
    public_base_url: str | None = None
    directory_cache_seconds: int = 30
    # An ingest that landed events this long ago and never asked for their restatement died: the
    # sweep asks for it (domain/restatement.py).
    stale_landing_seconds: int = 600
    # Completion webhooks (ARCHITECTURE.md §6): their table, the deliveries queue, the event bus;
    # retries wait base × 2^(attempt-1) seconds, at most the max, until 24 h after the event.
    webhooks_table: str = "wbr-webhooks"
    webhook_deliveries_queue: str = "wbr-webhook-deliveries"
    event_bus: str = "wbr-billing-events"
    webhook_retry_base_seconds: float = 30.0
    webhook_retry_max_seconds: float = 3600.0
    # Standing monthly reports (DESIGN §13): the schedules and their runs.
    schedules_table: str = "wbr-schedules"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def text(name: str, default: str | None) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else default

        def number(name: str, default: int) -> int:
            value = env.get(name)
            return int(value) if value not in (None, "") else default

        defaults = cls()
        return cls(
            stage=text("WBR_STAGE", defaults.stage) or defaults.stage,
            region=text("AWS_DEFAULT_REGION", None) or text("AWS_REGION", defaults.region) or defaults.region,
            aws_endpoint_url=text("AWS_ENDPOINT_URL", None),
            dynamodb_endpoint_url=text("AWS_ENDPOINT_URL_DYNAMODB", None),
            reports_table=text("WBR_REPORTS_TABLE", defaults.reports_table) or defaults.reports_table,
            usage_days_table=text("WBR_USAGE_DAYS_TABLE", defaults.usage_days_table) or defaults.usage_days_table,
            directory_table=text("WBR_DIRECTORY_TABLE", defaults.directory_table) or defaults.directory_table,
            lake_bucket=text("WBR_LAKE_BUCKET", defaults.lake_bucket) or defaults.lake_bucket,
            reports_bucket=text("WBR_REPORTS_BUCKET", defaults.reports_bucket) or defaults.reports_bucket,
            events_queue=text("WBR_EVENTS_QUEUE", defaults.events_queue) or defaults.events_queue,
            incoming_notifications_queue=text("WBR_INCOMING_QUEUE", defaults.incoming_notifications_queue)
            or defaults.incoming_notifications_queue,
            download_url_ttl_seconds=number("DOWNLOAD_URL_TTL_SECONDS", defaults.download_url_ttl_seconds),
            max_reports_in_progress=number("MAX_REPORTS_IN_PROGRESS", defaults.max_reports_in_progress),
            retry_after_seconds=number("WBR_RETRY_AFTER_SECONDS", defaults.retry_after_seconds),
            data_wait_hours=number("DATA_WAIT_HOURS", defaults.data_wait_hours),
            generation_timeout_seconds=number("WBR_GENERATION_TIMEOUT_SECONDS", defaults.generation_timeout_seconds),
            workflow_mode=text("WBR_WORKFLOW_MODE", defaults.workflow_mode) or defaults.workflow_mode,
            state_machine_arn=text("WBR_STATE_MACHINE_ARN", None),
            map_max_concurrency=number("WBR_MAP_MAX_CONCURRENCY", defaults.map_max_concurrency),
            shard_rows=number("WBR_SHARD_ROWS", defaults.shard_rows),
            lake_partition_customers=number("WBR_LAKE_PARTITION_CUSTOMERS", defaults.lake_partition_customers),
            inline_max_shards=number("WBR_INLINE_MAX_SHARDS", defaults.inline_max_shards),
            jwt_issuer=text("WBR_JWT_ISSUER", defaults.jwt_issuer) or defaults.jwt_issuer,
            jwt_audience=text("WBR_JWT_AUDIENCE", defaults.jwt_audience) or defaults.jwt_audience,
            jwks_url=text("WBR_JWKS_URL", None),
            jwt_public_key_file=text("WBR_JWT_PUBLIC_KEY_FILE", None),
            cursor_secret=text("WBR_CURSOR_SECRET", defaults.cursor_secret) or defaults.cursor_secret,
            public_base_url=text("WBR_PUBLIC_BASE_URL", None),
            directory_cache_seconds=number("WBR_DIRECTORY_CACHE_SECONDS", defaults.directory_cache_seconds),
            stale_landing_seconds=number("WBR_STALE_LANDING_SECONDS", defaults.stale_landing_seconds),
            webhooks_table=text("WBR_WEBHOOKS_TABLE", defaults.webhooks_table) or defaults.webhooks_table,
            schedules_table=text("WBR_SCHEDULES_TABLE", defaults.schedules_table) or defaults.schedules_table,
            webhook_deliveries_queue=text("WBR_WEBHOOK_DELIVERIES_QUEUE", defaults.webhook_deliveries_queue)
            or defaults.webhook_deliveries_queue,
            event_bus=text("WBR_EVENT_BUS", defaults.event_bus) or defaults.event_bus,
            webhook_retry_base_seconds=float(
                text("WBR_WEBHOOK_RETRY_BASE_SECONDS", None) or defaults.webhook_retry_base_seconds
            ),
            webhook_retry_max_seconds=float(
                text("WBR_WEBHOOK_RETRY_MAX_SECONDS", None) or defaults.webhook_retry_max_seconds
            ),
        )

    def endpoint_for(self, service: str) -> str | None:
        """The endpoint override of one AWS service (None: the real AWS endpoint)."""
        if service in ("dynamodb", "dynamodbstreams") and self.dynamodb_endpoint_url:
            return self.dynamodb_endpoint_url
        return self.aws_endpoint_url

    def validate_for_deployment(self) -> None:
        """Refuse settings that are only safe on a developer's machine."""
        if self.stage != "local":
            if self.cursor_secret == DEV_CURSOR_SECRET:
                raise RuntimeError("WBR_CURSOR_SECRET must be set outside the local stage")
            if not self.jwks_url:
                raise RuntimeError("WBR_JWKS_URL must be set outside the local stage")


def local_state_dir(project_dir: Path | None = None) -> Path:
    """`.local/` in the checkout (or WBR_STATE_DIR): dev keys, the env file and the pids of the
    running local stack. Tests give every stack they start a folder of its own."""
    override = os.environ.get("WBR_STATE_DIR")
    if override:
        return Path(override)
    return (project_dir or Path(__file__).resolve().parent.parent) / ".local"
