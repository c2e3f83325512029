"""`wbr reports list --sort --order --max` (and `wbr subpartners`): the query each sends and the
pages each follows, against a stand-in API over real HTTP (stdlib server)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.cli.main import main

ITEMS = [{"id": f"r{n}", "type": "USER", "billingStartDate": "2026-10-01", "billingEndDate": "2026-10-31",
          "status": "COMPLETED", "category": "RECONCILIATION", "created": f"2026-11-0{n}T00:00:00.000Z"}
         for n in range(1, 8)]


SUB_PARTNERS = [{"orgId": f"org-{n}", "provisioningState": "active", "created": "2025-01-01T00:00:00.000Z",
                 "billingStartDate": "2025-01-01T00:00:00.000Z", **({"subscriptionId": "Sub-1"} if n % 2 else {})}
                for n in range(5)]


class StandIn(BaseHTTPRequestHandler):
    """Pages of ITEMS (or of `key`'s items) by `max`, a `Link` with the position as the cursor."""

    requests: list[dict[str, list[str]]] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        StandIn.requests.append({"path": [parts.path], **query})
        size = int(query.get("max", ["3"])[0])
        start = 0
        if "cursor" in query:  # as the API's, the cursor carries the query (here: position, size)
            start, size = (int(part) for part in query["cursor"][0].split(":"))
        items = ITEMS[::-1] if query.get("order") == ["desc"] else ITEMS
        if parts.path == "/v1/wholesale/subPartners":
            items = SUB_PARTNERS
        page = items[start : start + size]
        body = json.dumps({"items": page}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if start + size < len(items):
            self.send_header("Link", f'<{parts.path}?cursor={start + size}:{size}>; rel="next"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    StandIn.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _wbr(api: str, capsys, *arguments: str) -> tuple[int, object]:
    code = main(["reports", "--base-url", api, "--token", "t", *arguments, "--json"])
    return code, json.loads(capsys.readouterr().out or "null")


def test_sort_order_and_max_are_the_query_and_max_stops_after_n(api, capsys):
    code, items = _wbr(api, capsys, "list", "--sort", "created", "--order", "desc", "--max", "5")
    assert code == 0 and [item["id"] for item in items] == ["r7", "r6", "r5", "r4", "r3"]
    first = StandIn.requests[0]
    assert first["sortBy"] == ["created"] and first["order"] == ["desc"] and first["max"] == ["5"]
    assert len(StandIn.requests) == 1  # one page of 5 held them all


def test_max_over_a_page_follows_link_and_stops_at_n(api, capsys, monkeypatch):
    from chalicelib.cli import client

    monkeypatch.setattr(client, "MAX_PAGE_SIZE", 2)
    code, items = _wbr(api, capsys, "list", "--max", "5")
    assert code == 0 and [item["id"] for item in items] == ["r1", "r2", "r3", "r4", "r5"]
    assert len(StandIn.requests) == 3 and "sortBy" not in StandIn.requests[0] and "order" not in StandIn.requests[0]


def test_without_options_every_page_and_no_extension_is_sent(api, capsys):
    code, items = _wbr(api, capsys, "list")
    assert code == 0 and [item["id"] for item in items] == [item["id"] for item in ITEMS]
    assert set(StandIn.requests[0]) == {"path"}  # a Webex query: no sortBy, order or max


@pytest.mark.parametrize(
    "arguments", [("--sort", "name"), ("--order", "down"), ("--max", "0"), ("--max", "x"), ("--max", "-3")]
)
def test_bad_options_are_refused_by_name_before_any_request(api, capsys, arguments):
    with pytest.raises(SystemExit) as stop:
        main(["reports", "--base-url", api, "--token", "t", "list", *arguments])
    assert stop.value.code == 2 and StandIn.requests == []
    assert f"argument {arguments[0]}" in capsys.readouterr().err


def test_subpartners_lists_every_page_as_json_and_as_a_table(api, capsys):
    code = main(["subpartners", "--base-url", api, "--token", "t", "--json"])
    assert code == 0 and json.loads(capsys.readouterr().out) == SUB_PARTNERS
    assert [request["path"] for request in StandIn.requests] == [["/v1/wholesale/subPartners"]] * 2
    assert set(StandIn.requests[0]) == {"path"}  # Webex's query: nothing it did not ask for
    StandIn.requests = []
    code = main(["subpartners", "--base-url", api, "--token", "t", "--state", "suspended", "--max", "2"])
    table = capsys.readouterr().out.splitlines()
    assert code == 0 and table[0].startswith("ORG ID") and [line.split()[0] for line in table[1:]] == ["org-0", "org-1"]
    assert StandIn.requests[0]["provisioningState"] == ["suspended"] and StandIn.requests[0]["max"] == ["2"]


@pytest.mark.parametrize("arguments", [("--state", "ACTIVE"), ("--max", "0")])
def test_subpartners_bad_options_are_refused_before_any_request(api, capsys, arguments):
    with pytest.raises(SystemExit) as stop:
        main(["subpartners", "--base-url", api, "--token", "t", *arguments])
    assert stop.value.code == 2 and StandIn.requests == []
