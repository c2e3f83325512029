"""Benchmarks report numbers and ratios against a baseline measured in the same run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest

RESULTS = Path(os.environ.get("WBR_BENCH_OUT", ".local/bench-results.json"))


def best_of(runs: int, work: Callable[[], object]) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        timings.append(time.perf_counter() - started)
    return min(timings)


@pytest.fixture(scope="session")
def record():
    results: dict[str, dict] = {}

    def add(name: str, **figures: object) -> None:
        results[name] = {**figures, "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        print(f"\n[bench] {name}: " + ", ".join(f"{key}={value}" for key, value in figures.items()))

    yield add
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    # A run of some benchmarks keeps the figures of the others (each entry says when it was measured).
    try:
        kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    except ValueError:
        kept = {}
    RESULTS.write_text(json.dumps({**(kept if isinstance(kept, dict) else {}), **results}, indent=2))


@contextmanager
def moto_server() -> Iterator[dict[str, str]]:
    """A moto server (S3 + DynamoDB) on a free port, as `wbr dev` runs it; yields the environment
    (endpoint and dummy credentials) that points the service and its tools at it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "local",
           "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_SESSION_TOKEN", None)
    env.pop("AWS_PROFILE", None)
    try:
        for _ in range(200):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield env
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:  # a server holding gigabytes can be slow to stop
            server.kill()
            server.wait(30)
