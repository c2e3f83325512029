"""`wbr webhooks …`: the bundled client of the webhooks extension (create, list, get, delete); the
webhook as JSON on stdout (the secret is never answered), one line on stderr for an error."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from chalicelib.cli.resources import ApiResource, action_parsers

BASE_PATH = "/v1/wholesale/billing/webhooks"


def add_webhooks_command(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`wbr webhooks create|list|get|delete`, added through main.py's `command` factory."""
    webhooks = command("webhooks", api=True, help="manage completion webhooks (create, list, get, delete)")
    action = action_parsers(webhooks)

    create = action("create", help="register a webhook and print it as JSON (exit 3 at the cap: HTTP 409)")
    create.add_argument("--url", required=True, help="targetUrl: where deliveries are POSTed (https outside local)")
    create.add_argument("--secret", required=True, help="signs each delivery (X-Spark-Signature); never shown again")
    create.add_argument(
        "--events", help="comma-separated: report.completed,report.failed,report.regenerated,report.scheduled (all)"
    )
    create.add_argument("--name", help="a name of your choosing (at most 100 characters)")
    action("list", help="list the webhooks: a table, or JSON with --json")
    action("get", help="one webhook with its last delivery, as JSON").add_argument("id", help="the webhook's id")
    action("delete", help="delete a webhook (queued deliveries to it are dropped)").add_argument(
        "id", help="the webhook's id"
    )
    webhooks.set_defaults(run=WEBHOOKS.run)


def _webhook_table(items: list[dict[str, Any]]) -> str:
    lines = [f"{'ID':<80} {'NAME':<20} {'EVENTS':<52} {'LAST DELIVERY':<24} TARGET"]
    for item in items:
        last = item.get("lastDelivery") or {}
        delivered = f"{last.get('status', '')} {last.get('at', '')}".strip() or "-"
        lines.append(
            f"{item['id']:<80} {item.get('name', ''):<20} {','.join(item.get('events', [])):<52} "
            f"{delivered:<24} {item['targetUrl']}"
        )
    return "\n".join(lines)


def webhook_body(args: argparse.Namespace) -> dict[str, Any]:
    """The create body the options ask for."""
    body: dict[str, Any] = {"targetUrl": args.url, "secret": args.secret}
    if args.events:
        body["events"] = [event.strip() for event in args.events.split(",") if event.strip()]
    if args.name is not None:
        body["name"] = args.name
    return body


WEBHOOKS = ApiResource(
    "webhooks",
    BASE_PATH,
    webhook_body,
    _webhook_table,
    deleted=lambda webhook_id: f"deleted webhook {webhook_id}: deliveries queued to it are dropped",
)
