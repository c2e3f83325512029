"""What every `wbr` command shares: options accepted before or after the subcommand, `--json`
output, dates checked as arguments."""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import Any


def wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def print_json(value: Any, indent: int | None = 2) -> None:
    print(json.dumps(value, indent=indent))


def day_argument(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-11-30") from None


def positive_int(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def common_options(*, api: bool, data: bool = True) -> list[argparse.ArgumentParser]:
    """Options every level of the command line accepts, before or after the subcommand
    (`wbr --json rate`, `wbr rate --json`; `wbr reports list --token T`). SUPPRESS keeps a
    level that was not given the option from overwriting what an outer level parsed."""
    common = argparse.ArgumentParser(add_help=False)
    if data:
        common.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help="print the data as JSON, for scripts"
        )
    if api:
        common.add_argument(
            "--base-url", default=argparse.SUPPRESS, help="the API (default: WBR_BASE_URL, from .local/env)"
        )
        common.add_argument("--token", default=argparse.SUPPRESS, help="bearer token (default: WBR_TOKEN)")
    return [common]


def comma_list(text: str) -> list[str]:
    """An option of comma-separated names (`--customers a,b`, `--columns X,Y`), blanks dropped:
    the API names what is wrong with them."""
    return [part.strip() for part in text.split(",") if part.strip()]
