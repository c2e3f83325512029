"""HTTP envelope: the Webex error body, the TrackingID, and the one mapping of errors to statuses."""

from __future__ import annotations

import contextvars
import functools
import json
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from chalice import Response

from chalicelib.domain.errors import ServiceError, TooManyRequests
from chalicelib.runtime.observability import logger

TRACKING_HEADER = "TrackingID"
_SANE_TRACKING_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")  # fullmatch: `$` lets a final newline in
_current_tracking_id: contextvars.ContextVar[str] = contextvars.ContextVar("tracking_id", default="")

# Messages for statuses that the gateway or the framework produce before our code runs.
STATUS_MESSAGES = {
    400: "The request is invalid.",
    401: "The request requires a valid access token.",
    403: "The caller is not allowed to do this.",
    404: "The requested resource could not be found.",
    405: "The method is not allowed for this resource.",
    409: "The request conflicts with the current state of the resource.",
    413: "The request body is too large.",
    415: "The request body must be JSON (Content-Type: application/json).",
    429: "Too many requests.",
    500: "Something went wrong on our side; please retry later.",
    502: "Something went wrong on our side; please retry later.",
    503: "The service is unavailable; please retry later.",
}


def tracking_id_from(headers: Mapping[str, str]) -> str:
    """The caller's TrackingID if it is sane, else a new `WBR_<uuid4>`."""
    candidate = headers.get(TRACKING_HEADER.lower()) or headers.get(TRACKING_HEADER) or ""
    return candidate if _SANE_TRACKING_ID.fullmatch(candidate) else f"WBR_{uuid.uuid4()}"


def set_tracking_id(tracking_id: str) -> None:
    _current_tracking_id.set(tracking_id)


def current_tracking_id() -> str:
    return _current_tracking_id.get() or f"WBR_{uuid.uuid4()}"


def error_body(message: str, problems: list[str], tracking_id: str) -> dict[str, Any]:
    return {
        "message": message,
        "errors": [{"description": problem} for problem in problems],
        "trackingId": tracking_id,
    }


def error_response(
    status: int, message: str, problems: list[str] | None = None, headers: dict[str, str] | None = None
) -> Response:
    tracking_id = current_tracking_id()
    return Response(
        body=error_body(message, problems or [message], tracking_id),
        status_code=status,
        headers={"Content-Type": "application/json", TRACKING_HEADER: tracking_id, **(headers or {})},
    )


def response_for(error: ServiceError) -> Response:
    headers = {}
    if isinstance(error, TooManyRequests):
        headers["Retry-After"] = str(error.retry_after_seconds)
    return error_response(error.status, error.message, error.problems, headers)


def maps_errors(view: Callable[..., Any]) -> Callable[..., Any]:
    """Route decorator: service errors become their 4xx; anything else a 500 without internals."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except ServiceError as error:
            logger.info("request refused", extra={"status": error.status, "reason": error.message})
            return response_for(error)
        except Exception:  # noqa: BLE001 - a 500 must never carry internals
            logger.exception("request failed")
            return error_response(500, STATUS_MESSAGES[500])

    return wrapper


def is_webex_error_body(body: Any) -> bool:
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            return False
    return isinstance(body, dict) and "message" in body and "errors" in body and "trackingId" in body


def webex_error_from_foreign(
    status: int, body: Any, tracking_id: str, description: str | None = None
) -> dict[str, Any]:
    """Rewrite an error the framework or gateway produced (`{"Code", "Message"}` and such).

    A 4xx is described by its own message, or by `description` when given: the gateway passes a
    fixed text for the errors whose message can quote the request (chalicelib/api/gateway.py)."""
    message = STATUS_MESSAGES.get(status, "The request failed.")
    if status >= 500:
        return error_body(message, [message], tracking_id)
    if description:
        return error_body(message, [description], tracking_id)
    detail = None
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except ValueError:
            body = None
    if isinstance(body, dict):
        detail = body.get("Message") or body.get("message")
    return error_body(message, [str(detail)] if detail else [message], tracking_id)
