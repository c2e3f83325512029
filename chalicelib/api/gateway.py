"""API Gateway behaviour that Chalice's local gateway lacks, for `wbr dev` and the tests.

In AWS, API Gateway answers requests that never reach a route (missing or bad token, unknown
path) and infra/ configures its GatewayResponses to use the Webex error body and echo the
TrackingID. This module gives the local gateway the same answers, so local runs and tests see
what deploys:
- an authorizer that raises "Unauthorized" yields 401 (Chalice local would crash);
- every gateway error gets the Webex error body and a TrackingID header.
"""

from __future__ import annotations

import json
from typing import Any

from chalice.app import Chalice
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
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


class WebexLocalGateway(LocalGateway):
    def __init__(self, app_object: Chalice, config: Config) -> None:
        super().__init__(app_object, config)
        self._authorizer = _Authorizer(app_object)

    def handle_request(self, method: str, path: str, headers: Any, body: bytes | None) -> Any:
        try:
            return super().handle_request(method, path, headers, body)
        except LocalGatewayException as error:
            lowered = {str(key).lower(): value for key, value in headers.items()}
            tracking_id = tracking_id_from(lowered)
            error.body = json.dumps(webex_error_from_foreign(error.CODE, error.body, tracking_id)).encode()
            error.headers = {**error.headers, TRACKING_HEADER: tracking_id, "Content-Type": "application/json"}
            raise


class WebexRequestHandler(ChaliceRequestHandler):
    """chalice local's request handler, with the gateway above."""

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Chalice, config: Config) -> None:
        self.local_gateway = WebexLocalGateway(app_object, config)
        super(ChaliceRequestHandler, self).__init__(request, client_address, server)
