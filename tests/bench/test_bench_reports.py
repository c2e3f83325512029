"""Report figures (docs/FIGURES.md): a USER report over a 31-day month for a partner with 100 000
subjects (3.1 M usage rows) — create → COMPLETED ≤ 3 s and ≤ 1.5× a bare DuckDB run on 2 cores,
peak RSS ≤ 1 GiB — beside two baselines measured in the same run over the same lake objects,
and the curve 10 k / 100 k / 1 M.

The data: `local/scaled_world.py`'s `scaled_world` (one partner, N subjects over N/50 customers with 1–3
locations, 10 % workspaces, every subject assigned from the day before the month through its
end) → `demo_events` (with its duplicate deliveries and redundant ASSIGNED events) → the real
ingestion and rating (`load_demo`: `IngestionService.ingest_lines`, `RatingService.rate_through`)
into a moto server, as `wbr dev` runs it. What the pipeline wrote (the lake bucket, the directory
and usage_days tables) is cached per size under `.local/bench-data/<N>-<hash>/`, the hash
covering the generator's parameters and the source of the code that writes the data; a re-run
restores that into a fresh moto server instead of generating again.

Every measured run is a separate process (`python -m tests.bench.test_bench_reports MODE …`),
started once the data is in place, so neither the set-up's time nor its memory counts: peak RSS
is that process's VmHWM.
- ours: the service in-process as `wbr dev` runs it (Container from the environment, local
  workflow runner = threads, default settings), reading the lake from the moto server. After one
  warm-up list request, the clock runs from POST /v1/wholesale/billing/reports (through the local
  API Gateway emulation, with a token) until GET answers COMPLETED (the worker thread is joined,
  then GET confirms it).
- bare DuckDB: local copies of the very same partition objects (the period's published day
  versions, as their `_partitions.json` manifests name the partner's partitions), fetched before
  the clock starts — the compute limit of this machine, no S3 — and one
  ``GROUP BY … ORDER BY … COPY TO 'x.csv'`` with the same naming joins and QUANTITY formatting.
- pure Python: the same local copies, every row to a Python dict (`to_pylist` per 64 k batch),
  summed into a dict keyed by the USER key, written with `csv`.
Both baselines' files are checked against the report the service wrote (same rows; the Python
one byte for byte). At 100 k the same report is also created as csv.gz and parquet (time and
size of each, checked against the CSV's rows) and profiled once.

The tests: the month curve (the 1 M lake also holds a 1 000-subject partner), that small
partner's report in the 1 M lake against the same report in a lake of its own, and 10 000
subjects over five years.

Knobs: WBR_BENCH_REPORT_SIZES (default "10000,100000,1000000"), WBR_BENCH_REPORT_RUNS (best of,
default 3; 1 at 1 M), WBR_BENCH_PYTHON_MAX (largest size the slow Python baseline runs at,
default 100000), WBR_BENCH_FIVE_YEAR_SUBJECTS (default 10000), WBR_BENCH_PROFILE (0: no profiled
run), WBR_BENCH_DATA (cache directory, default .local/bench-data).
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.bench.conftest import moto_server

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parents[2]
FIGURE_SUBJECTS = 100_000
TARGET_SECONDS = 3.0
TARGET_RSS_MIB = 1024
TARGET_BARE_RATIO = 1.5
SMALL_SUBJECTS = 1_000  # a small partner's report, in a lake of 1 M others and alone
SMALL_PARTNER = "Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9zbWFsbC13aG9sZXNhbGU"  # ciscospark://us/ORGANIZATION/small-wholesale
GENERATOR = {"subjects_per_customer": 50, "workspace_share": 0.1, "seed": 17, "events_seed": 7}
# The code whose behaviour shapes the data set (a change re-generates it).
DATA_SOURCES = [
    "chalicelib/local/demo.py",
    "chalicelib/local/scaled_world.py",
    "chalicelib/services/ingestion.py",
    "chalicelib/adapters/event_chunks.py",
    "chalicelib/services/ingest_ports.py",
    "chalicelib/services/rating.py",
    "chalicelib/adapters/event_log.py",
    "chalicelib/adapters/event_screen.py",
    "chalicelib/adapters/usage_lake.py",
    "chalicelib/adapters/usage_lake_layout.py",
    "chalicelib/adapters/usage_calendar.py",
    "chalicelib/adapters/dynamo_directory.py",
    "chalicelib/domain/events.py",
    "chalicelib/domain/rating.py",
    "chalicelib/domain/proration.py",
]
USER_KEY = ("customer_org_id", "location_id", "subscription_id", "sku", "subject_type", "user_id", "subscriber_id",
            "workspace_id")
USER_COLUMNS = ("PARTNER_NAME", "PARTNER_ORG_ID", "SUBSCRIPTION_ID", "SERVICE_NAME", "SKU", "DESCRIPTION",
                "CONSUMPTION_START_DATE", "CONSUMPTION_END_DATE", "QUANTITY", "CUSTOMER_ORG_ID",
                "CUSTOMER_EXTERNAL_ID", "SUBSCRIBER_ID", "USER_ID", "WORKSPACE_ID", "LOCATION_ID")


def _sizes() -> list[int]:
    return [int(size) for size in os.environ.get("WBR_BENCH_REPORT_SIZES", "10000,100000,1000000").split(",") if size]


def _label(subjects: int) -> str:
    return f"{subjects // 1_000_000}M" if subjects % 1_000_000 == 0 else f"{subjects // 1000}k"


def _month(today: date) -> tuple[date, date]:
    """The latest 31-day calendar month that is over."""
    year, month = today.year, today.month
    while True:
        month -= 1
        if month == 0:
            year, month = year - 1, 12
        days = calendar.monthrange(year, month)[1]
        if days == 31 and date(year, month, 31) < today:
            return date(year, month, 1), date(year, month, 31)


def _code_version() -> str:
    """The commit and a digest of the working tree's service code (others edit it concurrently)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    digest = hashlib.sha256()
    for path in sorted((ROOT / "chalicelib").rglob("*.py")) + [ROOT / "app.py"]:
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return f"{head.stdout.strip() or 'unknown'}+tree-{digest.hexdigest()[:12]}"


