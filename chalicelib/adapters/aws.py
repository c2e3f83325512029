"""boto3 clients built from Settings (endpoint override for the local stack)."""

from __future__ import annotations

import threading
from typing import Any, Protocol

import boto3
from botocore.config import Config

_lock = threading.Lock()
_CLIENT_CONFIG = Config(
    retries={"max_attempts": 8, "mode": "adaptive"},
    max_pool_connections=32,
    s3={"addressing_style": "path"},
    signature_version="s3v4",
)


_session: boto3.session.Session | None = None


class ClientSettings(Protocol):
    """What a client is built from: the settings (chalicelib/config.py `Settings`) as given."""

    @property
    def region(self) -> str: ...

    def endpoint_for(self, service: str) -> str | None: ...


def make_client(service: str, settings: ClientSettings) -> Any:
    """A new client; callers keep it (clients are thread-safe, their creation is not).
    One session per process, so service models are loaded once."""
    global _session
    with _lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(
            service,
            region_name=settings.region,
            endpoint_url=settings.endpoint_for(service),
            config=_CLIENT_CONFIG,
        )


_THROTTLING_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "RequestThrottled",
    "SlowDown",
    "TooManyRequestsException",
    "RequestTimeout",
    "RequestTimeoutException",
}


def is_throttling(error: BaseException) -> bool:
    """True for AWS errors that a later retry can cure (throttling, slow down, timeouts)."""
    from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

    if isinstance(error, (ReadTimeoutError, ConnectionError)):
        return True
    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in _THROTTLING_CODES


# What S3 answers for an object that is not there (GET: NoSuchKey; HEAD: a bare 404 or NotFound).
_MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
# What S3 answers a conditional write (If-None-Match: *) that lost to an existing object.
_PRECONDITION_CODES = frozenset({"PreconditionFailed", "ConditionalRequestConflict", "412"})


def _code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


def is_missing_object(error: BaseException) -> bool:
    """True for an S3 error that says the object does not exist."""
    return _code(error) in _MISSING_OBJECT_CODES


def is_precondition_failed(error: BaseException) -> bool:
    """True for an S3 error that says a conditional write found the object already there."""
    return _code(error) in _PRECONDITION_CODES
