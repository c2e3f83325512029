"""`wbr schedules …`: the bundled client of standing monthly reports (create, list, get, delete);
the schedule as JSON on stdout, one line on stderr for an error."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from chalicelib.cli.resources import ApiResource, action_parsers

BASE_PATH = "/v1/wholesale/billing/schedules"


def add_schedules_command(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`wbr schedules create|list|get|delete`, added through main.py's `command` factory."""
    schedules = command("schedules", api=True, help="manage standing monthly reports (create, list, get, delete)")
    action = action_parsers(schedules)

    create = action(
        "create",
        help="a report made every month once its last day is published; prints the schedule as JSON "
        "(exit 3 at the cap: HTTP 409)",
    )
    create.add_argument("--type", type=str.upper, choices=["PARTNER", "CUSTOMER", "USER"], help="default PARTNER")
    create.add_argument("--format", choices=["csv", "csv.gz", "parquet"], help="default csv")
    create.add_argument("--columns", help="comma-separated column names, in the file's order")
    create.add_argument("--customers", help="comma-separated customer org ids (default: every customer)")
    create.add_argument("--sub-partner", help="a sub-partner org id of your tree")
    create.add_argument("--internal", action="store_true", help="include internal customer orgs")
    create.add_argument("--first-month", metavar="YYYY-MM", help="the first month to make (default: this month)")
    create.add_argument("--bucket", help="an S3 bucket of yours that receives a copy of each report")
    create.add_argument("--prefix", help="the key prefix of the copies in --bucket")
    action("list", help="list the schedules: a table, or JSON with --json")
    action("get", help="one schedule, as JSON").add_argument("id", help="the schedule's id")
    action("delete", help="delete a schedule (the reports it made stay)").add_argument("id", help="the schedule's id")
    schedules.set_defaults(run=SCHEDULES.run)


def schedule_body(args: argparse.Namespace) -> dict[str, Any]:
    """The create body the options ask for (only what was given)."""

    def listed(text: str | None) -> list[str] | None:
        return None if text is None else [part.strip() for part in text.split(",") if part.strip()]

    body: dict[str, Any] = {
        "type": args.type,
        "format": args.format,
        "columns": listed(args.columns),
        "customerOrgIds": listed(args.customers),
        "subPartnerOrgId": args.sub_partner,
        "internal": True if args.internal else None,
        "firstMonth": args.first_month,
        "s3Bucket": args.bucket,
        "s3Prefix": args.prefix,
    }
    return {name: value for name, value in body.items() if value is not None}


def _schedule_table(items: list[dict[str, Any]]) -> str:
    lines = [f"{'ID':<88} {'TYPE':<9} {'FORMAT':<8} {'FIRST':<8} COPY TO"]
    for item in items:
        copy = f"s3://{item['s3Bucket']}/{item.get('s3Prefix', '')}" if item.get("s3Bucket") else "-"
        lines.append(
            f"{item['id']:<88} {item.get('type', 'PARTNER'):<9} {item.get('format', 'csv'):<8} "
            f"{item['firstMonth']:<8} {copy}"
        )
    return "\n".join(lines)


SCHEDULES = ApiResource("schedules", BASE_PATH, schedule_body, _schedule_table)