def _log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


# ---- the data set: generated through the pipeline once, cached per size ------------------------


def _spec(subjects: int, first: date, last: date, small: int = 0) -> dict[str, Any]:
    """A data set: the scaled partner with `subjects`, and (when `small`) another partner with
    `small` subjects in the same lake, over first..last."""
    worlds = [{"subjects": subjects, "partner": None, "seed": GENERATOR["seed"]}]
    if small:
        worlds.append({"subjects": small, "partner": SMALL_PARTNER, "seed": GENERATOR["seed"] + 1})
    return {"worlds": worlds, "first": first.isoformat(), "last": last.isoformat()}


def _spec_label(spec: dict[str, Any]) -> str:
    days = (date.fromisoformat(spec["last"]) - date.fromisoformat(spec["first"])).days + 1
    return "+".join(_label(world["subjects"]) for world in spec["worlds"]) + f"-{days}d"


def _data_key(spec: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps({**spec, **GENERATOR}, sort_keys=True).encode())
    for source in DATA_SOURCES:
        digest.update(source.encode() + b"\0" + (ROOT / source).read_bytes())
    return digest.hexdigest()[:16]


def _tables(settings: Any) -> list[str]:
    return [settings.directory_table, settings.usage_days_table]


def _generate(container: Any, spec: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.local.demo import load_demo
    from chalicelib.local.scaled_world import SCALED_PARTNER, merge_worlds, scaled_world

    started = time.perf_counter()
    first, last = date.fromisoformat(spec["first"]), date.fromisoformat(spec["last"])
    world = merge_worlds(*(
        scaled_world(first, last, part["subjects"], GENERATOR["subjects_per_customer"], GENERATOR["workspace_share"],
                     part["seed"], part["partner"] or SCALED_PARTNER,
                     "Scale Wholesale" if part["partner"] is None else "Small Wholesale")
        for part in spec["worlds"]))
    label = _spec_label(spec)
    _log(f"{label}: world of {len(world.customers)} customers built in "
         f"{time.perf_counter() - started:.1f} s; events → ingestion → rating (load_demo) …")
    rating_started: list[float] = []

    def progress(done: int, total: int) -> None:
        if not rating_started:
            rating_started.append(time.perf_counter())
            _log(f"  events ingested after {rating_started[0] - started:.1f} s; rating {total} days …")
        if done == total or done % max(5, total // 20) == 0:
            _log(f"  rated {done}/{total} days ({time.perf_counter() - rating_started[0]:.1f} s)")

    loaded = load_demo(world, container.ingestion, container.rating, progress)
    finished = time.perf_counter()
    return {
        "events": loaded.events,
        "days_rated": loaded.days_rated,
        "lake_usage_rows": loaded.usage_rows,
        "customers": len(world.customers),
        "ingest_seconds": round((rating_started[0] if rating_started else finished) - started, 1),
        "rating_seconds": round(finished - rating_started[0], 1) if rating_started else 0.0,
        "rating_seconds_per_day": round((finished - rating_started[0]) / max(loaded.days_rated, 1), 2)
        if rating_started else 0.0,
    }


def _save(container: Any, directory: Path, manifest: dict[str, Any]) -> None:
    settings = container.settings
    if directory.exists():
        shutil.rmtree(directory)
    (directory / "objects").mkdir(parents=True)
    for page in container.s3.get_paginator("list_objects_v2").paginate(Bucket=settings.lake_bucket):
        for entry in page.get("Contents", []):
            target = directory / "objects" / entry["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            container.s3.download_file(settings.lake_bucket, entry["Key"], str(target))
    for table in _tables(settings):
        with (directory / f"{table}.jsonl").open("w") as out:
            for page in container.dynamodb.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    out.write(json.dumps(item) + "\n")
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))  # last: marks the copy complete


def _restore(container: Any, directory: Path) -> None:
    settings = container.settings
    objects = directory / "objects"
    for path in sorted(objects.rglob("*")):
        if path.is_file():
            container.s3.upload_file(str(path), settings.lake_bucket, path.relative_to(objects).as_posix(),
                                     ExtraArgs={"ServerSideEncryption": "AES256"})
    for table in _tables(settings):
        items = [json.loads(line) for line in (directory / f"{table}.jsonl").read_text().splitlines() if line]
        for start in range(0, len(items), 25):
            pending = {table: [{"PutRequest": {"Item": item}} for item in items[start:start + 25]]}
            while pending:
                pending = container.dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def _data_set(env: dict[str, str], spec: dict[str, Any], partner_org_id: str | None = None) -> dict[str, Any]:
    """Put the data set `spec` into the moto server at `env` (restored from the cache or
    generated through the pipeline); returns what was done and the lake objects of the period
    that hold `partner_org_id`'s usage (default: the scaled partner), as the day versions'
    manifests name them."""
    from chalicelib.adapters.usage_lake_layout import MANIFEST
    from chalicelib.bootstrap import Container
    from chalicelib.config import Settings
    from chalicelib.local.parts import local_parts
    from chalicelib.local.provisioning import ensure_resources
    from chalicelib.local.scaled_world import SCALED_PARTNER

    container = Container(Settings.from_env(env), **local_parts())
    ensure_resources(container.settings, container.dynamodb, container.s3)
    cache_root = Path(os.environ.get("WBR_BENCH_DATA", ROOT / ".local" / "bench-data"))
    label = _spec_label(spec)
    directory = cache_root / f"{label}-{_data_key(spec)}"
    started = time.perf_counter()
    if (directory / "manifest.json").exists():
        manifest = json.loads((directory / "manifest.json").read_text())
        _restore(container, directory)
        setup = {"data": "restored from cache", "restore_seconds": round(time.perf_counter() - started, 1),
                 **manifest["generated"]}
        _log(f"{label}: data set restored from {directory} in {setup['restore_seconds']} s")
    else:
        generated = _generate(container, spec)
        for stale in cache_root.glob(f"{label}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        _save(container, directory, {"spec": spec, "generator": GENERATOR, "sources": DATA_SOURCES,
                                     "generated": generated})
        setup = {"data": "generated through ingestion + rating", **generated,
                 "setup_seconds": round(time.perf_counter() - started, 1)}
        _log(f"{label}: generated in {setup['setup_seconds']} s, cached in {directory}")
    # As `wbr ingest` does after directory upserts: the snapshot a report names its rows from is
    # published before the first report, whose Plan would otherwise build it (a one-off per
    # directory change, measured in test_bench_directory.py).
    snapshot_started = time.perf_counter()
    setup["directory_snapshot_version"] = container.directory_snapshots.refresh()
    setup["directory_snapshot_seconds"] = round(time.perf_counter() - snapshot_started, 2)
    first, last = date.fromisoformat(spec["first"]), date.fromisoformat(spec["last"])
    days = [first + timedelta(days=offset) for offset in range((last - first).days + 1)]
    versions = container.calendar.published_versions(days)
    assert sorted(versions) == days, "every day of the period is published"
    partner_org_id = partner_org_id or SCALED_PARTNER
    bucket = container.settings.lake_bucket
    objects, lake_objects = [], 0
    for day in days:
        prefix = f"usage/date={day.isoformat()}/v={versions[day]}/"
        listed = json.loads(container.s3.get_object(Bucket=bucket, Key=prefix + MANIFEST)["Body"].read())
        lake_objects += len(listed["partitions"])
        objects.extend((entry["key"], entry["rows"]) for entry in listed["partitions"]
                       if entry["partnerOrgId"] == partner_org_id)
    sizes = {}
    started = time.perf_counter()
    for key, _ in objects:  # the floor of any reader: every byte of the partner's objects once, boto3
        sizes[key] = len(container.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    read_once = time.perf_counter() - started
    partner = next(p for p in container.directory.partners() if p.org_id == partner_org_id)
    return {
        "setup": setup,
        "keys": [key for key, _ in objects],
        "usage_rows": sum(rows for _, rows in objects),
        "lake_objects": lake_objects,
        "lake_megabytes": round(sum(sizes.values()) / 2**20, 1),
        "read_objects_once_seconds": round(read_once, 2),
        "bucket": bucket,
        "reports_bucket": container.settings.reports_bucket,
        "partner": {"org_id": partner.org_id, "name": partner.name},
        "skus": {sku.sku: [sku.service_name, sku.description] for sku in container.directory.skus()},
        "customers": {customer.org_id: customer.external_id
                      for customer in container.directory.customers_of([partner.org_id])},
    }


def _local_copies(arguments: dict[str, Any]) -> list[str]:
    """The baselines' input: local copies of the very same lake objects (fetched before the clock
    starts: the compute limit of this machine, no S3)."""
    import boto3

    folder = Path(arguments["csv"]).parent / "local-lake"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
    paths = []
    for index, key in enumerate(arguments["keys"]):
        path = folder / f"{index:06d}.parquet"
        s3.download_file(arguments["bucket"], key, str(path))
        paths.append(str(path))
    return paths


# ---- measured processes ---------------------------------------------------------------------------


def _run_child(mode: str, arguments: dict[str, Any], env: dict[str, str], work: Path) -> dict[str, Any]:
    work.mkdir(parents=True, exist_ok=True)
    count = len(list(work.glob(f"{mode}-*.args.json")))
    args_path, out_path = work / f"{mode}-{count}.args.json", work / f"{mode}-{count}.out.json"
    args_path.write_text(json.dumps(arguments))
    load = os.getloadavg()[0]
    with (work / f"{mode}-{count}.log").open("w") as log:
        # the service's log lines (stdout) go to the file, the child's progress (stderr) to the terminal
        done = subprocess.run([sys.executable, "-m", "tests.bench.test_bench_reports", mode, str(args_path),
                               str(out_path)], cwd=ROOT, env=env, stdout=log, timeout=4 * 3600)
    if done.returncode != 0:
        tail = (work / f"{mode}-{count}.log").read_text()[-4000:]
        raise AssertionError(f"{mode} process failed ({done.returncode}; its stderr is above), log tail:\n{tail}")
    return {**json.loads(out_path.read_text()), "load_1min_before": round(load, 2)}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _mib(kib: int) -> float:
    return round(kib / 1024, 1)


def _progress(message: str) -> None:
    print(f"    [report {datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _child_report(arguments: dict[str, Any]) -> dict[str, Any]:
    """The service as `wbr dev` runs it: create over HTTP, wait for COMPLETED."""
    import threading

    from chalice.config import Config

    import app as app_module
    from chalicelib.adapters.jwt_tokens import DevKeyPair
    from chalicelib.api.gateway import WebexLocalGateway
    from chalicelib.bootstrap import Container, set_container
    from chalicelib.config import Settings
    from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE
    from chalicelib.domain.workflow_messages import PlanReady, ShardList
    from chalicelib.local.parts import local_parts

    container = Container(Settings.from_env(), **local_parts())
    set_container(container)
    gateway = WebexLocalGateway(app_module.app, Config.create(chalice_stage="local"))
    settings = container.settings
    token = DevKeyPair(Path(arguments["keys_dir"])).mint(
        issuer=settings.jwt_issuer, audience=settings.jwt_audience, org_id=arguments["partner"],
        subject="bench-admin", scopes=[READ_SCOPE, WRITE_SCOPE])
    headers = {"host": "localhost", "authorization": f"Bearer {token}"}

    def call(method: str, path: str, body: Any = None) -> tuple[int, Any]:
        sent = dict(headers)
        raw = b""
        if body is not None:
            sent["content-type"] = "application/json"
            raw = json.dumps(body).encode()
        response = gateway.handle_request(method=method, path=path, headers=sent, body=raw)
        payload = response.get("body") or b""
        return response["statusCode"], (json.loads(payload) if payload else None)

    base = "/v1/wholesale/billing/reports"
    status, _ = call("GET", base)  # warm-up: a user lists reports first (clients, token verifier)
    assert status == 200, status

    clock: list[float] = [0.0]
    timeline: list[tuple[str, float, float]] = []
    shards = [0]
    generation = container.generation
    for name in ("plan", "aggregate_shard", "assemble", "finalize", "mark_failed"):
        original = getattr(generation, name)

        def timed(message: Any, _original: Any = original, _name: str = name) -> Any:
            started = time.perf_counter()
            try:
                result = _original(message)
                if _name == "plan" and isinstance(result, PlanReady):
                    shards[0] = result.shards.count if isinstance(result.shards, ShardList) else len(result.shards)
                    _progress(f"planned {shards[0]} shards at {time.perf_counter() - clock[0]:.1f} s")
                return result
            finally:
                timeline.append((_name, started - clock[0], time.perf_counter() - clock[0]))
                if _name == "aggregate_shard":
                    done = sum(1 for step, _, _ in timeline if step == "aggregate_shard")
                    if shards[0] > 4 or done == shards[0]:
                        _progress(f"shard {done}/{shards[0]} done at {time.perf_counter() - clock[0]:.1f} s, "
                                  f"RSS {_mib(_status_kib('VmRSS'))} MiB")

        setattr(generation, name, timed)

    profiles: list[Any] = []
    main_profile = None
    if arguments.get("profile"):
        import cProfile

        original_run = threading.Thread.run

        def profiled_run(self: threading.Thread) -> None:
            profile = cProfile.Profile()
            profile.enable()
            try:
                original_run(self)
            finally:
                profile.disable()
                profiles.append(profile)

        threading.Thread.run = profiled_run  # type: ignore[method-assign]
        main_profile = cProfile.Profile()

    rss_before = _status_kib("VmRSS")
    body = {"billingStartDate": arguments["first"], "billingEndDate": arguments["last"], "type": "USER"}
    if arguments.get("format"):
        body["format"] = arguments["format"]
    if main_profile is not None:
        main_profile.enable()
    clock[0] = started = time.perf_counter()
    status, created = call("POST", base, body)
    accepted = time.perf_counter() - started
    assert status == 200, (status, created)
    container.workflow.join(timeout=4 * 3600)
    status, report = call("GET", f"{base}/{created['id']}")
    seconds = time.perf_counter() - started
    if main_profile is not None:
        main_profile.disable()
    peak = _status_kib("VmHWM")
    assert status == 200 and report["status"] == "COMPLETED", report
    if main_profile is not None:
        import pstats

        stats = pstats.Stats(main_profile)
        for profile in profiles:
            stats.add(profile)
        stats.dump_stats(arguments["profile"])
    stored = container.report_store.get(arguments["partner"], created["id"])
    container.s3.download_file(settings.reports_bucket, stored.s3_key, arguments["csv"])
    status, _ = call("DELETE", f"{base}/{created['id']}")  # so that the next run creates anew
    assert status == 204, status
    shards = [(start, end) for name, start, end in timeline if name == "aggregate_shard"]
    steps = {name: round(sum(end - start for step, start, end in timeline if step == name), 3)
             for name in ("plan", "assemble", "finalize")}
    return {
        "seconds": seconds,
        "accepted_ms": round(accepted * 1000, 1),
        "rss_before_mib": _mib(rss_before),
        "peak_rss_mib": _mib(peak),
        "rows": stored.row_count,
        "sha256": stored.sha256,
        "file_bytes": os.path.getsize(arguments["csv"]),
        "steps": {
            **steps,
            "aggregate_wall": round(max(end for _, end in shards) - min(start for start, _ in shards), 3),
            "aggregate_shards": len(shards),
            "aggregate_shard_sum": round(sum(end - start for start, end in shards), 3),
            "aggregate_shard_max": round(max(end - start for start, end in shards), 3),
        },
    }


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _child_bare(arguments: dict[str, Any]) -> dict[str, Any]:
    """A bare DuckDB GROUP BY … COPY TO 'x.csv' computing the same USER rows."""
    import duckdb
    import pyarrow as pa

    paths = _local_copies(arguments)
    connection = duckdb.connect(config={"autoinstall_known_extensions": False,
                                        "autoload_known_extensions": False})
    skus = pa.table({"sku": list(arguments["skus"]), "service_name": [v[0] for v in arguments["skus"].values()],
                     "description": [v[1] for v in arguments["skus"].values()]})
    customers = pa.table({"org_id": list(arguments["customers"]), "external_id": list(arguments["customers"].values())})
    connection.register("skus", skus)
    connection.register("customers", customers)
    keys = ", ".join(f"g.{name}" for name in USER_KEY)
    rss_before = _status_kib("VmRSS")
    started = time.perf_counter()
    connection.execute(f"CREATE VIEW usage AS SELECT * FROM read_parquet([{', '.join(map(_literal, paths))}])")
    connection.execute(
        f"""COPY (
          SELECT {_literal(arguments["partner_name"])} AS PARTNER_NAME, {_literal(arguments["partner"])} AS PARTNER_ORG_ID, g.subscription_id AS SUBSCRIPTION_ID,
                 coalesce(s.service_name, '') AS SERVICE_NAME, g.sku AS SKU, coalesce(s.description, '') AS DESCRIPTION,
                 CAST(g.first_day AS VARCHAR) AS CONSUMPTION_START_DATE,
                 CAST(g.last_day AS VARCHAR) AS CONSUMPTION_END_DATE,
                 CASE WHEN g.units % 1000000 = 0 THEN CAST(g.units // 1000000 AS VARCHAR)
                      ELSE rtrim(CAST(g.units // 1000000 AS VARCHAR) || '.'
                                 || lpad(CAST(g.units % 1000000 AS VARCHAR), 6, '0'), '0') END AS QUANTITY,
                 g.customer_org_id AS CUSTOMER_ORG_ID, coalesce(c.external_id, '') AS CUSTOMER_EXTERNAL_ID,
                 g.subscriber_id AS SUBSCRIBER_ID, g.user_id AS USER_ID, g.workspace_id AS WORKSPACE_ID,
                 g.location_id AS LOCATION_ID
          FROM (SELECT {", ".join(USER_KEY)}, SUM(units) AS units, MIN(usage_date) AS first_day,
                       MAX(usage_date) AS last_day
                FROM usage WHERE partner_org_id = {_literal(arguments["partner"])} AND units > 0
                GROUP BY ALL HAVING SUM(units) > 0) AS g
          LEFT JOIN skus AS s ON s.sku = g.sku
          LEFT JOIN customers AS c ON c.org_id = g.customer_org_id
          ORDER BY {keys}
        ) TO {_literal(arguments["csv"])} (HEADER, DELIMITER ',')"""
    )
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rss_before_mib": _mib(rss_before), "peak_rss_mib": _mib(_status_kib("VmHWM"))}


def _child_python(arguments: dict[str, Any]) -> dict[str, Any]:
    """A straightforward pure-Python row loop: rows to dicts, sums in a dict, the csv module."""
    import pyarrow.parquet as pq

    paths = _local_copies(arguments)
    rss_before = _status_kib("VmRSS")
    started = time.perf_counter()
    partner = arguments["partner"]
    totals: dict[tuple[str, ...], list[Any]] = {}
    for path in paths:
        with open(path, "rb") as source:
            for batch in pq.ParquetFile(source).iter_batches(batch_size=65_536):
                for row in batch.to_pylist():
                    if row["partner_org_id"] != partner or row["units"] <= 0:
                        continue
                    group = (row["customer_org_id"], row["location_id"], row["subscription_id"], row["sku"],
                             row["subject_type"], row["user_id"], row["subscriber_id"], row["workspace_id"])
                    day, units = row["usage_date"], row["units"]
                    total = totals.get(group)
                    if total is None:
                        totals[group] = [units, day, day]
                    else:
                        total[0] += units
                        if day < total[1]:
                            total[1] = day
                        if day > total[2]:
                            total[2] = day
    skus, customers = arguments["skus"], arguments["customers"]
    with open(arguments["csv"], "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(USER_COLUMNS)
        for group in sorted(totals):
            units, first, last = totals[group]
            customer, location, subscription, sku, _, user, subscriber, workspace = group
            whole, fraction = divmod(units, 1_000_000)
            quantity = str(whole) if not fraction else f"{whole}.{fraction:06d}".rstrip("0")
            service, description = skus.get(sku, ["", ""])
            writer.writerow([arguments["partner_name"], partner, subscription, service, sku, description,
                             first.isoformat(), last.isoformat(), quantity, customer, customers.get(customer, ""),
                             subscriber, user, workspace, location])
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rss_before_mib": _mib(rss_before), "peak_rss_mib": _mib(_status_kib("VmHWM"))}


CHILDREN = {"report": _child_report, "bare": _child_bare, "python": _child_python}


def _same_rows(ours: Path, other: Path) -> bool:
    """Both CSV files hold the same rows in the same order (quoting and line ends aside)."""
    with ours.open(newline="", encoding="utf-8") as a, other.open(newline="", encoding="utf-8") as b:
        mine, theirs = csv.reader(a), csv.reader(b)
        sentinel = object()
        for left in mine:
            if left != next(theirs, sentinel):
                return False
        return next(theirs, sentinel) is sentinel


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---- the benchmark ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def curve(record):
    rows: dict[int, dict[str, Any]] = {}
    yield rows
    if not rows:
        return
    lines = [
        "",
        "USER report, 31-day month, one partner (create → COMPLETED, own process; baselines over local copies "
        "of the same objects)",
        f"{'subjects':>9} {'usage rows':>11} {'lake MiB':>8} {'report rows':>11} {'ours s':>7} {'peak RSS MiB':>12} "
        f"{'bare DuckDB s':>13} {'ours/bare':>9} {'bare RSS':>8} {'python s':>9} {'python/ours':>11} {'shards':>6}",
    ]
    for subjects, row in sorted(rows.items()):
        python = row.get("python_seconds")
        lines.append(
            f"{subjects:>9,} {row['usage_rows']:>11,} {row['partner_megabytes']:>8} {row['report_rows']:>11,} "
            f"{row['seconds']:>7} {row['peak_rss_mib']:>12} {row['bare_duckdb_seconds']:>13} "
            f"{row['ratio_ours_to_bare']:>9} {row['bare_duckdb_peak_rss_mib']:>8} "
            f"{python if python is not None else '-':>9} {row.get('ratio_python_to_ours', '-'):>11} "
            f"{row['steps']['aggregate_shards']:>6}"
        )
    sizes = sorted(rows)
    for smaller, larger in zip(sizes, sizes[1:], strict=False):
        lines.append(f"  {_label(smaller)} → {_label(larger)}: ×{larger / smaller:g} subjects, "
                     f"×{rows[larger]['seconds'] / rows[smaller]['seconds']:.1f} time, "
                     f"×{rows[larger]['peak_rss_mib'] / rows[smaller]['peak_rss_mib']:.1f} peak RSS")
    print("\n".join(lines))
    record("report_user_curve", points=[
        {"subjects": subjects, "seconds": row["seconds"], "peak_rss_mib": row["peak_rss_mib"],
         "bare_duckdb_seconds": row["bare_duckdb_seconds"], "python_seconds": row.get("python_seconds")}
        for subjects, row in sorted(rows.items())])


def _measure(env: dict[str, str], data: dict[str, Any], first: date, last: date, subjects: int, runs: int,
             dev_keys: Any, tmp_path: Path, python: bool = False) -> tuple[dict[str, Any], dict[str, Any], dict]:
    """`runs` × (ours, bare DuckDB) of the USER report of `data`'s partner over first..last,
    and once the pure-Python loop when `python`; the files checked against each other."""
    child_env = {**env, "WBR_STAGE": "local", "WBR_JWT_PUBLIC_KEY_FILE": str(dev_keys.public_path),
                 "POWERTOOLS_LOG_LEVEL": os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO"),
                 "AWS_EC2_METADATA_DISABLED": "true"}
    common = {"partner": data["partner"]["org_id"], "partner_name": data["partner"]["name"],
              "first": first.isoformat(), "last": last.isoformat(), "bucket": data["bucket"],
              "keys": data["keys"], "skus": data["skus"], "customers": data["customers"],
              "keys_dir": str(dev_keys.public_path.parent)}
    ours_csv, bare_csv, python_csv = tmp_path / "ours.csv", tmp_path / "bare.csv", tmp_path / "python.csv"
    ours: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    label = _label(subjects)
    for run in range(runs):
        _log(f"{label}: report run {run + 1}/{runs} (create → COMPLETED) …")
        ours.append(_run_child("report", {**common, "csv": str(ours_csv)}, child_env, tmp_path / "work"))
        _log(f"  {ours[-1]['seconds']:.2f} s, peak RSS {ours[-1]['peak_rss_mib']} MiB, steps {ours[-1]['steps']}")
        assert ours[-1]["rows"] == subjects
        _log(f"{label}: bare DuckDB run {run + 1}/{runs} (local copies of the same objects) …")
        bare.append(_run_child("bare", {**common, "csv": str(bare_csv)}, child_env, tmp_path / "work"))
        _log(f"  {bare[-1]['seconds']:.2f} s, peak RSS {bare[-1]['peak_rss_mib']} MiB")
    assert _sha256(ours_csv) == ours[-1]["sha256"]
    assert _same_rows(ours_csv, bare_csv), "the bare DuckDB baseline computes the same rows"
    best, best_bare = min(ours, key=lambda r: r["seconds"]), min(bare, key=lambda r: r["seconds"])
    figures: dict[str, Any] = {
        "subjects": subjects,
        "customers": len(data["customers"]),
        "period": f"{first.isoformat()}..{last.isoformat()}",
        "days": (last - first).days + 1,
        "usage_rows": data["usage_rows"],
        "partner_objects": len(data["keys"]),
        "lake_objects": data["lake_objects"],
        "partner_megabytes": data["lake_megabytes"],
        "report_rows": best["rows"],
        "seconds": round(best["seconds"], 2),
        "runs_seconds": [round(r["seconds"], 2) for r in ours],
        "runs_load_1min_before": [r["load_1min_before"] for r in ours],
        "create_accepted_ms": best["accepted_ms"],
        "peak_rss_mib": max(r["peak_rss_mib"] for r in ours),
        "rss_before_create_mib": best["rss_before_mib"],
        "steps": best["steps"],
        "bare_duckdb_seconds": round(best_bare["seconds"], 2),
        "bare_duckdb_runs_seconds": [round(r["seconds"], 2) for r in bare],
        "bare_duckdb_peak_rss_mib": max(r["peak_rss_mib"] for r in bare),
        "ratio_ours_to_bare": round(best["seconds"] / best_bare["seconds"], 2),
        "bare_duckdb_runs_load_1min_before": [r["load_1min_before"] for r in bare],
        "baselines_read": "local copies of the very same lake objects (fetched before the clock starts)",
        "read_objects_once_seconds": data["read_objects_once_seconds"],
        "cores": os.cpu_count(),
        "code": _code_version(),
        "setup": data["setup"],
    }
    if python:
        _log(f"{label}: pure-Python baseline …")
        loop = _run_child("python", {**common, "csv": str(python_csv)}, child_env, tmp_path / "work")
        _log(f"  {loop['seconds']:.2f} s, peak RSS {loop['peak_rss_mib']} MiB")
        assert _sha256(python_csv) == best["sha256"], "the Python baseline writes the very same file"
        figures.update(python_seconds=round(loop["seconds"], 2), python_peak_rss_mib=loop["peak_rss_mib"],
                       ratio_python_to_ours=round(loop["seconds"] / best["seconds"], 1))
    return figures, common, child_env


@pytest.mark.parametrize("subjects", _sizes(), ids=_label)
def test_user_report_month(subjects, curve, record, tmp_path, dev_keys):
    """The month curve; the 1 M lake also holds the small partner (its own test reads it)."""
    first, last = _month(datetime.now(timezone.utc).date())
    runs = int(os.environ.get("WBR_BENCH_REPORT_RUNS", "3")) if subjects < 1_000_000 else 1
    python_max = int(os.environ.get("WBR_BENCH_PYTHON_MAX", str(FIGURE_SUBJECTS)))
    with moto_server() as env:
        spec = _spec(subjects, first, last, small=SMALL_SUBJECTS if subjects >= 1_000_000 else 0)
        data = _data_set(env, spec)
        figures, common, child_env = _measure(env, data, first, last, subjects, runs, dev_keys, tmp_path,
                                              python=subjects <= python_max)
        figures.update(target_ratio_ours_to_bare=TARGET_BARE_RATIO,
                       meets_ratio_to_bare=figures["ratio_ours_to_bare"] <= TARGET_BARE_RATIO,
                       target_rss_mib=TARGET_RSS_MIB, meets_rss=figures["peak_rss_mib"] <= TARGET_RSS_MIB)
        if subjects == FIGURE_SUBJECTS:
            figures.update(target_seconds=TARGET_SECONDS, meets_seconds=figures["seconds"] <= TARGET_SECONDS)
            figures["formats"] = _formats(figures, common, child_env, tmp_path, runs)
            if os.environ.get("WBR_BENCH_PROFILE", "1") != "0":
                figures["profile"] = _profile(common, child_env, tmp_path)
        record(f"report_user_{_label(subjects)}", **figures)
        curve[subjects] = figures


def test_a_small_partners_report_follows_the_partner_not_the_lake(record, tmp_path, dev_keys):
    """The 1 000-subject partner's USER month in the lake of the 1 M figure (which holds it
    beside the 1 000 000 subjects of another partner), against the same report in a lake
    holding only that partner."""
    first, last = _month(datetime.now(timezone.utc).date())
    runs = int(os.environ.get("WBR_BENCH_REPORT_RUNS", "3"))
    results = {}
    big = max(_sizes() + [1_000_000])
    for name, spec in (("in_large_lake", _spec(big, first, last, small=SMALL_SUBJECTS)),
                       ("alone", {"worlds": [{"subjects": SMALL_SUBJECTS, "partner": SMALL_PARTNER,
                                              "seed": GENERATOR["seed"] + 1}],
                                  "first": first.isoformat(), "last": last.isoformat()})):
        with moto_server() as env:
            data = _data_set(env, spec, SMALL_PARTNER)
            figures, _, _ = _measure(env, data, first, last, SMALL_SUBJECTS, runs, dev_keys, tmp_path / name)
            figures["data_set"] = _spec_label(spec)
            results[name] = figures
    ratio = results["in_large_lake"]["seconds"] / results["alone"]["seconds"]
    record("report_small_partner_in_large_lake", in_large_lake=results["in_large_lake"], alone=results["alone"],
           ratio_in_large_lake_to_alone=round(ratio, 2), target_ratio=TARGET_BARE_RATIO,
           meets_ratio=ratio <= TARGET_BARE_RATIO)
    print(f"\n1 000-subject partner: {results['in_large_lake']['seconds']} s in the lake of "
          f"{results['in_large_lake']['lake_objects']} objects, {results['alone']['seconds']} s alone "
          f"({results['alone']['lake_objects']} objects): ×{ratio:.2f}")


def test_user_report_over_five_years(record, tmp_path, dev_keys):
    """10 000 subjects over the longest period the API accepts that ends last month (start on or
    after the same date five years ago)."""
    today = datetime.now(timezone.utc).date()
    _, last = _month(today)
    first = date(today.year - 5, today.month, today.day) + timedelta(days=1)
    subjects = int(os.environ.get("WBR_BENCH_FIVE_YEAR_SUBJECTS", "10000"))
    with moto_server() as env:
        data = _data_set(env, _spec(subjects, first, last), None)
        figures, _, _ = _measure(env, data, first, last, subjects, 1, dev_keys, tmp_path)
    figures.update(target_rss_mib=TARGET_RSS_MIB, meets_rss=figures["peak_rss_mib"] <= TARGET_RSS_MIB)
    record("report_user_five_years", **figures)
    print(f"\n5 years ({figures['days']} days), {subjects} subjects, {figures['usage_rows']:,} usage rows: "
          f"{figures['seconds']} s, peak RSS {figures['peak_rss_mib']} MiB; bare {figures['bare_duckdb_seconds']} s")


def _formats(figures: dict[str, Any], common: dict[str, Any], child_env: dict[str, str], tmp_path: Path,
             runs: int) -> dict[str, Any]:
    """The same report delivered as csv.gz and parquet (create → COMPLETED, best of `runs`), beside
    the CSV runs above: time and file size of each; both checked against the CSV's rows."""
    import gzip

    import pyarrow.parquet as pq

    ours_csv = tmp_path / "ours.csv"
    with ours_csv.open(newline="", encoding="utf-8") as source:
        expected = list(csv.reader(source))
    formats: dict[str, Any] = {"csv": {"seconds": figures["seconds"], "bytes": ours_csv.stat().st_size}}
    for file_format in ("csv.gz", "parquet"):
        target = tmp_path / f"ours.{file_format}"
        results = []
        for run in range(runs):
            _log(f"100k: report as {file_format}, run {run + 1}/{runs} …")
            results.append(_run_child("report", {**common, "csv": str(target), "format": file_format},
                                      child_env, tmp_path / "work"))
            _log(f"  {results[-1]['seconds']:.2f} s, {results[-1]['file_bytes']:,} bytes")
        if file_format == "csv.gz":
            with gzip.open(target, "rt", newline="", encoding="utf-8") as source:
                assert list(csv.reader(source)) == expected, "csv.gz holds the CSV's rows"
        else:
            table = pq.read_table(target)
            assert table.num_rows == len(expected) - 1 and table.column_names == expected[0]
            assert [str(value) for value in table.column("USER_ID").to_pylist()] == \
                [row[expected[0].index("USER_ID")] for row in expected[1:]], "parquet holds the CSV's rows in order"
        best = min(results, key=lambda r: r["seconds"])
        formats[file_format] = {"seconds": round(best["seconds"], 2), "bytes": best["file_bytes"],
                                "runs_seconds": [round(r["seconds"], 2) for r in results]}
    for entry in formats.values():
        entry["ratio_bytes_to_csv"] = round(entry["bytes"] / formats["csv"]["bytes"], 3)
        entry["ratio_seconds_to_csv"] = round(entry["seconds"] / formats["csv"]["seconds"], 2)
    print("\n100k USER report by format: " + "; ".join(
        f"{name} {entry['seconds']} s, {entry['bytes'] / 2**20:.1f} MiB (×{entry['ratio_bytes_to_csv']} of csv)"
        for name, entry in formats.items()))
    return formats


def _profile(common: dict[str, Any], child_env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    """One more report run under cProfile (every thread), top 20 by cumulative and own time."""
    import io
    import pstats

    target = ROOT / ".local" / "bench-profile-report-user-100k.pstats"
    _log("100k: profiled report run (cProfile on every thread) …")
    result = _run_child("report", {**common, "csv": str(tmp_path / "profiled.csv"), "profile": str(target)},
                        child_env, tmp_path / "work")
    summary: dict[str, Any] = {"seconds_under_profiler": round(result["seconds"], 2), "pstats": str(target)}
    for order in ("cumulative", "tottime"):
        text = io.StringIO()
        pstats.Stats(str(target), stream=text).sort_stats(order).print_stats(20)
        print(f"\n---- profile of the 100k report run, top 20 by {order} (summed over threads) ----")
        body = text.getvalue()
        print(body[body.find("   ncalls"):] if "   ncalls" in body else body)
        summary[f"top20_{order}"] = [line.strip() for line in body.splitlines()
                                     if line.strip() and line.strip()[0].isdigit()][:20]
    return summary


if __name__ == "__main__":
    mode, arguments_path, out_path = sys.argv[1:4]
    result = CHILDREN[mode](json.loads(Path(arguments_path).read_text()))
    Path(out_path).write_text(json.dumps(result))
