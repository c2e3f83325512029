"""The bundled clients of the API's extension resources (`wbr webhooks`, `wbr schedules`): create,
list, get and delete, handled alike: the item as JSON on stdout (list: a table, or JSON with
--json), one line on stderr for an error, exit 3 for HTTP 409 (the cap), else 2."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.cli.options import common_options, print_json, wants_json


@dataclass(frozen=True)
class ApiResource:
    """One resource's command: `wbr <command> create|list|get|delete`."""

    command: str  # the command's name, as errors name it ("webhooks")
    base_path: str  # the list route, e.g. /v1/wholesale/billing/webhooks
    create_body: Callable[[argparse.Namespace], dict[str, Any]]  # the POST body the options ask for
    table: Callable[[list[dict[str, Any]]], str]  # the list as a table
    deleted: Callable[[str], str] | None = None  # the line after a delete (without --json), if any

    def run(self, args: argparse.Namespace) -> int:
        from chalicelib.cli.client import ApiError
        from chalicelib.cli.reports import _client

        client = _client(args)
        call = client._call  # noqa: SLF001 - the reports client's request, retry and error handling
        try:
            if args.action == "create":
                print_json(call("POST", self.base_path, self.create_body(args))[1])
            elif args.action == "list":
                items = list(client.items(self.base_path))
                if wants_json(args):
                    print_json(items)
                else:
                    print(self.table(items))
            elif args.action == "get":
                print_json(call("GET", f"{self.base_path}/{args.id}")[1])
            else:
                call("DELETE", f"{self.base_path}/{args.id}")
                if wants_json(args):
                    print_json({"id": args.id, "deleted": True})
                elif self.deleted is not None:
                    print(self.deleted(args.id))
            return 0
        except ApiError as error:
            print(f"wbr {self.command}: {error}", file=sys.stderr)
            return 3 if error.status == 409 else 2


def action_parsers(parser: argparse.ArgumentParser) -> Callable[..., argparse.ArgumentParser]:
    """The factory of a resource command's actions (`create`, `list`, …), each taking the API's
    common options."""
    actions = parser.add_subparsers(dest="action", required=True)

    def action(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        return actions.add_parser(name, parents=common_options(api=True), **kwargs)

    return action
