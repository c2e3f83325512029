"""The suite's two tiers.

- `make test` (the README's command, CI's first step): every test, the slowest property and fuzz
  tests with fewer examples, the fault matrices left out; under 4 minutes on 2 cores.
- `make test-deep` (CI's second step, `WBR_DEEP=1`): the fault matrices (`@pytest.mark.deep`) and
  the tests marked `tiered`, with their full number of examples.

A tiered test names both numbers where it sets its examples: `examples(deep=260, quick=40)`.
"""

from __future__ import annotations

import os

DEEP = os.environ.get("WBR_DEEP") == "1"


def examples(deep: int, quick: int) -> int:
    """The examples of a tiered property test in this run."""
    return deep if DEEP else quick
