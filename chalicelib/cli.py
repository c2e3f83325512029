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
from datetime import datetime, timezone

from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE


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
    from chalicelib.devstack import _progress
    from chalicelib.services.demo_data import demo_world, load_demo

    container = _local_container()
    world = demo_world(datetime.now(timezone.utc).date(), days=args.days, users=args.users, seed=args.seed)
    rows = load_demo(
        world, container.directory, container.lake, container.calendar, progress=_progress("loading demo usage days")
    )
    print(f"{rows} usage rows over {args.days} days", file=sys.stderr)
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

    asl = commands.add_parser("asl", help="print the report state machine (Amazon States Language)")
    asl.add_argument("--max-concurrency", type=int, default=8)
    asl.set_defaults(run=cmd_asl)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
