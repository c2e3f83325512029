"""`wbr dev`: the whole service on one machine (ARCHITECTURE.md §8 scripting contract).

Starts moto's server on 127.0.0.1 as the local AWS, creates the tables and buckets, loads the
demo partner tree (unless WBR_DEMO=0), writes `.local/env` (local/env_file.py), and serves the API with Chalice's
local server (through the API Gateway emulation of chalicelib/api/gateway.py) with the report
workflow running in-process. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from chalice.local import ThreadedHTTPServer

from chalicelib.config import Settings, local_state_dir
from chalicelib.local.banner import banner
from chalicelib.local.env_file import ENV_FILE_KEYS, PROJECT_DIR, env_file, write_env_file

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# The local stand-ins for the deployed schedules (10 minutes and daily on AWS): a sweep a
# minute, so a report whose run died with a killed `wbr dev` is settled within a minute.
LOCAL_SWEEP_SECONDS = 60
LOCAL_RATING_SECONDS = 3600


class _ApiServer(ThreadedHTTPServer):
    """Chalice's local server with a listen backlog of 128 pending connections (the default
    of 5 reset concurrent clients' connections)."""

    request_queue_size = 128
    daemon_threads = True


def _dev_pid_file() -> Path:
    return local_state_dir(PROJECT_DIR) / "dev.pid"


def _running_dev_pid() -> int | None:
    """The pid of a `wbr dev` of this checkout that is still running, if any."""
    try:
        pid = int(_dev_pid_file().read_text())
    except (OSError, ValueError):
        return None
    if pid == os.getpid():
        return None
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return None
    return pid if "wbr" in command or "chalicelib" in command else None


def print_health() -> int:
    """`wbr dev --status`: the running stack's event sources, as its health file has them."""
    import json

    pid = _running_dev_pid()
    path = local_state_dir(PROJECT_DIR) / "health.json"
    if pid is None:
        print(f"no wbr dev is running with the state folder {path.parent}", file=sys.stderr)
        return 2
    try:
        sources = json.loads(path.read_text()).get("sources", {})
    except (OSError, ValueError):
        sources = {}
    healthy = True
    print(f"wbr dev (pid {pid}), state folder {path.parent}")
    for name, entry in sorted(sources.items()):
        healthy = healthy and entry.get("status") == "ok"
        detail = f": {entry['detail']}" if entry.get("detail") else ""
        print(f"  {name:<26} {entry.get('status', '?')}{detail}")
        if entry.get("status") != "ok" and entry.get("remedy"):
            print(f"  {'':<26} {entry['remedy']}")
    if not sources:
        print("  (no event source has reported yet)")
    return 0 if healthy else 1


def _start_over(state_dir: Path) -> None:
    from chalicelib.local.persistence import erase

    removed = erase(state_dir)
    names = ", ".join(path.name for path in removed) or "nothing was kept"
    print(f"--fresh: starting over (removed from {state_dir}: {names})", file=sys.stderr)


def _demo_mark() -> Path:
    return local_state_dir(PROJECT_DIR) / "demo.json"


