"""Where a `wbr` command finds the stack it talks to, checked before any request: the local AWS
(`wbr token`, `seed`, `ingest`, `rate`) or the API (`wbr reports`, `webhooks`), from the
environment or `.local/env`. No stack, a stale env file or nobody listening: one
`StackUnreachable`, which every command reports the same way, with exit code 2."""

from __future__ import annotations

import os
import socket
from urllib.parse import urlsplit

from chalicelib.cli.options import StackUnreachable

LOCAL_STACK = "the local stack"


def _no_env_reason() -> str:
    from chalicelib.local.env_file import PROJECT_DIR, env_file

    path = env_file()
    shown = path.relative_to(PROJECT_DIR) if path.is_relative_to(PROJECT_DIR) else path
    if path.exists():
        return f"{shown} names a `wbr dev` that is no longer running"
    return f"{shown} is missing (no `wbr dev` runs for this checkout)"


def _listening(url: str, timeout: float = 2.0) -> bool:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def require_local_aws() -> None:
    """The local AWS of a running `wbr dev` in the environment (from `.local/env` unless set),
    and listening; else StackUnreachable (at once, not after the SDK's retries)."""
    from chalicelib.local.env_file import load_env_file

    loaded = load_env_file(quiet=True)
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        raise StackUnreachable(LOCAL_STACK, _no_env_reason() if not loaded else "AWS_ENDPOINT_URL is not set")
    if not _listening(endpoint):
        raise StackUnreachable(endpoint, "nothing answers there")


def local_container():  # type: ignore[no-untyped-def]
    """The container of the running `wbr dev`'s local AWS (`require_local_aws` first): the
    commands that work on the stack's data directly (`wbr token`, `seed`, `ingest`, `rate`)."""
    from chalicelib.bootstrap import Container
    from chalicelib.config import Settings

    require_local_aws()
    return Container(Settings.from_env())


def api_address(base_url: str | None, token: str | None) -> tuple[str, str]:
    """The API's base URL and the bearer token: given (--base-url, --token), or WBR_BASE_URL and
    WBR_TOKEN (from `.local/env` unless set)."""
    from chalicelib.local.env_file import load_env_file

    loaded = load_env_file(quiet=True)
    base_url = base_url or os.environ.get("WBR_BASE_URL")
    token = token or os.environ.get("WBR_TOKEN")
    if not base_url:
        raise StackUnreachable("the API", f"{_no_env_reason()}, and neither --base-url nor WBR_BASE_URL is given")
    if not token:
        where = "" if loaded else f"; {_no_env_reason()}"
        raise StackUnreachable(base_url, f"no token to call it with: give --token or WBR_TOKEN{where}")
    return base_url, token
