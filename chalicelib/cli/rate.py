"""`wbr rate [--from D] [--to D] [--status]`: usage days rated through the running local stack's
rating service (by default the pending restatement first, then every unrated day through
yesterday), or, with --status, where the restatement late events asked for stands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from chalicelib.cli.options import day_argument, print_json, wants_json
from chalicelib.cli.progress import progress_bar


def add_rate_command(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`wbr rate`, added through main.py's `command` factory."""
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
    from chalicelib.cli.stack import local_container
    from chalicelib.services.rating import RatingGap

    container = local_container()
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
