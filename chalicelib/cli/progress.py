"""A progress line on stderr for long CLI work (rating days, ingesting files)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable


def progress_bar(label: str, unit: str = "", width: int = 30) -> Callable[[int, int], None]:
    """A callback(done, total) that redraws `label [#####.....] done/total` with a rate."""
    started = time.monotonic()
    last_draw = [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last_draw[0] < 0.1:
            return
        last_draw[0] = now
        filled = width * done // max(total, 1)
        rate = done / max(now - started, 1e-9)
        suffix = f" {unit}" if unit else ""
        sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}{suffix} ({rate:,.0f}/s)")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show
