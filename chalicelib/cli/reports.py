"""`wbr reports …`: the bundled client of the reports API (create, list, get, download, delete,
manifest, diff); the report as JSON on stdout, polling progress on stderr."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from chalicelib.cli.options import print_json, wants_json
from chalicelib.cli.progress import is_terminal

PAGE_SIZE = 100  # the API's largest page
WAIT_LINE_SECONDS = 10.0  # not on a terminal: a line per status change, else one this often


def _client(args: argparse.Namespace, command: str = "wbr reports"):  # type: ignore[no-untyped-def]
    """The API's client from --base-url/--token (or WBR_BASE_URL/WBR_TOKEN, .local/env); else
    one line naming `command` and what is missing."""
    from chalicelib.cli.client import ReportsClient
    from chalicelib.cli.stack import api_address

    return ReportsClient(*api_address(getattr(args, "base_url", None), getattr(args, "token", None)))


class _WaitProgress:
    """What `--wait` shows on stderr while it polls: on a terminal one line redrawn; elsewhere (a
    log, a pipe) one line per change of status and one every WAIT_LINE_SECONDS. Whole ids."""

    def __init__(self) -> None:
        self._terminal = is_terminal(sys.stderr)
        self._last: tuple[str, float] | None = None

    def __call__(self, report: dict, elapsed: float) -> None:
        waiting = ""
        if "waitingFor" in report:
            waiting = f"  waiting for usage of {report['waitingFor']} (until {report.get('waitingUntil', '?')})"
        line = f"{report['id']} {report['status']:<12} {elapsed:6.1f} s{waiting}"
        settled = report["status"] != "IN_PROGRESS"
        if self._terminal:
            sys.stderr.write(f"\r{line}" + ("\n" if settled else ""))
        elif self._last is None or self._last[0] != report["status"] or elapsed - self._last[1] >= WAIT_LINE_SECONDS:
            sys.stderr.write(line + "\n")
            self._last = (report["status"], elapsed)
        sys.stderr.flush()


def create_problem(args: argparse.Namespace) -> str | None:
    """What `reports create` can tell is wrong before any request (the API would say it too)."""
    point_in_time = args.category == "POINT_IN_TIME"
    if not point_in_time and not (args.start and args.end):
        missing = " and ".join(name for name, value in (("--start", args.start), ("--end", args.end)) if not value)
        return f"{missing} missing: a RECONCILIATION report needs both billing dates (YYYY-MM-DD)"
    if point_in_time and (args.start or args.end):
        return "a POINT_IN_TIME report takes no --start or --end (it is as of now)"
    if args.start and args.end and args.start > args.end:
        return f"--start {args.start} is after --end {args.end}"
    return None


def cmd_reports(args: argparse.Namespace) -> int:
    from chalicelib.cli.client import ApiError

    problem = create_problem(args) if args.action == "create" else None
    if problem:  # before any request
        print(f"wbr reports create: error: {problem}", file=sys.stderr)
        return 2
    client = _client(args)
    try:
        if args.action == "create":
            body: dict[str, Any] = {"type": args.type, "internal": args.internal}
            if args.category:
                body["category"] = args.category
            if args.format:
                body["format"] = args.format
            if args.start and args.end:  # a POINT_IN_TIME snapshot has none
                body.update({"billingStartDate": args.start.isoformat(), "billingEndDate": args.end.isoformat()})
            if args.sub_partner:
                body["subPartnerOrgId"] = args.sub_partner
            if args.customers is not None:
                body["customerOrgIds"] = args.customers
            if args.columns is not None:
                body["columns"] = args.columns
            report = client.create(body)
            if args.wait or args.download:
                report = client.wait(report["id"], on_poll=_WaitProgress())
                if args.download and report["status"] == "COMPLETED":
                    written = client.download(report, args.download)
                    print(f"{written} bytes written to {args.download}", file=sys.stderr)
            print_json(report)
            return 0 if report.get("status", "IN_PROGRESS") != "FAILED" else 1
        if args.action == "list":
            filters = {
                "type": args.type,
                "status": args.status,
                "billingStartDate": args.start,
                "billingEndDate": args.end,
                "subPartnerOrgId": args.sub_partner,
                "category": args.category,
                "sortBy": args.sort,
                "order": args.order,
            }
            items = list(client.list(args.max, **filters))
            if wants_json(args):
                print_json(items)
            else:
                print(_report_table(items))
            return 0
        if args.action == "get":
            print_json(client.get(args.id))
            return 0
        if args.action == "download":
            report = client.wait(args.id, on_poll=_WaitProgress()) if args.wait else client.get(args.id)
            out = args.out or download_filename(report)
            written = client.download(report, out)
            if wants_json(args):
                print_json({"id": args.id, "out": out, "bytes": written})
            else:
                print(f"{written} bytes written to {out}", file=sys.stderr)
            return 0
        if args.action == "manifest":
            print_json(client.manifest(args.id))
            return 0
        if args.action == "diff":
            if wants_json(args):
                print_json(client.diff_summary(args.id, args.against, args.revision))
                return 0
            text = client.diff(args.id, args.against, args.revision)
            if args.out:
                with open(args.out, "wb") as out_file:
                    out_file.write(text)
                print(f"{len(text)} bytes written to {args.out}", file=sys.stderr)
            else:
                sys.stdout.buffer.write(text)
                sys.stdout.flush()
            return 0
        client.delete(args.id)
        if wants_json(args):
            print_json({"id": args.id, "deleted": True})
        else:
            print(f"deleted report {args.id}: its file and every download link to it are gone")
        return 0
    except ApiError as error:
        print(f"wbr reports: {error}", file=sys.stderr)
        return 3 if error.status == 409 else 2


def download_filename(report: dict) -> str:
    """The file name the download URL gives (its Content-Disposition), else one of the id's tail."""
    from urllib.parse import parse_qs, urlparse

    disposition = parse_qs(urlparse(report.get("tempDownloadURL") or "").query).get("response-content-disposition")
    if disposition and 'filename="' in disposition[0]:
        name = os.path.basename(disposition[0].split('filename="', 1)[1].rstrip('"'))
        if name:
            return name
    return f"{report['id'][-12:]}.{report.get('format', 'csv')}"


def _report_table(items: list[dict]) -> str:
    """The list as a table: whole ids (they are what `get`, `download` and `delete` take), and
    what tells reports of one period apart (category, internal, sub-partner)."""
    lines = [f"{'ID':<92} {'CATEGORY':<14} {'TYPE':<8} {'START':<10} {'END':<10} {'STATUS':<11} {'CREATED':<24} SCOPE"]
    for item in items:
        scope = ", ".join(
            part
            for part in (
                "internal" if item.get("internal") else "",
                f"sub-partner {item['subPartnerOrgId']}" if item.get("subPartnerOrgId") else "",
                f"as of {item['asOf']}" if item.get("asOf") else "",
                f"{len(item['customerOrgIds'])} customer(s)" if item.get("customerOrgIds") else "",
                "chosen columns" if item.get("columns") else "",
            )
            if part
        )
        lines.append(
            f"{item['id']:<92} {item.get('category', ''):<14} {item['type']:<8} {item['billingStartDate']:<10} "
            f"{item['billingEndDate']:<10} {item['status']:<11} {item['created']:<24} {scope}".rstrip()
        )
    return "\n".join(lines)
