"""`wbr`: the operator and admin command line (ARCHITECTURE.md §8).

wbr dev                          the local stack (what `make run` runs)
wbr token --org ORG …            a token the local stack accepts, for a known partner
wbr seed                         load the demo partner tree into the running local stack
wbr demo-events --out FILE       write the demo world's provisioning events as NDJSON
wbr ingest FILE…                 ingest NDJSON provisioning events, with progress (chalicelib/cli/ingest.py)
wbr rate [--from D] [--to D]     rate usage days; by default every unrated day through yesterday (cli/rate.py)
wbr reports create|list|get|download|delete|manifest|diff …   a client of the API (reads .local/env)
wbr webhooks create|list|get|delete …   completion webhooks (chalicelib/cli/webhooks.py)
wbr subpartners [--state S] [--max N]   your sub-partners, the org ids --sub-partner takes
wbr schedules create|list|get|delete …  standing monthly reports (chalicelib/cli/schedules.py)
wbr asl                          print the report state machine as Amazon States Language
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone
from typing import Any

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


def cmd_token(args: argparse.Namespace) -> int:
    from chalicelib.adapters.jwt_tokens import DevKeyPair
    from chalicelib.cli.stack import local_container
    from chalicelib.config import local_state_dir
    from chalicelib.domain.partners import PartnerTree

    container = local_container()
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
    from chalicelib.cli.stack import local_container
    from chalicelib.local.demo import demo_world, load_demo

    container = local_container()
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


def cmd_asl(args: argparse.Namespace) -> int:
    from chalicelib.runtime.workflow import to_asl

    print(json.dumps(to_asl(args.max_concurrency), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from chalicelib.cli.ingest import add_ingest_command
    from chalicelib.cli.rate import add_rate_command
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

    add_ingest_command(command)
    add_rate_command(command)

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
