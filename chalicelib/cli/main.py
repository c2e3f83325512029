"""`wbr`: the operator and admin command line (ARCHITECTURE.md §8).

wbr dev                          the local stack (what `make run` runs)
wbr token --org ORG …            a token the local stack accepts, for a known partner
wbr seed                         load the demo partner tree into the running local stack
wbr demo-events --out FILE       write the demo world's provisioning events as NDJSON
wbr ingest FILE…                 ingest NDJSON provisioning events (with progress)
wbr rate [--from D] [--to D]     rate usage days; by default every unrated day through yesterday
wbr reports create|list|get|download|delete|manifest|diff …   a client of the API (reads .local/env)
wbr webhooks create|list|get|delete …   completion webhooks (chalicelib/cli/webhooks.py)
wbr subpartners [--state S] [--max N]   your sub-partners, the org ids --sub-partner takes
wbr schedules create|list|get|delete …  standing monthly reports (chalicelib/cli/schedules.py)
wbr asl                          print the report state machine as Amazon States Language
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from chalicelib.cli.ingest import (
    PARALLEL_INGEST_MIN_BYTES,
    PAUSE_BEFORE_ASKING,
    byte_ranges,
    ingest_summary,
    read_ranges,
    share_counter,
    shared_counter,
)
from chalicelib.cli.options import (
    StackUnreachable,
    comma_list,
    common_options,
    day_argument,
    enum_argument,
    positive_int,
    print_json,
    wants_json,
)
from chalicelib.cli.progress import progress_bar
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE
from chalicelib.domain.listing import SortBy
from chalicelib.domain.report_columns import EXTENSION_COLUMNS
from chalicelib.domain.report_formats import ReportFormat
from chalicelib.domain.reports import ReportCategory, ReportStatus, ReportType

if TYPE_CHECKING:
    from chalicelib.services.ingestion import IngestSummary


TYPES = [report_type.value for report_type in ReportType]
STATUSES = [status.value for status in ReportStatus]
CATEGORIES = [category.value for category in ReportCategory]
# the API's sortBy values; `created` is its extension (the newest first: --sort created --order desc)
SORT_KEYS = list(dict.fromkeys([*(key.value for key in SortBy), "created"]))


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


def cmd_dev(args: argparse.Namespace) -> int:
    from chalicelib.local.stack import print_health, run_dev_stack

    if args.status:
        return print_health()
    if args.logs:
        os.environ["WBR_LOGS"] = "1"  # the service's log lines on stderr too, not only in the state folder's file
    demo = os.environ.get("WBR_DEMO", "1") != "0" and not args.no_demo
    api_port, aws_port = _int_env("WBR_API_PORT", 8000), _int_env("WBR_AWS_PORT", 5000)
    dynamodb_port = _int_env("WBR_DYNAMODB_PORT", aws_port + 1)
    return run_dev_stack(api_port, aws_port, demo, dynamodb_port=dynamodb_port, progress=progress_bar, fresh=args.fresh)


def _local_container():  # type: ignore[no-untyped-def]
    from chalicelib.bootstrap import Container
    from chalicelib.cli.stack import require_local_aws
    from chalicelib.config import Settings

    require_local_aws()
    return Container(Settings.from_env())


def cmd_token(args: argparse.Namespace) -> int:
    from chalicelib.adapters.jwt_tokens import DevKeyPair
    from chalicelib.config import local_state_dir
    from chalicelib.domain.partners import PartnerTree

    container = _local_container()
    tree = PartnerTree(container.directory.partners())
    found = tree.find(args.org)
    if len(found) != 1:
        known = "; ".join(f"{partner.name} ({partner.org_id})" for partner in tree)
        problem = "names several partners" if found else "is neither an org id nor a name of a partner"
        print(f"wbr token: {args.org!r} {problem} in the local directory; partners: {known}", file=sys.stderr)
        return 2
    partner = found[0]
    settings = container.settings
    token = DevKeyPair(local_state_dir()).mint(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        org_id=partner.org_id,
        subject=args.sub,
        scopes=args.scopes.split(),
        ttl_seconds=args.ttl,
    )
    if wants_json(args):
        print_json(
            {"token": token, "orgId": partner.org_id, "name": partner.name, "scopes": args.scopes.split()}, indent=None
        )
    else:
        print(token)
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from chalicelib.local.demo import demo_world, load_demo

    container = _local_container()
    world = demo_world(datetime.now(timezone.utc).date(), days=args.days, users=args.users, seed=args.seed)
    loaded = load_demo(world, container.ingestion, container.rating, progress=progress_bar("rating days"))
    summary = {"events": loaded.events, "daysRated": loaded.days_rated, "usageRows": loaded.usage_rows}
    if wants_json(args):
        print_json(summary)
    else:
        print(f"{loaded.events} events, {loaded.days_rated} days rated, {loaded.usage_rows} usage rows")
    return 0


def cmd_demo_events(args: argparse.Namespace) -> int:
    """Write the demo world's provisioning events as NDJSON (late events last)."""
    from chalicelib.local.demo import demo_events, demo_world

    world = demo_world(
        datetime.now(timezone.utc).date(), days=args.days, users=args.users, workspaces=args.users // 10, seed=args.seed
    )
    on_time, late = demo_events(world, seed=args.seed)
    with open(args.out, "w", encoding="utf-8") as out:
        for event in on_time + late:
            out.write(json.dumps(event, separators=(",", ":")) + "\n")
    if wants_json(args):
        print_json({"events": len(on_time) + len(late), "late": len(late), "out": args.out})
    else:
        print(f"{len(on_time) + len(late)} events written to {args.out} ({len(late)} late ones last)")
    return 0


