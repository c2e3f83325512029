"""API Gateway behaviour that Chalice's local gateway lacks, for `wbr dev` and the tests.

In AWS, API Gateway answers requests that never reach a route (missing or bad token, unknown
path) and infra/ configures its GatewayResponses to use the Webex error body and echo the
TrackingID. This module gives the local gateway the same answers, so local runs and tests see
what deploys:
- an authorizer that raises "Unauthorized" yields 401 (Chalice local would crash);
- every gateway error gets the Webex error body and a TrackingID header;
- no answer, and no line of the dev server's access log, quotes a credential: the gateway's own
  messages that can carry request content are replaced by fixed ones (GATEWAY_DESCRIPTIONS, which
  infra/ configures in AWS too), and the access log leaves out the query string.
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any
from urllib.parse import urlsplit

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    ForbiddenError,
    InvalidAuthorizerError,
    LocalGateway,
    LocalGatewayAuthorizer,
    LocalGatewayException,
    NotAuthorizedError,
)

from chalicelib.api.errors import TRACKING_HEADER, tracking_id_from, webex_error_from_foreign

# Gateway responses configured in AWS (infra/), and emulated here: type → status.
GATEWAY_RESPONSES = {
    "UNAUTHORIZED": 401,
    "ACCESS_DENIED": 403,
    "MISSING_AUTHENTICATION_TOKEN": 403,
    "AUTHORIZER_FAILURE": 500,
    "DEFAULT_4XX": None,
    "DEFAULT_5XX": None,
}

# The description (`errors[0].description`) of the gateway errors whose own message can carry
# request content: a route that does not exist is answered, by Chalice local and by API Gateway,
# with a message that quotes the Authorization header (verbatim, or hashed). These are answered
# with a fixed text instead, here and in AWS (infra/package.py); every other 4xx kind describes
# itself with the gateway's message ("Missing required request parameters: [...]" and such).
# No `$` nor `#`: in AWS the text goes into a VTL mapping template.
GATEWAY_DESCRIPTIONS = {
    "MISSING_AUTHENTICATION_TOKEN": (
        "This API has no route for the request's method and path. The reports are at "
        "/v1/wholesale/billing/reports; the API's description is /v1/wholesale/billing/openapi.json."
    ),
    "UNAUTHORIZED": (
        "The access token is missing, malformed, expired or not valid for this API; "
        "send it as 'Authorization: Bearer <token>'."
    ),
    "ACCESS_DENIED": "The access token does not allow this request.",
    "EXPIRED_TOKEN": "The request's credentials have expired.",
    "INVALID_SIGNATURE": "The request's signature is not valid.",
    "RESOURCE_NOT_FOUND": "The requested resource could not be found.",
    # Whatever kind is not configured on its own (its message is not known to be harmless).
    "DEFAULT_4XX": "The request was refused before it reached the service.",
}


def gateway_error_kind(error: LocalGatewayException) -> str:
    """The API Gateway response type of an error Chalice's local gateway raised."""
    if isinstance(error, NotAuthorizedError):
        return "UNAUTHORIZED"
    if isinstance(error, ForbiddenError):
        denied = error.headers.get("x-amzn-ErrorType") == "AccessDeniedException"
        return "ACCESS_DENIED" if denied else "MISSING_AUTHENTICATION_TOKEN"
    if isinstance(error, InvalidAuthorizerError):
        return "AUTHORIZER_FAILURE"
    return "DEFAULT_5XX" if error.CODE >= 500 else "DEFAULT_4XX"


class _Authorizer(LocalGatewayAuthorizer):
    def authorize(self, raw_path: str, lambda_event: Any, lambda_context: Any) -> Any:
        try:
            return super().authorize(raw_path, lambda_event, lambda_context)
        except LocalGatewayException:
            raise
        except Exception as error:  # noqa: BLE001 - what API Gateway does with an authorizer error
            headers = {"x-amzn-RequestId": lambda_context.aws_request_id}
            if str(error) == "Unauthorized":
                raise NotAuthorizedError(headers, b'{"message":"Unauthorized"}') from None
            raise InvalidAuthorizerError(headers, b'{"message":null}') from None


_ONE_REQUEST_AT_A_TIME = threading.Lock()


class WebexLocalGateway(LocalGateway):
    def __init__(self, app_object: Chalice, config: Config) -> None:
        super().__init__(app_object, config)
        self._authorizer = _Authorizer(app_object)

    def _generate_lambda_event(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            return super()._generate_lambda_event(method, path, headers, body)
        except ValueError:
            # No route: API Gateway's MISSING_AUTHENTICATION_TOKEN. Chalice's own answer would
            # quote the Authorization header (and fail on one that is not ASCII).
            headers_out = {
                "x-amzn-RequestId": str(uuid.uuid4()),
                "x-amzn-ErrorType": "MissingAuthenticationTokenException",
            }
            raise ForbiddenError(headers_out, b'{"message":"Missing Authentication Token"}') from None

    def handle_request(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        # One request at a time, as a Lambda execution environment runs them: Chalice keeps the
        # request being handled in one attribute of the app (`current_request`), so two requests
        # handled at once by the threaded local server would read each other's query parameters.
        with _ONE_REQUEST_AT_A_TIME:
            return self._handle_request(method, path, headers, body)

    def _handle_request(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            return super().handle_request(method, path, headers, body)
        except LocalGatewayException as error:
            lowered = {str(key).lower(): value for key, value in headers.items()}
            tracking_id = tracking_id_from(lowered)
            description = GATEWAY_DESCRIPTIONS.get(gateway_error_kind(error))
            error.body = json.dumps(webex_error_from_foreign(error.CODE, error.body, tracking_id, description)).encode()
            error.headers = {**error.headers, TRACKING_HEADER: tracking_id, "Content-Type": "application/json"}
            raise


class WebexRequestHandler(ChaliceRequestHandler):
    """chalice local's request handler, with the gateway above."""

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Chalice, config: Config) -> None:
        self.local_gateway = WebexLocalGateway(app_object, config)
        super(ChaliceRequestHandler, self).__init__(request, client_address, server)

    def __getattr__(self, name: str) -> Any:
        """`do_<METHOD>` for the methods chalice's handler has no handler for (TRACE, CONNECT, any
        other token): through the gateway like the rest, so a route answers 405 with `Allow` and
        an unknown path the no-route 403, in the Webex error shape (http.server: a 501 page)."""
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        """The access log line, without the query string (it can carry a token: `?access_token=`)."""
        if not self.command:  # a request line that did not parse (or was too long): not quoted either
            self.log_message('"-" %s %s', getattr(code, "value", code), size)
            return
        path = urlsplit(self.path).path
        self.log_message(
            '"%s %s %s" %s %s', self.command, path, self.request_version, getattr(code, "value", code), size
        )

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (a request line it cannot parse, …) with the standard reason
        only: its messages quote the request line, in the error page and in the log."""
        super().send_error(code)
