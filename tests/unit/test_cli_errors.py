"""`wbr` meets a user's errors with one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import socket

from chalicelib.cli import main


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
