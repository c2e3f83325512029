"""Where `wbr dev`'s log lines go, so that its first minute is quiet (ARCHITECTURE.md §8).

The service's JSON log lines (Powertools: each request, each stream record handled, each worker
step), Python warnings and any library's log records go to `service.log` in the state folder,
appended across starts. The terminal keeps the start-up lines, the ready banner and one
access-log line per request (http.server's). `wbr dev --logs` (or WBR_LOGS=1) shows the log
lines live on stderr as well, all but the per-request "request" line, which would repeat the
access-log line.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from chalicelib.runtime.observability import SERVICE, logger

LOG_FILE_NAME = "service.log"
LIVE_VARIABLE = "WBR_LOGS"
REQUEST_MESSAGE = "request"  # chalicelib/api/reports.py's one line per request


def live_logs_requested() -> bool:
    return os.environ.get(LIVE_VARIABLE, "") not in ("", "0")


class _NotTheRequestLine(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != REQUEST_MESSAGE


def route_service_logs(state_dir: Path, live: bool) -> Path:
    """Send the service's log lines to `state_dir/service.log` (and, `live`, on to stderr);
    returns the file's path."""
    path = state_dir / LOG_FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(logger.registered_formatter)
    service_logger = logging.getLogger(SERVICE)  # the Python logger under Powertools' Logger
    for handler in list(service_logger.handlers):
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            if live:
                handler.setStream(sys.stderr)
                handler.addFilter(_NotTheRequestLine())
            else:
                service_logger.removeHandler(handler)
    service_logger.addHandler(to_file)
    service_logger.propagate = False  # its lines are written above, not again below
    # Everything else that logs (libraries, `warnings`): the same file, plain lines (without a
    # handler of its own, Python would print WARNING and above on stderr).
    plain = logging.FileHandler(path, encoding="utf-8")
    plain.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    plain.setLevel(logging.WARNING)
    logging.getLogger().addHandler(plain)
    if live:
        logging.getLogger().addHandler(logging.StreamHandler(sys.stderr))
    logging.captureWarnings(True)
    return path
