"""`wbr` meets a user's errors with one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import socket

from chalicelib.cli.main import main


def test_an_api_that_cannot_be_reached_is_one_line_and_exit_2(capsys):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = main(["reports", "--base-url", f"http://127.0.0.1:{port}", "--token", "t", "list"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"wbr reports: cannot reach http://127.0.0.1:{port}")
    assert "Traceback" not in captured.err


def test_a_date_that_is_not_one_is_refused_by_name_before_anything_runs(capsys):
    try:
        main(["rate", "--to", "yesterday"])
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert (
        captured.err.strip().splitlines()[-1]
        == "wbr rate: error: argument --to: 'yesterday' is not a date like 2026-11-30"
    )


def test_a_file_that_is_not_there_is_one_line_and_exit_2(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr("chalicelib.cli.stack.local_container", lambda: object())
    missing = tmp_path / "events.ndjson"
    code = main(["ingest", str(missing)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.strip() == f"wbr ingest: No such file or directory: {missing}"


def test_an_unforeseen_error_is_one_line_and_exit_1_and_its_traceback_on_demand(capsys, monkeypatch):
    from chalicelib.cli import main as cli

    def broken(args):
        raise RuntimeError("the directory answered nonsense")

    monkeypatch.setattr(cli, "cmd_asl", broken)
    code = main(["asl"])
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    assert captured.err.strip() == (
        "wbr asl: failed: RuntimeError: the directory answered nonsense (WBR_DEBUG=1 shows the traceback)"
    )
    monkeypatch.setenv("WBR_DEBUG", "1")
    try:
        main(["asl"])
        raise AssertionError("WBR_DEBUG=1 re-raises")
    except RuntimeError as error:
        assert str(error) == "the directory answered nonsense"
