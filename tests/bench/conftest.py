"""Benchmarks report numbers and ratios against a baseline measured in the same run."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
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
        results[name] = figures
        print(f"\n[bench] {name}: " + ", ".join(f"{key}={value}" for key, value in figures.items()))

    yield add
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
