"""The README, followed as a new user follows it (make test-live; CI runs it).

Every fenced `sh` block of README.md runs, in order, in one bash session, as written:
- the first block is the two commands: `make run` is started as the README says (in the
  checkout, here with ports and a state folder of the test's own), `make test` is CI's own step;
- every later block runs in a folder laid out like the checkout (`.local/` is that stack's state
  folder, `.venv/` the checkout's), so `. .local/env` and `. .venv/bin/activate` work as written;
- a block right after `<!-- readme-test: skip … -->` is not run here; the comment says which
  other CI step runs it (the deploy needs an AWS account).
A command that fails fails the test with the block, the command's output and the stack's log.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.stack import PROJECT, Stack

pytestmark = pytest.mark.live

README = PROJECT / "README.md"
BLOCK = re.compile(r"^(?P<skip><!-- readme-test: skip (?P<why>[^>]*)-->\n)?```sh\n(?P<body>.*?)^```$", re.M | re.S)


def readme_blocks(text: str) -> list[tuple[str, str | None]]:
    """(body, reason to skip or None) of every ```sh block, in order."""
    return [(match["body"], match["why"]) for match in BLOCK.finditer(text)]


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Stack]]:
    """A folder laid out like the checkout, and `make run` serving it."""
    folder = tmp_path_factory.mktemp("readme")
    (folder / ".venv").symlink_to(PROJECT / ".venv")
    state = folder / ".local"
    state.mkdir()
    running = Stack(state, demo=True, command=["make", "--no-print-directory", "run"])
    running.start(timeout=300)
    try:
        yield folder, running
    finally:
        running.stop()


def test_the_readme_blocks_are_found_and_the_first_is_the_two_commands():
    blocks = readme_blocks(README.read_text())
    assert len(blocks) >= 5
    first, _ = blocks[0]
    assert [line.split("#")[0].strip() for line in first.splitlines()] == ["make run", "make test"]
    skipped = [why for _, why in blocks if why]
    assert all("CI" in why for why in skipped), skipped  # each names the step that runs it instead
    ci = (PROJECT / ".ci" / "run").read_text()
    assert "make test" in ci  # the second of the two commands is CI's


def _listing(folder: Path) -> dict[str, float]:
    return {str(path): path.stat().st_mtime for path in folder.rglob("*")} if folder.exists() else {}


def test_every_readme_command_works_as_written(checkout):
    folder, stack = checkout
    checkouts_own = _listing(PROJECT / ".local")  # a developer's `make run` state: never touched
    blocks = readme_blocks(README.read_text())[1:]
    temporary = folder.parent / f"{folder.name}-tmp"  # where the tour's `mktemp -d` makes its folder
    temporary.mkdir()
    environ = {
        **stack.environ,
        "HOME": str(folder),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "TMPDIR": str(temporary),
    }
    before = {path.name for path in folder.iterdir()}
    for name in ("WBR_STATE_DIR", "WBR_API_PORT", "WBR_AWS_PORT", "WBR_DYNAMODB_PORT", "WBR_DEMO"):
        environ.pop(name, None)  # a user's second shell knows only what the README tells it
    script = ["set -euo pipefail"]
    for number, (body, why) in enumerate(blocks, start=2):
        if why:
            continue
        script.append(f"echo '--- README block {number}' >&2")
        script.append(body)
    started = time.monotonic()
    run = subprocess.run(
        ["bash", "-c", "\n".join(script)], cwd=folder, env=environ, capture_output=True, text=True, timeout=900
    )
    elapsed = time.monotonic() - started
    assert run.returncode == 0, (
        f"exit {run.returncode}\n--- stdout\n{run.stdout[-4000:]}\n--- stderr\n{run.stderr[-4000:]}\n"
        f"--- wbr dev\n{(stack.state_dir / 'dev.log').read_text()[-3000:]}"
    )
    # The tour writes into its temporary folder, nothing into the checkout.
    assert {path.name for path in folder.iterdir()} == before
    (tour,) = temporary.glob("tmp.*")
    (temporary / "readme.stdout").write_text(run.stdout)
    print(f"README blocks ran in {elapsed:.1f} s; what they printed: {temporary / 'readme.stdout'}")
    # What the blocks left behind is what the README says they make.
    with (tour / "report.csv").open(newline="") as file:
        header = next(csv.reader(file))
    assert header[:2] == ["PARTNER_NAME", "PARTNER_ORG_ID"] and "QUANTITY" in header
    assert (tour / "customers.csv").stat().st_size > 0 and (tour / "partner.csv").stat().st_size > 0
    assert "report.completed" in (tour / "deliveries.log").read_text()
    assert "exit 3: it exists" in run.stdout
    assert "[]" in run.stdout  # Globex lists none of Acme's reports
    assert "404" in run.stdout or "Billing Report not found" in run.stdout
    assert re.search(r"^\d+ lines: \d+ accepted, \d+ rejected", run.stdout, re.M), run.stdout[-3000:]
    assert "Traceback" not in run.stderr
    assert _listing(PROJECT / ".local") == checkouts_own
    created = json.loads((tour / "created.json").read_text())
    assert created["type"] == "USER" and created["category"] == "RECONCILIATION"
