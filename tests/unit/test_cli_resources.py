"""`wbr webhooks …` and `wbr schedules …` (one handler, chalicelib/cli/resources.py): what each
action sends to the API and prints, and how an API error ends, against a recorded client."""

from __future__ import annotations

import json
from typing import Any

import pytest

import chalicelib.cli.reports as reports_cli
from chalicelib.cli.client import ApiError
from chalicelib.cli.main import main

HOOKS = "/v1/wholesale/billing/webhooks"
SCHEDULES = "/v1/wholesale/billing/schedules"
HOOK = {"id": "h-1", "name": "n", "events": ["report.completed"], "targetUrl": "https://example.com/hook"}
SCHEDULE = {"id": "s-1", "type": "USER", "format": "csv", "firstMonth": "2026-11", "s3Bucket": "b", "s3Prefix": "p/"}


class _Client:
    """Stands in for ReportsClient: records the calls; answers `answer`, or raises `error`."""

    def __init__(self, answer: Any = None, error: ApiError | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.answer, self.error = answer, error

    def _call(self, method: str, path: str, body: Any = None) -> tuple[dict, Any]:
        self.calls.append((method, path, body))
        if self.error is not None:
            raise self.error
        return {}, self.answer

    def items(self, path: str) -> list[dict[str, Any]]:
        self.calls.append(("LIST", path))
        return self.answer


@pytest.fixture
def client(monkeypatch) -> _Client:
    recorded = _Client()
    monkeypatch.setattr(reports_cli, "_client", lambda args: recorded)
    return recorded


def test_create_posts_the_body_the_options_ask_for_and_prints_the_answer(client, capsys):
    client.answer = HOOK
    argv = ["webhooks", "create", "--url", HOOK["targetUrl"], "--secret", "s", "--events", "report.completed, "]
    assert main(argv) == 0
    assert client.calls == [("POST", HOOKS, {"targetUrl": HOOK["targetUrl"], "secret": "s", "events": ["report.completed"]})]
    assert json.loads(capsys.readouterr().out) == HOOK
    client.answer, client.calls = SCHEDULE, []
    assert main(["schedules", "create", "--type", "user", "--bucket", "b", "--prefix", "p/"]) == 0
    assert client.calls == [("POST", SCHEDULES, {"type": "USER", "s3Bucket": "b", "s3Prefix": "p/"})]
    assert json.loads(capsys.readouterr().out) == SCHEDULE


@pytest.mark.parametrize(("command", "path", "item"), [("webhooks", HOOKS, HOOK), ("schedules", SCHEDULES, SCHEDULE)])
def test_list_is_a_table_or_json_and_get_prints_the_item(client, capsys, command, path, item):
    client.answer = [item]
    assert main([command, "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].startswith("ID ") and table[1].startswith(item["id"] + " ")
    assert main([command, "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [item]
    client.answer = item
    assert main([command, "get", item["id"]]) == 0
    assert json.loads(capsys.readouterr().out) == item
    assert client.calls == [("LIST", path), ("LIST", path), ("GET", f"{path}/{item['id']}", None)]


def test_delete_says_what_it_did(client, capsys):
    assert main(["webhooks", "delete", "h-1"]) == 0
    assert capsys.readouterr().out == "deleted webhook h-1: deliveries queued to it are dropped\n"
    assert main(["schedules", "delete", "s-1"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["schedules", "delete", "s-1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"id": "s-1", "deleted": True}
    assert client.calls == [("DELETE", f"{HOOKS}/h-1", None)] + [("DELETE", f"{SCHEDULES}/s-1", None)] * 2


@pytest.mark.parametrize(("status", "code"), [(409, 3), (404, 2), (400, 2)])
@pytest.mark.parametrize("command", ["webhooks", "schedules"])
def test_an_api_error_is_one_line_on_stderr_and_exit_3_at_the_cap(client, capsys, command, status, code):
    client.error = ApiError(status, {"message": "refused", "errors": [{"description": "refused"}]})
    assert main([command, "get", "x"]) == code
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == f"wbr {command}: HTTP {status}: refused\n"
