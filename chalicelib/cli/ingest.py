"""`wbr ingest`'s mechanics: large inputs cut into line-aligned byte ranges for worker processes
(with a byte counter shared for the progress bar), and the summary a person reads at the end."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

PARALLEL_INGEST_MIN_BYTES = 16 * 1024 * 1024
# Fault point (tests/live): seconds `wbr ingest` waits between landing its events and asking for
# their restatement, so that a test can kill -9 it there.
PAUSE_BEFORE_ASKING = "WBR_FAULT_PAUSE_BEFORE_ASKING"


def byte_ranges(paths: list[str], parts: int) -> list[list[tuple[str, int, int]]]:
    """Cut the files into `parts` line-aligned byte ranges of about equal size."""
    sizes = {path: os.path.getsize(path) for path in paths}
    target = max(1, sum(sizes.values()) // parts)
    ranges: list[list[tuple[str, int, int]]] = [[]]
    filled = 0
    for path in paths:
        start = 0
        with open(path, "rb") as source:
            while start < sizes[path]:
                end = min(sizes[path], start + target - filled)
                if end < sizes[path]:
                    source.seek(end)
                    source.readline()  # move the cut to the next line start
                    end = source.tell()
                ranges[-1].append((path, start, end))
                filled += end - start
                start = end
                if filled >= target and len(ranges) < parts:
                    ranges.append([])
                    filled = 0
    return [group for group in ranges if group]


def read_ranges(ranges: list[tuple[str, int, int]], counter: Any = None) -> Iterator[bytes]:
    for path, start, end in ranges:
        with open(path, "rb") as source:
            source.seek(start)
            position = start
            for line in source:
                position += len(line)
                yield line
                if counter is not None and position & 0xFFFF < len(line):
                    with counter.get_lock():
                        counter.value += 0x10000
                if position >= end:
                    break


_bytes_done: Any = None  # a shared counter, inherited by the worker processes


def share_counter(counter: Any) -> None:
    """In each worker process (the pool's initializer) and in the parent: the shared counter."""
    global _bytes_done
    _bytes_done = counter


def shared_counter() -> Any:
    return _bytes_done


def ingest_summary(summary: dict[str, Any], lake_bucket: str) -> str:
    """What `wbr ingest` did, for a person: the counts, each rejection reason, what follows."""
    lines = [
        f"{summary['lines']} lines: {summary['accepted']} accepted, {summary['rejected']} rejected, "
        f"{summary['duplicatesInBatch']} repeated in the input, {summary['duplicatesIngested']} ingested before "
        f"(ignored); {summary['directoryUpdates']} directory updates"
        + (f"; {summary['blankLines']} blank lines skipped" if summary.get("blankLines") else "")
    ]
    if summary["rejections"]:
        lines.append("rejected, by reason:")
        lines += [f"  {count:>9}  {kind}" for kind, count in summary["rejections"].items()]
        lines.append(
            "each rejected line and its reason: "
            + ", ".join(f"s3://{lake_bucket}/{key}" for key in summary["deadLetters"])
        )
    asked = summary.get("restatement") or {}
    if summary["restatedFrom"]:
        running = asked.get("runningPass")
        lines.append(
            f"restatement requested from {summary['restatedFrom']} (request #{asked.get('request')}; re-rating is "
            f"pending from {asked.get('pendingFrom')}): the running stack re-rates those days and regenerates the "
            "reports built on them"
        )
        if running and asked.get("coveredByRunningPass"):
            lines.append(
                f"the pass under way ({running['fromDay']}..{running['through']}, {running['daysDone']}/"
                f"{running['daysTotal']} days) takes these events"
            )
        elif running:
            lines.append(
                f"a pass is under way ({running['fromDay']}..{running['through']}, {running['daysDone']}/"
                f"{running['daysTotal']} days) that started before these events: the next pass takes them"
            )
    elif summary["accepted"]:
        lines.append("no restatement needed: the days these events touch are not rated yet")
    return "\n".join(lines)
