"""`wbr dev`: the whole service on one machine (DESIGN §8 scripting contract).

Starts moto's server on 127.0.0.1 as the local AWS, creates the tables and buckets, loads the
demo partner tree (unless WBR_DEMO=0), writes `.local/env`, and serves the API with Chalice's
local server (through the API Gateway emulation of chalicelib/api/gateway.py) with the report
workflow running in-process. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path

from chalicelib.config import Settings, local_state_dir
from chalicelib.progress import progress_bar

PROJECT_DIR = Path(__file__).resolve().parent.parent
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}
ENV_FILE_KEYS = [
    "WBR_BASE_URL",
    "WBR_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "WBR_REPORTS_TABLE",
    "WBR_USAGE_DAYS_TABLE",
    "WBR_DIRECTORY_TABLE",
    "WBR_LAKE_BUCKET",
    "WBR_REPORTS_BUCKET",
    "WBR_JWT_PUBLIC_KEY_FILE",
]


def env_file() -> Path:
    return local_state_dir(PROJECT_DIR) / "env"


def load_env_file(path: Path | None = None, environ: dict[str, str] | None = None) -> bool:
    """Apply `.local/env` to the environment (variables already set win); False if absent."""
    target = os.environ if environ is None else environ
    path = path or env_file()
    if not path.exists():
        return False
    for line in path.read_text().splitlines():
        parts = shlex.split(line)
        if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
            name, _, value = parts[1].partition("=")
            target.setdefault(name, value)
    return True


def write_env_file(values: Mapping[str, str]) -> Path:
    path = env_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"export {name}={shlex.quote(values[name])}" for name in ENV_FILE_KEYS if values.get(name)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local AWS (moto server) exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the local AWS did not listen on port {port} within {timeout:.0f} s")


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def run_dev_stack(api_port: int, aws_port: int, demo: bool) -> int:
    from chalice.cli.factory import CLIFactory
    from chalice.local import LocalDevServer

    from chalicelib.adapters.jwt_tokens import DevKeyPair
    from chalicelib.adapters.provisioning import ensure_resources
    from chalicelib.api.gateway import WebexRequestHandler
    from chalicelib.bootstrap import Container, set_container
    from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE
    from chalicelib.services.demo_data import DEMO_ADMIN, DEMO_PARTNER, demo_world, load_demo

    for port in (api_port, aws_port):
        if not _port_free(port):
            print(f"port {port} is in use; choose others with WBR_API_PORT / WBR_AWS_PORT", file=sys.stderr)
            return 2
    keys = DevKeyPair(local_state_dir(PROJECT_DIR)).ensure()
    endpoint = f"http://127.0.0.1:{aws_port}"
    factory = CLIFactory(str(PROJECT_DIR), environ=os.environ)
    config = factory.create_config_obj(chalice_stage_name="local")
    for name, value in config.environment_variables.items():
        os.environ.setdefault(name, value)
    for name, value in LOCAL_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    os.environ.pop("AWS_PROFILE", None)
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ["WBR_JWT_PUBLIC_KEY_FILE"] = str(keys.public_path)

    print(f"starting the local AWS (moto server) on {endpoint} …", file=sys.stderr)
    moto = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(aws_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    container = None
    try:
        _wait_for_port(aws_port, moto)
        settings = Settings.from_env()
        container = Container(settings)
        set_container(container)
        ensure_resources(settings, container.dynamodb, container.s3)
        token = ""
        if demo:
            world = demo_world(datetime.now(timezone.utc).date())
            loaded = load_demo(world, container.ingestion, container.rating, progress=progress_bar("rating demo days"))
            print(
                f"demo data: {len(world.partners)} partners, {len(world.customers)} customers, "
                f"{loaded.events} provisioning events, {loaded.days_rated} days rated "
                f"({loaded.usage_rows} usage rows), late events restated from {loaded.restated_from}",
                file=sys.stderr,
            )
            token = keys.mint(
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                org_id=DEMO_PARTNER,
                subject=DEMO_ADMIN,
                scopes=[READ_SCOPE, WRITE_SCOPE],
            )
            os.environ["WBR_DEV_TOKEN"] = token  # the API explorer's page comes authorized with it
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
            }
        )
        _every(600, container.sweeper.sweep)  # the deployed schedule, in-process
        server = LocalDevServer(_load_app(), config, "127.0.0.1", api_port, handler_cls=WebexRequestHandler)
        path = write_env_file(values)
        print(_banner(values, path, demo), flush=True)
        for stop_signal in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
            signal.signal(stop_signal, _interrupt)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("\nstopping …", file=sys.stderr)
        finally:
            server.server.server_close()
        return 0
    finally:
        if container is not None and "workflow" in container.__dict__:
            container.workflow.stop_all()
        moto.terminate()
        try:
            moto.wait(10)
        except subprocess.TimeoutExpired:
            moto.kill()
        env_file().unlink(missing_ok=True)


def _every(seconds: float, task: Callable[[], object]) -> None:
    """Run `task` now and then every `seconds` in a daemon thread (local stand-in for a schedule)."""

    def loop() -> None:
        while True:
            try:
                task()
            except Exception as error:  # noqa: BLE001 - a failed sweep is retried next round
                print(f"scheduled task failed: {error}", file=sys.stderr)
            time.sleep(seconds)

    threading.Thread(target=loop, name="local-schedule", daemon=True).start()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _load_app():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(PROJECT_DIR))
    import app as app_module

    return app_module.app


def _banner(values: Mapping[str, str], path: Path, demo: bool) -> str:
    base = values["WBR_BASE_URL"] + "/v1/wholesale/billing/reports"
    lines = [
        "",
        "wholesale-billing-reports is running (Ctrl-C stops it)",
        f"  API         {values['WBR_BASE_URL']}",
        f"  explorer    {values['WBR_BASE_URL']}/v1/wholesale/billing/docs   (Swagger UI)",
        f"  local AWS   {values['AWS_ENDPOINT_URL']}",
        f"  env file    {path}   (source it: . {path.relative_to(PROJECT_DIR)})",
        "",
    ]
    for name in ENV_FILE_KEYS:
        if values.get(name):
            lines.append(f"export {name}={shlex.quote(values[name])}")
    if demo:
        yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
        start = yesterday.replace(day=1) if yesterday.day > 1 else yesterday
        lines += [
            "",
            "Try it (in another shell: . .local/env):",
            f"  curl -s -X POST {base} -H \"Authorization: Bearer $WBR_TOKEN\" -H 'Content-Type: application/json' \\",
            f'       -d \'{{"billingStartDate": "{start}", "billingEndDate": "{yesterday}", "type": "USER"}}\'',
            f'  curl -s {base} -H "Authorization: Bearer $WBR_TOKEN"',
            f'  curl -s {base}/<id> -H "Authorization: Bearer $WBR_TOKEN"        # tempDownloadURL once COMPLETED',
            '  curl -s -o report.csv "<tempDownloadURL>"',
            f'  curl -s -X DELETE {base}/<id> -H "Authorization: Bearer $WBR_TOKEN"',
            "  wbr token --org <partner org id> --scopes spark-admin:wholesale_billing_reports_read",
        ]
    return "\n".join(lines)
