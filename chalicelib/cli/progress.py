"""Progress on stderr for long CLI work (rating days, ingesting files): a bar redrawn in place on
a terminal; elsewhere (a log file, a pipe) whole lines, a few of them, so that a log reads."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO, Any

LINE_SECONDS = 5.0  # not on a terminal: at most one line this often (and the last one)


def is_terminal(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def progress_bar(label: str, unit: str = "", width: int = 30) -> Callable[[int, int], None]:
    """A callback(done, total) that shows `label [#####.....] done/total` with a rate."""
    started = time.monotonic()
    terminal = is_terminal(sys.stderr)
    last_draw = [float("-inf")]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        interval = 0.1 if terminal else LINE_SECONDS
        if done < total and now - last_draw[0] < interval:
            return
        last_draw[0] = now
        filled = width * done // max(total, 1)
        rate = done / max(now - started, 1e-9)
        suffix = f" {unit}" if unit else ""
        line = f"{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{suffix} ({rate:,.0f}/s)"
        if terminal:
            sys.stderr.write(f"\r{line}" + ("\n" if done >= total else ""))
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    return show
