"""What every `wbr` command shares: options accepted before or after the subcommand, `--json`
output, dates and enum values checked as arguments (enums in any case), and the one answer to a
stack that is not there."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
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


def enum_argument(values: Iterable[str]) -> Callable[[str], str]:
    """An argparse `type` taking any spelling of one of `values` (`--type user`) and giving its
    own (`USER`); the error lists them."""
    spellings = {value.lower(): value for value in values}

    def parse(text: str) -> str:
        try:
            return spellings[text.strip().lower()]
        except KeyError:
            raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(spellings.values())}") from None

    parse.__name__ = "value"  # argparse names the type in its own messages
    return parse


def positive_int(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return int(text)


class StackUnreachable(Exception):
    """No stack to talk to: no `.local/env` and nothing given instead, or nobody answers at the
    address. Every command says it the same way (`message`) and exits 2."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason

    def message(self, command: str) -> str:
        return f"wbr {command}: cannot reach {self.where}: {self.reason} (start the stack with `make run`)"


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
