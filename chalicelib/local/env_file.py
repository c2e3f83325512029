"""`.local/env`: what a running `wbr dev` tells the shells and scripts of its checkout.

`wbr dev` writes it when it is ready (the API's address, a token, the local AWS's endpoints and
names: `ENV_FILE_KEYS`) and deletes it when it stops; `. .local/env` exports them, and the `wbr`
commands read it themselves (variables already set win). A file left by a `wbr dev` that is no
longer running is stale: it names endpoints nobody answers, and is ignored.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from chalicelib.config import local_state_dir

PROJECT_DIR = Path(__file__).resolve().parents[2]
ENV_FILE_KEYS = [
    "WBR_BASE_URL",
    "WBR_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "WBR_REPORTS_TABLE",
    "WBR_USAGE_DAYS_TABLE",
    "WBR_DIRECTORY_TABLE",
    "WBR_LAKE_BUCKET",
    "WBR_REPORTS_BUCKET",
    "WBR_JWT_PUBLIC_KEY_FILE",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
    "WBR_EVENTS_QUEUE_URL",
    "WBR_DEV_PID",
    # where this stack's dev keys are: `wbr token` in a shell that sourced the file, from any
    # folder, signs with the keys this stack trusts
    "WBR_STATE_DIR",
]


def env_file() -> Path:
    return local_state_dir(PROJECT_DIR) / "env"


def read_env_file(path: Path | None = None) -> dict[str, str]:
    """The variables `.local/env` exports ({} if absent)."""
    path = path or env_file()
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        parts = shlex.split(line)
        if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
            name, _, value = parts[1].partition("=")
            values[name] = value
    return values


def load_env_file(path: Path | None = None, environ: dict[str, str] | None = None, quiet: bool = False) -> bool:
    """Apply `.local/env` to the environment (variables already set win); False if absent or
    stale (the `wbr dev` that wrote it is gone: its endpoints answer nobody; said on stderr
    unless `quiet`)."""
    target = os.environ if environ is None else environ
    values = read_env_file(path)
    if not values:
        return False
    pid = values.get("WBR_DEV_PID", "")
    if pid.isdigit() and not Path(f"/proc/{pid}").exists():
        if quiet:
            return False
        print(f"ignoring {path or env_file()}: the wbr dev that wrote it (pid {pid}) is not running", file=sys.stderr)
        return False
    for name, value in values.items():
        target.setdefault(name, value)
    return True


def write_env_file(values: Mapping[str, str]) -> Path:
    path = env_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"export {name}={shlex.quote(values[name])}" for name in ENV_FILE_KEYS if values.get(name)]
    path.write_text("\n".join(lines) + "\n")
    return path
