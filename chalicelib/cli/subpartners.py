"""`wbr subpartners`: the caller's sub-partners (`GET /v1/wholesale/subPartners`), the org ids a
report's `--sub-partner` takes: a table, or JSON with --json; one line on stderr for an error."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from chalicelib.cli.options import positive_int, print_json, wants_json
from chalicelib.domain.sub_partners import ProvisioningState


def add_subpartners_command(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`wbr subpartners [--state …] [--max N]`, added through cli.py's `command` factory."""
    listing = command(
        "subpartners", api=True, help="list your sub-partners, direct and nested (all pages, or the first --max)"
    )
    listing.add_argument("--state", choices=[state.value for state in ProvisioningState], help="provisioningState")
    listing.add_argument("--max", type=positive_int, metavar="N", help="only the first N sub-partners")
    listing.set_defaults(run=cmd_subpartners)


def cmd_subpartners(args: argparse.Namespace) -> int:
    from chalicelib.cli.client import ApiError
    from chalicelib.cli.reports import _client

    client = _client(args, "wbr subpartners")
    try:
        items = list(client.sub_partners(args.max, provisioningState=args.state))
    except ApiError as error:
        print(f"wbr subpartners: {error}", file=sys.stderr)
        return 2
    if wants_json(args):
        print_json(items)
    else:
        print(_sub_partner_table(items))
    return 0


def _sub_partner_table(items: list[dict[str, Any]]) -> str:
    lines = [f"{'ORG ID':<80} {'STATE':<10} {'SUBSCRIPTION':<20} {'CREATED':<24} BILLING START"]
    for item in items:
        lines.append(
            f"{item['orgId']:<80} {item.get('provisioningState', ''):<10} {item.get('subscriptionId', '-'):<20} "
            f"{item.get('created', ''):<24} {item.get('billingStartDate', '')}".rstrip()
        )
    return "\n".join(lines)
