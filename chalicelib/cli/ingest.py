"""`wbr ingest FILE…`: NDJSON provisioning events validated and landed through the running local
stack's ingestion service. Large inputs are cut into line-aligned byte ranges for worker processes
(with a byte counter shared for the progress bar); the summary a person reads at the end."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from chalicelib.cli.options import print_json, wants_json
from chalicelib.cli.progress import progress_bar

if TYPE_CHECKING:
    from chalicelib.services.ingest_ports import IngestSummary

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


def add_ingest_command(command: Callable[..., argparse.ArgumentParser]) -> None:
    """`wbr ingest FILE…`, added through main.py's `command` factory."""
    ingest = command("ingest", help="ingest NDJSON provisioning event files into the local stack")
    ingest.add_argument("files", nargs="+", help="NDJSON files: one provisioning event per line")
    ingest.add_argument("--strict", action="store_true", help="exit 1 when any line was rejected")
    ingest.add_argument("--workers", type=int, default=0, help="processes for large inputs (default: cores - 1)")
    ingest.set_defaults(run=cmd_ingest)


def _ingest_worker(ranges: list[tuple[str, int, int]]) -> IngestSummary:
    """In a worker process: land one share of the input (restatement is done once, at the end)."""
    from chalicelib.cli.stack import local_container

    ingestion = local_container().ingestion
    return ingestion.ingest_lines(read_ranges(ranges, shared_counter()), source="cli", restate=False)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Validate and land NDJSON files; large inputs are split over one process per core."""
    from chalicelib.cli.stack import local_container
    from chalicelib.services.ingest_ports import IngestSummary

    container = local_container()
    total = sum(os.path.getsize(path) for path in args.files)
    # one process per core but one (left to the S3 endpoint and the rest of the machine)
    default_workers = max(1, (os.cpu_count() or 1) - 1)
    workers = max(1, min(args.workers or default_workers, 8)) if total >= PARALLEL_INGEST_MIN_BYTES else 1
    show = progress_bar("ingesting", unit="bytes")
    context = multiprocessing.get_context("spawn")
    counter = context.Value("q", 0)
    shares = byte_ranges(args.files, workers)
    share_counter(counter)
    if len(shares) == 1:
        results = [_ingest_worker(shares[0])]
    else:
        with ProcessPoolExecutor(
            len(shares), mp_context=context, initializer=share_counter, initargs=(counter,)
        ) as pool:
            futures = [pool.submit(_ingest_worker, share) for share in shares]
            while not all(future.done() for future in futures):
                show(min(counter.value, total), total)
                time.sleep(0.2)
            results = [future.result() for future in futures]
    show(total, total)
    landed = IngestSummary()
    for result in results:
        landed.merge(result)
    if pause := float(os.environ.get(PAUSE_BEFORE_ASKING, "0") or 0):  # a fault point for tests/live
        print(
            f"wbr ingest: {landed.accepted} events landed; asking for their restatement in {pause:g} s", file=sys.stderr
        )
        time.sleep(pause)
    asked = container.ingestion.restate_if_rated(landed)
    if landed.directory_updates:  # publish the directory snapshot now, not in the next report's Plan
        container.directory_snapshots.refresh()
    summary = {
        "lines": landed.lines,
        "accepted": landed.accepted,
        "rejected": landed.rejected,
        "rejections": dict(sorted(landed.rejections.items(), key=lambda item: (-item[1], item[0]))),
        "duplicatesInBatch": landed.duplicates_in_batch,
        "duplicatesIngested": landed.duplicates_ingested,
        "blankLines": landed.blank_lines,
        "directoryUpdates": landed.directory_updates,
        "restatedFrom": asked.requested_day.isoformat() if asked.requested_day else None,
        "restatement": asked.as_json(),
        "deadLetters": landed.dead_letter_keys,
        "workers": len(shares),
        "stageSeconds": {stage: round(seconds, 3) for stage, seconds in sorted(landed.stage_seconds.items())},
    }
    if wants_json(args):
        print_json(summary)
    else:
        print(ingest_summary(summary, container.settings.lake_bucket))
    return 1 if summary["rejected"] and args.strict else 0
