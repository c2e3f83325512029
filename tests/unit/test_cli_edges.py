"""The edges of `wbr` a new user meets first: every option says what it is; enum values in any
case; one message and exit code 2 when there is no stack to talk to, for every command; what can
be checked locally is, before any request; every command says what it did; a closed pipe is not
an error; progress off a terminal is whole lines naming whole ids; list sorts, orders and stops."""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

import pytest

from chalicelib.cli import reports as cli_reports
from chalicelib.cli.main import build_parser, main
from chalicelib.cli.progress import progress_bar
from chalicelib.local import env_file as local_env

REPORT_ID = "Y2lzY29zcGFyazovL3VzL0JJTExJTkdfUkVQT1JULzEyMzQ1Njc4LTEyMzQtNDEyMy04MTIzLTEyMzQ1Njc4OTAxMg"


def _parsers(parser: argparse.ArgumentParser, path: str = "wbr") -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:  # noqa: SLF001 - argparse keeps its subcommands there
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                found += _parsers(sub, f"{path} {name}")
    return found


def test_every_option_and_argument_of_every_command_has_help():
    missing = [
        f"{path} {action.option_strings or action.dest}"
        for path, parser in _parsers(build_parser())
        for action in parser._actions  # noqa: SLF001
        if not isinstance(action, argparse._SubParsersAction) and not action.help  # noqa: SLF001
    ]
    assert missing == []


@pytest.mark.parametrize(
    ("argv", "name", "value"),
    [
        (["reports", "create", "--type", "user"], "type", "USER"),
        (["reports", "create", "--category", "point_in_time"], "category", "POINT_IN_TIME"),
        (["reports", "create", "--format", "PARQUET"], "format", "parquet"),
        (["reports", "list", "--type", "Customer"], "type", "CUSTOMER"),
        (["reports", "list", "--status", "completed"], "status", "COMPLETED"),
        (["reports", "list", "--sort", "CREATED"], "sort", "created"),
        (["reports", "list", "--sort", "billingstartdate"], "sort", "billingStartDate"),
        (["reports", "list", "--order", "DESC"], "order", "desc"),
    ],
)
def test_enum_options_take_any_case(argv, name, value):
    assert getattr(build_parser().parse_args(argv), name) == value


@pytest.fixture
def no_stack(monkeypatch, tmp_path):
    monkeypatch.setattr(local_env, "env_file", lambda: tmp_path / "env")
    for name in ("AWS_ENDPOINT_URL", "WBR_BASE_URL", "WBR_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.mark.parametrize(
    "argv",
    [
        ["token", "--org", "Acme"],
        ["ingest", "events.ndjson"],
        ["rate"],
        ["seed"],
        ["reports", "list"],
        ["reports", "get", REPORT_ID],
        ["reports", "delete", REPORT_ID],
        ["webhooks", "list"],
    ],
    ids=" ".join,
)
def test_no_stack_is_one_message_and_exit_2_for_every_command(no_stack, capsys, argv):
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"wbr {argv[0]}: cannot reach ") and lines[0].endswith("(start the stack with `make run`)")
    assert "env is missing" in lines[0]


def test_a_stale_env_file_or_a_silent_endpoint_is_the_same_message(no_stack, capsys, monkeypatch):
    (no_stack / "env").write_text("export AWS_ENDPOINT_URL=http://127.0.0.1:9\nexport WBR_DEV_PID=999999999\n")
    assert main(["rate"]) == 2
    assert "names a `wbr dev` that is no longer running" in capsys.readouterr().err
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nobody listens on port 9
    assert main(["ingest", "events.ndjson"]) == 2
    assert capsys.readouterr().err.strip() == (
        "wbr ingest: cannot reach http://127.0.0.1:9: nothing answers there (start the stack with `make run`)"
    )


class _Recorder:
    """Stands in for ReportsClient: records the calls, answers a list of 250 reports."""

    calls: list[tuple[str, Any]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def list(self, **filters: Any) -> Any:
        self.calls.append(("list", filters))
        for number in range(250):
            yield {"id": f"r{number}", "type": "USER", "billingStartDate": "2026-11-01",
                   "billingEndDate": "2026-11-30", "status": "COMPLETED", "created": "2026-12-01T00:00:00.000Z"}

    def delete(self, report_id: str) -> None:
        self.calls.append(("delete", report_id))

    def create(self, body: dict) -> dict:
        self.calls.append(("create", body))
        return {"id": REPORT_ID, **body}


@pytest.fixture
def recorder(monkeypatch):
    _Recorder.calls = []
    monkeypatch.setattr("chalicelib.cli.client.ReportsClient", _Recorder)
    monkeypatch.setenv("WBR_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("WBR_TOKEN", "t")
    return _Recorder


# list --sort/--order/--max against a recording API: tests/unit/test_cli_listing.py


def test_delete_says_what_it_did(recorder, capsys):
    assert main(["reports", "delete", REPORT_ID]) == 0
    assert capsys.readouterr().out.strip() == (
        f"deleted report {REPORT_ID}: its file and every download link to it are gone"
    )
    assert recorder.calls == [("delete", REPORT_ID)]


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        ([], "--start and --end missing"),
        (["--start", "2026-11-01"], "--end missing"),
        (["--start", "2026-11-30", "--end", "2026-11-01"], "--start 2026-11-30 is after --end 2026-11-01"),
        (["--category", "POINT_IN_TIME", "--start", "2026-11-01"], "takes no --start or --end"),
    ],
)
def test_create_checks_its_arguments_before_any_request(recorder, capsys, argv, problem):
    assert main(["reports", "create", "--type", "user", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wbr reports create: error: ") and problem in err
    assert recorder.calls == []


def test_create_sends_the_dates_and_the_type_as_the_api_spells_them(recorder, capsys):
    assert main(["reports", "create", "--type", "user", "--start", "2026-11-01", "--end", "2026-11-30"]) == 0
    assert recorder.calls == [
        ("create", {"type": "USER", "internal": False, "billingStartDate": "2026-11-01", "billingEndDate": "2026-11-30"})
    ]


def test_a_reader_that_closes_the_pipe_is_not_an_error():
    process = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.cli", "asl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # `wbr asl | head -0`: gone before wbr writes its first byte
    error = process.stderr.read()
    assert process.wait(60) == 0 and error == b"", error


def test_progress_off_a_terminal_is_a_few_whole_lines(capsys):
    show = progress_bar("rating days")
    for done in range(1, 1001):
        show(done, 1000)
    err = capsys.readouterr().err
    assert "\r" not in err
    lines = err.splitlines()
    assert 1 <= len(lines) <= 3 and lines[-1].startswith("rating days [") and "1000/1000" in lines[-1]


def test_wait_progress_off_a_terminal_names_the_whole_id_once_per_status(capsys):
    show = cli_reports._WaitProgress()  # noqa: SLF001
    for elapsed in (0.0, 0.5, 1.0):
        show({"id": REPORT_ID, "status": "IN_PROGRESS"}, elapsed)
    show({"id": REPORT_ID, "status": "COMPLETED"}, 1.5)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split()[:2] for line in lines] == [[REPORT_ID, "IN_PROGRESS"], [REPORT_ID, "COMPLETED"]]
