"""The README, followed as a new user follows it (make test-live; CI runs it).

Every fenced `sh` block of README.md runs, in order, then every `sh` block of each document in docs/
that the README links (in the order the README first links them: docs/API.md goes on where the
README's tour stops), all in one bash session, as written:
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
DOCS = PROJECT / "docs"
BLOCK = re.compile(r"^(?P<skip><!-- readme-test: skip (?P<why>[^>]*)-->\n)?```sh\n(?P<body>.*?)^```$", re.M | re.S)
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```$", re.M | re.S)


def readme_blocks(text: str) -> list[tuple[str, str | None]]:
    """(body, reason to skip or None) of every ```sh block, in order."""
    return [(match["body"], match["why"]) for match in BLOCK.finditer(text)]


def links(document: Path) -> list[tuple[Path, str]]:
    """(file, anchor or "") of every relative Markdown link of `document`, outside code blocks, in order."""
    found = []
    for match in LINK.finditer(FENCE.sub("", document.read_text())):
        target = match["target"].strip("<>")
        if re.match(r"[a-z]+:", target):  # http(s):, mailto:
            continue
        path, _, anchor = target.partition("#")
        found.append(((document.parent / path).resolve() if path else document, anchor))
    return found


def linked_documents() -> list[Path]:
    """The documents of docs/ that the README links, in the order it first links them."""
    ordered: list[Path] = []
    for path, _ in links(README):
        if path.parent == DOCS.resolve() and path.suffix == ".md" and path not in ordered:
            ordered.append(path)
    return ordered


def every_block() -> list[tuple[str, str, str | None]]:
    """(where, body, reason to skip or None): the README's blocks, then each linked document's."""
    return [
        (f"{document.relative_to(PROJECT)} block {number}", body, why)
        for document in [README, *linked_documents()]
        for number, (body, why) in enumerate(readme_blocks(document.read_text()), start=1)
    ]


def anchors(document: Path) -> set[str]:
    """GitHub's anchors of `document`'s headings: lower case, punctuation dropped, spaces → '-'."""
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", document.read_text()), re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


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
    assert len(blocks) >= 3
    first, _ = blocks[0]
    assert [line.split("#")[0].strip() for line in first.splitlines()] == ["make run", "make test"]
    skipped = [why for _, _, why in every_block() if why]
    assert all("CI" in why for why in skipped), skipped  # each names the step that runs it instead
    ci = (PROJECT / ".ci" / "run").read_text()
    assert "make test" in ci  # the second of the two commands is CI's


def test_every_document_with_runnable_blocks_is_linked_from_the_readme_and_every_link_resolves():
    """No document's blocks escape the run below, and the links between the documents hold
    (files, and the headings their anchors name)."""
    linked = linked_documents()
    runnable = {path.resolve() for path in DOCS.glob("*.md") if readme_blocks(path.read_text())}
    assert runnable <= set(linked), sorted(str(path) for path in runnable - set(linked))
    broken = [
        f"{document.relative_to(PROJECT)} → {path}#{anchor}"
        for document in [README, *DOCS.glob("*.md")]
        for path, anchor in links(document)
        if not path.exists() or (anchor and path.suffix == ".md" and anchor not in anchors(path))
    ]
    assert broken == []


def _listing(folder: Path) -> dict[str, float]:
    return {str(path): path.stat().st_mtime for path in folder.rglob("*")} if folder.exists() else {}


def test_every_readme_command_works_as_written(checkout):
    folder, stack = checkout
    checkouts_own = _listing(PROJECT / ".local")  # a developer's `make run` state: never touched
    blocks = every_block()[1:]  # the first is the two commands, which the fixture ran
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
    for where, body, why in blocks:
        if why:
            continue
        script.append(f"echo '--- {where}' >&2")
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
    ran = sorted({where.split(" block ")[0] for where, _, why in blocks if not why})
    print(f"The blocks of {', '.join(ran)} ran in {elapsed:.1f} s; what they printed: {temporary / 'readme.stdout'}")
    # What the blocks left behind is what the documents say they make.
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