def _ingest_worker(ranges: list[tuple[str, int, int]]) -> IngestSummary:
    """In a worker process: land one share of the input (restatement is done once, at the end)."""
    ingestion = _local_container().ingestion
    return ingestion.ingest_lines(read_ranges(ranges, shared_counter()), source="cli", restate=False)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Validate and land NDJSON files; large inputs are split over one process per core."""
    from chalicelib.services.ingestion import IngestSummary

    container = _local_container()
    total = sum(os.path.getsize(path) for path in args.files)
    # one process per core but one (left to the S3 endpoint and the rest of the machine)
    default_workers = max(1, (os.cpu_count() or 1) - 1)
    workers = max(1, min(args.workers or default_workers, 8)) if total >= PARALLEL_INGEST_MIN_BYTES else 1
    show = progress_bar("ingesting", unit="bytes")
    context = multiprocessing.get_context("spawn")
    counter = context.Value("q", 0)
    shares = byte_ranges(args.files, workers)
    share_counter(counter)
    if len(shares) == 1:
        results = [_ingest_worker(shares[0])]
    else:
        with ProcessPoolExecutor(
            len(shares), mp_context=context, initializer=share_counter, initargs=(counter,)
        ) as pool:
            futures = [pool.submit(_ingest_worker, share) for share in shares]
            while not all(future.done() for future in futures):
                show(min(counter.value, total), total)
                time.sleep(0.2)
            results = [future.result() for future in futures]
    show(total, total)
    landed = IngestSummary()
    for result in results:
        landed.merge(result)
    if pause := float(os.environ.get(PAUSE_BEFORE_ASKING, "0") or 0):  # a fault point for tests/live
        print(
            f"wbr ingest: {landed.accepted} events landed; asking for their restatement in {pause:g} s", file=sys.stderr
        )
        time.sleep(pause)
    asked = container.ingestion.restate_if_rated(landed)
    if landed.directory_updates:  # publish the directory snapshot now, not in the next report's Plan
        container.directory_snapshots.refresh()
    summary = {
        "lines": landed.lines,
        "accepted": landed.accepted,
        "rejected": landed.rejected,
        "rejections": dict(sorted(landed.rejections.items(), key=lambda item: (-item[1], item[0]))),
        "duplicatesInBatch": landed.duplicates_in_batch,
        "duplicatesIngested": landed.duplicates_ingested,
        "blankLines": landed.blank_lines,
        "directoryUpdates": landed.directory_updates,
        "restatedFrom": asked.requested_day.isoformat() if asked.requested_day else None,
        "restatement": asked.as_json(),
        "deadLetters": landed.dead_letter_keys,
        "workers": len(shares),
        "stageSeconds": {stage: round(seconds, 3) for stage, seconds in sorted(landed.stage_seconds.items())},
    }
    if wants_json(args):
        print_json(summary)
    else:
        print(ingest_summary(summary, container.settings.lake_bucket))
    return 1 if summary["rejected"] and args.strict else 0


def _restatement_status(args: argparse.Namespace, container: Any) -> int:
    """`wbr rate --status`: what late events still oblige rating to do, and where the latest
    restatement pass is (days done / to do)."""
    marker = container.calendar.restatement_marker()
    latest = container.calendar.restatement_pass()
    status = {
        "publishedThrough": (day.isoformat() if (day := container.calendar.latest_published_day()) else None),
        "pendingFrom": marker.from_day.isoformat() if marker.pending else None,
        "pendingRequests": [{"request": o.seq, "fromDay": o.from_day.isoformat()} for o in marker.obligations],
        "lastPass": None
        if latest is None
        else {
            "id": latest.pass_id,
            "fromDay": latest.from_day.isoformat(),
            "through": latest.through.isoformat(),
            "daysDone": latest.days_done,
            "daysTotal": latest.days_total,
            "sawRequestsThrough": latest.snapshot,
            "startedAt": latest.started_at.isoformat(),
            "updatedAt": latest.updated_at.isoformat(),
            "finished": latest.finished,
        },
    }
    if wants_json(args):
        print_json(status)
        return 0
    print(f"published through {status['publishedThrough']}")
    if marker.pending:
        print(
            f"restatement pending from {status['pendingFrom']} ({len(marker.obligations)} request(s) not yet re-rated)"
        )
    else:
        print("no restatement pending")
    if latest is not None:
        state = "finished" if latest.finished else "running (or died: the next request or sweep resumes it)"
        print(
            f"last pass {latest.pass_id}: {latest.from_day}..{latest.through}, {latest.days_done}/{latest.days_total} "
            f"days, {state}, updated {latest.updated_at.isoformat(timespec='seconds')}"
        )
    return 0


def cmd_rate(args: argparse.Namespace) -> int:
    from chalicelib.services.rating import RatingGap

    container = _local_container()
    if args.status:
        return _restatement_status(args, container)
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    last = args.to or yesterday
    if last > yesterday:
        print("wbr rate: only days that are over can be rated (--to must be before today)", file=sys.stderr)
        return 2
    try:
        if args.from_:
            rated = container.rating.backfill(args.from_, last, progress_bar("rating days"))
        else:
            rated = []
            while restated := container.rating.restate_pending(progress=progress_bar("re-rating restated days")):
                rated += restated
            rated += container.rating.rate_through(last, progress_bar("rating days"))
    except RatingGap as gap:
        print(f"wbr rate: {gap}", file=sys.stderr)
        return 2
    days = [
        {
            "day": day.day.isoformat(),
            "version": day.version,
            "usageRows": day.usage_rows,
            "openKeys": day.open_keys,
            "ignoredEvents": day.ignored_events,
        }
        for day in rated
    ]
    if wants_json(args):
        print_json(days)
    elif not days:
        print("nothing to rate: every day through", last.isoformat(), "is published")
    else:
        print(f"{'DAY':<10} {'VERSION':>7} {'USAGE ROWS':>10} {'OPEN KEYS':>9} {'IGNORED EVENTS':>14}")
        for day in days:
            print(
                f"{day['day']:<10} {day['version']:>7} {day['usageRows']:>10} {day['openKeys']:>9} "
                f"{day['ignoredEvents']:>14}"
            )
    return 0


def cmd_asl(args: argparse.Namespace) -> int:
    from chalicelib.runtime.workflow import to_asl

    print(json.dumps(to_asl(args.max_concurrency), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from chalicelib.cli.reports import cmd_reports
    from chalicelib.cli.schedules import add_schedules_command
    from chalicelib.cli.subpartners import add_subpartners_command
    from chalicelib.cli.webhooks import add_webhooks_command
    from chalicelib.local.demo import DEMO_ADMIN

    parser = argparse.ArgumentParser(
        prog="wbr",
        description="wholesale-billing-reports operator CLI: data on stdout, progress and logs on stderr",
        parents=common_options(api=True),
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, *, api: bool = False, data: bool = True, **kwargs: Any) -> argparse.ArgumentParser:
        return commands.add_parser(name, parents=common_options(api=api, data=data), **kwargs)

    dev = command("dev", data=False, help="run the local stack (moto + API + worker) with demo data")
    dev.add_argument("--no-demo", action="store_true", help="start empty (same as WBR_DEMO=0)")
    dev.add_argument(
        "--logs",
        action="store_true",
        help="show the service's log lines here too (same as WBR_LOGS=1); they always go to the state folder's "
        "service.log",
    )
    dev.add_argument(
        "--fresh",
        action="store_true",
        help="start over: delete the local state kept in the state folder (reports, files, webhooks, events, "
        "lake, directory) and load the demo again; the dev keys stay",
    )
    dev.add_argument(
        "--status",
        action="store_true",
        help="print the running stack's health (its event sources) and exit: 0 healthy, 1 not, 2 no stack",
    )
    dev.set_defaults(run=cmd_dev)

    token = command("token", help="mint a token the local stack accepts")
    token.add_argument("--org", required=True, help="a partner's org id or name (must be in the directory)")
    token.add_argument("--scopes", default=f"{READ_SCOPE} {WRITE_SCOPE}", help="space-separated scopes")
    token.add_argument("--sub", default=DEMO_ADMIN, help="person id of the caller")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    token.set_defaults(run=cmd_token)

    seed = command("seed", help="load the demo partner tree into the running local stack (ingest, then rate)")
    seed.add_argument("--days", type=positive_int, default=90, help="days of usage up to yesterday (default 90)")
    seed.add_argument("--users", type=positive_int, default=320, help="users of the demo world (default 320)")
    seed.add_argument("--seed", type=int, default=7, help="random seed: the same seed, the same world (default 7)")
    seed.set_defaults(run=cmd_seed)

    demo = command("demo-events", help="write the demo world's provisioning events as NDJSON")
    demo.add_argument("--out", required=True, help="the NDJSON file to write")
    demo.add_argument("--days", type=positive_int, default=90, help="days of events up to yesterday (default 90)")
    demo.add_argument("--users", type=positive_int, default=320, help="users of the demo world (default 320)")
    demo.add_argument("--seed", type=int, default=7, help="random seed: the same seed, the same events (default 7)")
    demo.set_defaults(run=cmd_demo_events)

    ingest = command("ingest", help="ingest NDJSON provisioning event files into the local stack")
    ingest.add_argument("files", nargs="+", help="NDJSON files: one provisioning event per line")
    ingest.add_argument("--strict", action="store_true", help="exit 1 when any line was rejected")
    ingest.add_argument("--workers", type=int, default=0, help="processes for large inputs (default: cores - 1)")
    ingest.set_defaults(run=cmd_ingest)

    rate = command("rate", help="rate usage days (default: every unrated day through yesterday)")
    rate.add_argument(
        "--from",
        dest="from_",
        type=day_argument,
        help="first day (YYYY-MM-DD): D..--to are published whatever was rated before",
    )
    rate.add_argument("--to", type=day_argument, help="last day (default: yesterday)")
    rate.add_argument(
        "--status",
        action="store_true",
        help="rate nothing: show the pending restatement (from which day, how many requests) and the latest pass",
    )
    rate.set_defaults(run=cmd_rate)

    reports = command(
        "reports", api=True, help="call the reports API (create, list, get, download, delete, manifest, diff)"
    )
    actions = reports.add_subparsers(dest="action", required=True)

    def action(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return actions.add_parser(name, parents=common_options(api=True), **kwargs)

    create = action("create", help="create a report and print it as JSON (exit 3 when it already exists: HTTP 409)")
    create.add_argument(
        "--type", default="PARTNER", type=enum_argument(TYPES), help=f"{'|'.join(TYPES)}, any case (default PARTNER)"
    )
    create.add_argument(
        "--start", type=day_argument, help="billingStartDate, YYYY-MM-DD (not for --category POINT_IN_TIME)"
    )
    create.add_argument("--end", type=day_argument, help="billingEndDate, YYYY-MM-DD (not for --category POINT_IN_TIME)")
    create.add_argument(
        "--category",
        type=enum_argument(CATEGORIES),
        help="POINT_IN_TIME: the allocations open now, per CUSTOMER or USER (default RECONCILIATION)",
    )
    create.add_argument("--sub-partner", help="subPartnerOrgId: a sub-partner in your partner tree")
    create.add_argument("--internal", action="store_true", help="include internal customers")
    create.add_argument(
        "--format",
        type=enum_argument(file_format.value for file_format in ReportFormat),
        help=f"the file's format: {'|'.join(file_format.value for file_format in ReportFormat)} (default csv)",
    )
    create.add_argument(
        "--customers",
        metavar="ORG_ID,…",
        type=comma_list,
        help="customerOrgIds: a report of these customers only (comma-separated org ids)",
    )
    create.add_argument(
        "--columns",
        metavar="COLUMN,…",
        type=comma_list,
        help="the file's columns in this order (comma-separated): the type's Webex columns plus any of "
        + ", ".join(EXTENSION_COLUMNS),
    )
    create.add_argument("--wait", action="store_true", help="poll until COMPLETED or FAILED")
    create.add_argument("--download", metavar="PATH", help="wait, then save the file to PATH")
    listing = action("list", help="list reports (all pages, or --max): a table, or JSON with --json")
    listing.add_argument("--type", type=enum_argument(TYPES), help=f"only this type: {'|'.join(TYPES)}, any case")
    listing.add_argument(
        "--status", type=enum_argument(STATUSES), help=f"only this status: {'|'.join(STATUSES)}, any case"
    )
    listing.add_argument("--start", help="only reports whose billingStartDate is this day (YYYY-MM-DD)")
    listing.add_argument("--end", help="only reports whose billingEndDate is this day (YYYY-MM-DD)")
    listing.add_argument("--sub-partner", help="only reports of this subPartnerOrgId")
    listing.add_argument(
        "--category", type=enum_argument(CATEGORIES), help=f"only this category: {'|'.join(CATEGORIES)}, any case"
    )
    listing.add_argument(
        "--sort",
        type=enum_argument(SORT_KEYS),
        help=f"sortBy: {'|'.join(SORT_KEYS)}, any case (default billingStartDate; ties by id)",
    )
    listing.add_argument(
        "--order", type=enum_argument(["asc", "desc"]), help="asc (the default) or desc: the API's order parameter"
    )
    listing.add_argument("--max", type=positive_int, help="at most this many reports (default: all, page by page)")
    action("get", help="one report, as JSON").add_argument("id", help="the report's id")
    action("delete", help="delete a report (its file and every URL to it)").add_argument("id", help="the report's id")
    download = action("download", help="save a COMPLETED report's file")
    download.add_argument("id", help="the report's id")
    download.add_argument("--out", help="file to write (default: the download's own file name)")
    download.add_argument("--wait", action="store_true", help="poll until the report is COMPLETED or FAILED first")
    action(
        "manifest", help="what a COMPLETED report's file is (columns, rows, size, sha256, day versions)"
    ).add_argument("id", help="the report's id")
    diff = action(
        "diff",
        help="what changed against another report (--against) or an earlier revision (--revision): CSV, or the "
        "totals per SKU with --json",
    )
    diff.add_argument("id", help="the report's id")
    side = diff.add_mutually_exclusive_group(required=True)
    side.add_argument("--against", metavar="ID", help="the report to compare with (e.g. last month's)")
    side.add_argument("--revision", type=int, metavar="N", help="an earlier revision of this report")
    diff.add_argument("--out", help="write the CSV to this file (default: stdout)")
    reports.set_defaults(run=cmd_reports)

    add_webhooks_command(command)
    add_subpartners_command(command)
    add_schedules_command(command)

    asl = command("asl", help="print the report state machine (Amazon States Language, JSON)")
    asl.add_argument(
        "--max-concurrency", type=positive_int, default=8, help="shards the Map state runs at once (default 8)"
    )
    asl.set_defaults(run=cmd_asl)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one `wbr` command. Errors a user can meet are one line on stderr and a non-zero exit:
    an API or local stack that cannot be reached (2), a file that cannot be read or written (2),
    anything unforeseen (1; WBR_DEBUG=1 re-raises it), a reader that closed the pipe (0, quietly)."""
    import urllib.error

    from botocore.exceptions import EndpointConnectionError

    from chalicelib.cli.stack import LOCAL_STACK
    from chalicelib.runtime.observability import log_to_stderr

    args = build_parser().parse_args(argv)
    if argv is None:  # the command line itself (a caller passing argv keeps its own logging)
        log_to_stderr("INFO" if args.command == "dev" else "WARNING")
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:  # `wbr asl | head`: the reader has what it wanted (a ConnectionError too)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except StackUnreachable as unreachable:
        print(unreachable.message(args.command), file=sys.stderr)
        return 2
    except EndpointConnectionError as error:  # the local AWS went away after the first check
        where = str(error.kwargs.get("endpoint_url") or LOCAL_STACK)
        print(StackUnreachable(where, "nothing answers there").message(args.command), file=sys.stderr)
        return 2
    except urllib.error.HTTPError as error:  # a download link that answered an error (the API's are ApiError)
        print(f"wbr {args.command}: the download answered HTTP {error.code} {error.reason}", file=sys.stderr)
        return 2
    except urllib.error.URLError as error:
        where = getattr(args, "base_url", None) or os.environ.get("WBR_BASE_URL") or "the API"
        print(StackUnreachable(where, str(getattr(error, "reason", error))).message(args.command), file=sys.stderr)
        return 2
    except ConnectionError as error:
        where = getattr(args, "base_url", None) or os.environ.get("WBR_BASE_URL") or LOCAL_STACK
        print(StackUnreachable(where, str(error)).message(args.command), file=sys.stderr)
        return 2
    except OSError as error:  # a file that is not there or cannot be written
        print(f"wbr {args.command}: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"wbr {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - a command line answers in one line, not a traceback
        if os.environ.get("WBR_DEBUG"):
            raise
        print(
            f"wbr {args.command}: failed: {type(error).__name__}: {error} (WBR_DEBUG=1 shows the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
