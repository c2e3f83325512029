"""`wbr`: the operator and admin command line (DESIGN §8).

wbr dev                      the local stack (what `make run` runs)
wbr token --org ORG …        a token the local stack accepts, for a known partner
wbr seed                     load the demo partner tree into the running local stack
wbr asl                      print the report state machine as Amazon States Language
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE
from chalicelib.progress import progress_bar


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


def cmd_dev(args: argparse.Namespace) -> int:
    from chalicelib.devstack import run_dev_stack

    demo = os.environ.get("WBR_DEMO", "1") != "0" and not args.no_demo
    return run_dev_stack(_int_env("WBR_API_PORT", 8000), _int_env("WBR_AWS_PORT", 5000), demo)


def _local_container():  # type: ignore[no-untyped-def]
    from chalicelib.bootstrap import Container
    from chalicelib.config import Settings
    from chalicelib.devstack import load_env_file

    if not load_env_file() and not os.environ.get("AWS_ENDPOINT_URL"):
        raise SystemExit("no local stack found (.local/env is missing): start it with `make run`")
    return Container(Settings.from_env())


def cmd_token(args: argparse.Namespace) -> int:
    from chalicelib.adapters.jwt_tokens import DevKeyPair
    from chalicelib.config import local_state_dir
    from chalicelib.domain.partners import PartnerTree

    container = _local_container()
    if PartnerTree(container.directory.partners()).get(args.org) is None:
        print(f"wbr token: {args.org!r} is not a partner known to the local directory", file=sys.stderr)
        return 2
    settings = container.settings
    token = DevKeyPair(local_state_dir()).mint(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        org_id=args.org,
        subject=args.sub,
        scopes=args.scopes.split(),
        ttl_seconds=args.ttl,
    )
    print(token)
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from chalicelib.services.demo_data import demo_world, load_demo

    container = _local_container()
    world = demo_world(datetime.now(timezone.utc).date(), days=args.days, users=args.users, seed=args.seed)
    loaded = load_demo(world, container.ingestion, container.rating, progress=progress_bar("rating days"))
    print(f"{loaded.events} events, {loaded.days_rated} days rated, {loaded.usage_rows} usage rows", file=sys.stderr)
    return 0


def cmd_demo_events(args: argparse.Namespace) -> int:
    """Write the demo world's provisioning events as NDJSON (late events last)."""
    from chalicelib.services.demo_data import demo_events, demo_world

    world = demo_world(
        datetime.now(timezone.utc).date(), days=args.days, users=args.users, workspaces=args.users // 10, seed=args.seed
    )
    on_time, late = demo_events(world, seed=args.seed)
    with open(args.out, "w", encoding="utf-8") as out:
        for event in on_time + late:
            out.write(json.dumps(event, separators=(",", ":")) + "\n")
    print(f"{len(on_time) + len(late)} events written to {args.out}", file=sys.stderr)
    return 0


def _lines_with_progress(paths: list[str]) -> Iterator[bytes]:
    total = sum(os.path.getsize(path) for path in paths)
    show = progress_bar("ingesting", unit="bytes")
    done = 0
    for path in paths:
        with open(path, "rb") as source:
            for line in source:
                done += len(line)
                if done & 0xFFFF < len(line):  # redraw about every 64 KiB
                    show(done, total)
                yield line
    show(total, total)


def cmd_ingest(args: argparse.Namespace) -> int:
    container = _local_container()
    report = container.ingestion.ingest_lines(_lines_with_progress(args.files), source="cli")
    print(
        json.dumps(
            {
                "lines": report.lines,
                "accepted": report.accepted,
                "rejected": report.rejected,
                "duplicatesInBatch": report.duplicates_in_batch,
                "directoryUpdates": report.directory_updates,
                "restatedFrom": report.restated_from.isoformat() if report.restated_from else None,
                "deadLetters": report.dead_letter_keys,
            }
        )
    )
    return 1 if report.rejected and args.strict else 0


def cmd_rate(args: argparse.Namespace) -> int:
    from chalicelib.services.rating import RatingGap

    container = _local_container()
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    last = date.fromisoformat(args.to) if args.to else yesterday
    if last > yesterday:
        print("wbr rate: only days that are over can be rated (--to must be before today)", file=sys.stderr)
        return 2
    try:
        if args.from_:
            rated = container.rating.rate_range(date.fromisoformat(args.from_), last, progress_bar("rating days"))
        else:
            rated = container.rating.rate_through(last, progress_bar("rating days"))
    except RatingGap as gap:
        print(f"wbr rate: {gap}", file=sys.stderr)
        return 2
    for day in rated:
        print(
            json.dumps(
                {
                    "day": day.day.isoformat(),
                    "version": day.version,
                    "usageRows": day.usage_rows,
                    "openKeys": day.open_keys,
                    "ignoredEvents": day.ignored_events,
                }
            )
        )
    return 0


def cmd_asl(args: argparse.Namespace) -> int:
    from chalicelib.workflow import to_asl

    print(json.dumps(to_asl(args.max_concurrency), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from chalicelib.services.demo_data import DEMO_ADMIN

    parser = argparse.ArgumentParser(prog="wbr", description="wholesale-billing-reports operator CLI")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run the local stack (moto + API + worker) with demo data")
    dev.add_argument("--no-demo", action="store_true", help="start empty (same as WBR_DEMO=0)")
    dev.set_defaults(run=cmd_dev)

    token = commands.add_parser("token", help="mint a token the local stack accepts")
    token.add_argument("--org", required=True, help="partner org id (must be in the directory)")
    token.add_argument("--scopes", default=f"{READ_SCOPE} {WRITE_SCOPE}", help="space-separated scopes")
    token.add_argument("--sub", default=DEMO_ADMIN, help="person id of the caller")
    token.add_argument("--ttl", type=int, default=12 * 3600, help="lifetime in seconds")
    token.set_defaults(run=cmd_token)

    seed = commands.add_parser("seed", help="load the demo partner tree into the running local stack")
    seed.add_argument("--days", type=int, default=90)
    seed.add_argument("--users", type=int, default=320)
    seed.add_argument("--seed", type=int, default=7)
    seed.set_defaults(run=cmd_seed)

    demo = commands.add_parser("demo-events", help="write the demo world's provisioning events as NDJSON")
    demo.add_argument("--out", required=True)
    demo.add_argument("--days", type=int, default=90)
    demo.add_argument("--users", type=int, default=320)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(run=cmd_demo_events)

    ingest = commands.add_parser("ingest", help="ingest NDJSON provisioning event files into the local stack")
    ingest.add_argument("files", nargs="+")
    ingest.add_argument("--strict", action="store_true", help="exit 1 when any line was rejected")
    ingest.set_defaults(run=cmd_ingest)

    rate = commands.add_parser("rate", help="rate usage days (default: every unrated day through yesterday)")
    rate.add_argument("--from", dest="from_", help="first day (YYYY-MM-DD); the day before must be rated")
    rate.add_argument("--to", help="last day (default: yesterday)")
    rate.set_defaults(run=cmd_rate)

    asl = commands.add_parser("asl", help="print the report state machine (Amazon States Language)")
    asl.add_argument("--max-concurrency", type=int, default=8)
    asl.set_defaults(run=cmd_asl)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