def run_dev_stack(
    api_port: int,
    aws_port: int,
    demo: bool,
    dynamodb_port: int | None = None,
    progress: Callable[[str], Callable[[int, int], None]] | None = None,
    fresh: bool = False,
) -> int:
    """`progress`: a progress line for a long step, by its label (the CLI's `progress_bar`);
    `fresh`: start over (the kept local state is deleted first)."""
    from chalicelib.local.aws import LocalAws, port_free

    state_dir = local_state_dir(PROJECT_DIR)
    running = _running_dev_pid()
    if running is not None:
        print(f"wbr dev is already running here (pid {running}); stop it first", file=sys.stderr)
        return 2
    if env_file().exists():  # left by a `wbr dev` that was killed: scripts must not talk to nothing
        env_file().unlink()
    dynamodb_port = dynamodb_port or aws_port + 1
    local_aws = LocalAws(state_dir, aws_port, dynamodb_port)
    if fresh:
        local_aws.reap_orphans()
        _start_over(state_dir)
    adopted = local_aws.adopt_orphans()
    ports = [api_port] if adopted else [api_port, aws_port, dynamodb_port]
    for port in ports:
        if not port_free(port):
            print(
                f"port {port} is in use; choose others with WBR_API_PORT / WBR_AWS_PORT / WBR_DYNAMODB_PORT",
                file=sys.stderr,
            )
            return 2
    state_dir.mkdir(parents=True, exist_ok=True)
    _dev_pid_file().write_text(str(os.getpid()))
    restoring = not adopted and local_aws.has_state()
    if not adopted:  # the servers boot (and load the kept state) while this process imports
        print(
            f"starting the local AWS on {local_aws.endpoints.endpoint_url} "
            f"(DynamoDB on {local_aws.endpoints.dynamodb_url}) …",
            file=sys.stderr,
        )
        local_aws.spawn()

    from chalice.cli.factory import CLIFactory
    from chalice.local import LocalDevServer

    from chalicelib.adapters.aws import make_client
    from chalicelib.adapters.jwt_tokens import DevKeyPair
    from chalicelib.api import events as event_handlers
    from chalicelib.api.gateway import WebexRequestHandler
    from chalicelib.bootstrap import Container, set_container
    from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE
    from chalicelib.domain.partners import PartnerTree
    from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER, demo_world, load_demo
    from chalicelib.local.events import LocalEventSources, deployed_handlers
    from chalicelib.local.logs import live_logs_requested, route_service_logs
    from chalicelib.local.parts import local_parts
    from chalicelib.local.persistence import DamagedState
    from chalicelib.local.provisioning import ensure_event_sources, ensure_resources
    from chalicelib.local.streams import Health, StreamPositions

    live_logs = live_logs_requested()
    log_path = route_service_logs(state_dir, live=live_logs)
    keys = DevKeyPair(state_dir).ensure()
    factory = CLIFactory(str(PROJECT_DIR), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name="local")
    for name, value in config.environment_variables.items():
        os.environ.setdefault(name, value)
    for name, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.update(local_aws.endpoints.environment())
    os.environ["WBR_JWT_PUBLIC_KEY_FILE"] = str(keys.public_path)
    os.environ["WBR_DEV_PID"] = str(os.getpid())
    os.environ.setdefault("WBR_PUBLIC_BASE_URL", f"http://127.0.0.1:{api_port}")

    container = None
    sources = None
    try:
        if adopted:
            print(
                f"adopting the local AWS a stopped wbr dev left running on {local_aws.endpoints.endpoint_url}",
                file=sys.stderr,
            )
        else:
            try:
                local_aws.wait_ready()
            except RuntimeError as error:
                print(f"wbr dev: the local AWS did not start: {error}", file=sys.stderr)
                return 2
            if restoring:
                print(f"local state: loaded from {state_dir / 'aws'} (wbr dev --fresh starts over)", file=sys.stderr)
        settings = Settings.from_env()
        container = Container(settings, **local_parts())
        set_container(container)
        ensure_resources(settings, container.dynamodb, container.s3)
        sqs = make_client("sqs", settings)
        queues = ensure_event_sources(settings, sqs, container.s3)
        token = ""
        if demo:
            # loaded once: by a start that wrote the mark, or into a local AWS adopted from a
            # stack of before the mark (a first start killed while loading loads it again)
            if _demo_mark().exists() or (adopted and container.calendar.latest_published_day() is not None):
                print("demo data: kept from the previous start", file=sys.stderr)
            else:
                world = demo_world(datetime.now(timezone.utc).date())
                shown = progress("rating demo days") if progress else lambda done, total: None
                loaded = load_demo(world, container.ingestion, container.rating, progress=shown)
                print(
                    f"demo data: {len(world.partners)} partners, {len(world.customers)} customers, "
                    f"{loaded.events} provisioning events, {loaded.days_rated} days rated "
                    f"({loaded.usage_rows} usage rows), late events restated from {loaded.restated_from}",
                    file=sys.stderr,
                )
                _demo_mark().write_text(f'{{"loadedAt": "{datetime.now(timezone.utc).isoformat()}"}}\n')
            token = keys.mint(
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                org_id=DEMO_PARTNER,
                subject=DEMO_ADMIN,
                scopes=[READ_SCOPE, WRITE_SCOPE],
            )
            os.environ["WBR_DEV_TOKEN"] = token  # the API explorer's page comes authorized with it
        stream_arn = container.dynamodb.describe_table(TableName=settings.usage_days_table)["Table"]["LatestStreamArn"]
        reports_stream_arn = container.dynamodb.describe_table(TableName=settings.reports_table)["Table"][
            "LatestStreamArn"
        ]
        try:
            positions = StreamPositions(state_dir / "streams.json")
        except DamagedState as damaged:
            print(f"wbr dev: {damaged}", file=sys.stderr)
            return 2
        sources = LocalEventSources(
            make_client("dynamodbstreams", settings),
            sqs,
            stream_arn,
            queues[settings.events_queue],
            queues[settings.incoming_notifications_queue],
            deployed_handlers(),
            reports_stream_arn=reports_stream_arn,
            deliveries_queue_url=container.deliveries.url,
            positions=positions,
            health=Health(state_dir / "health.json"),
        )
        sources.start()
        base_url = f"http://127.0.0.1:{api_port}"
        values = {name: os.environ.get(name, "") for name in ENV_FILE_KEYS}
        values.update(
            {
                "WBR_BASE_URL": base_url,
                "WBR_TOKEN": token,
                "WBR_REPORTS_TABLE": settings.reports_table,
                "WBR_USAGE_DAYS_TABLE": settings.usage_days_table,
                "WBR_DIRECTORY_TABLE": settings.directory_table,
                "WBR_LAKE_BUCKET": settings.lake_bucket,
                "WBR_REPORTS_BUCKET": settings.reports_bucket,
                "WBR_EVENTS_QUEUE_URL": queues[settings.events_queue],
                "WBR_STATE_DIR": str(state_dir.resolve()),
            }
        )
        # The deployed schedules, in-process: the sweeper (also at once: it resumes or fails the
        # reports whose run died with a previous process) and the daily rating.
        _every(LOCAL_SWEEP_SECONDS, lambda: event_handlers.sweep_overdue_reports(_scheduled_event(), None))
        _every(
            LOCAL_RATING_SECONDS,
            lambda: event_handlers.rate_yesterday(_scheduled_event(), None),
            first_delay=LOCAL_RATING_SECONDS,
        )
        server = LocalDevServer(
            _load_app(), config, "127.0.0.1", api_port, handler_cls=WebexRequestHandler, server_cls=_ApiServer
        )
        path = write_env_file(values)
        partners = list(PartnerTree(container.directory.partners()))  # the tree's order
        print(banner(values, path, demo, partners, log_path, live_logs), flush=True)  # the last line before requests
        for stop_signal in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
            signal.signal(stop_signal, _interrupt)
        try:
            server.server.serve_forever()  # not LocalDevServer's: it prints "Serving on …" under the banner
        except KeyboardInterrupt:
            print("\nstopping …", file=sys.stderr)
        finally:
            server.server.server_close()
        return 0
    finally:
        if sources is not None:
            sources.stop()
        if container is not None and container.built("workflow"):
            container.workflow.stop_all()
        local_aws.stop()
        env_file().unlink(missing_ok=True)
        _dev_pid_file().unlink(missing_ok=True)


def _scheduled_event() -> dict[str, object]:
    """What EventBridge hands a scheduled function: Chalice builds its event from these fields
    (an empty dict failed every local sweep with KeyError 'version')."""
    import uuid

    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "000000000000",
        "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "resources": [],
        "detail": {},
    }


def _every(seconds: float, task: Callable[[], object], first_delay: float = 0.0) -> None:
    """Run `task` (after `first_delay`) and then every `seconds` in a daemon thread (local
    stand-in for a schedule)."""

    def loop() -> None:
        time.sleep(first_delay)
        while True:
            try:
                task()
            except Exception as error:  # noqa: BLE001 - a failed round is retried next round
                print(f"scheduled task failed: {error}", file=sys.stderr)
            time.sleep(seconds)

    threading.Thread(target=loop, name="local-schedule", daemon=True).start()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _load_app():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(PROJECT_DIR))
    import app as app_module

    return app_module.app
