"""HTTP route of Webex's sub-partner list, `GET /v1/wholesale/subPartners` (ARCHITECTURE.md §2.7).

Same envelope, authentication and partner check as the reports routes (the `webex_envelope`
middleware applies to every route of the app). More pages: a `Link: <…?offset=…&max=…>;
rel="next"` header on the configured public URL, as the reports list builds its own."""

from __future__ import annotations

from urllib.parse import urlencode

from chalice import Blueprint, Response

from chalicelib.api.auth import jwt_authorizer
from chalicelib.api.errors import maps_errors
from chalicelib.api.reports import _caller, public_url
from chalicelib.bootstrap import get_container

sub_partners_api = Blueprint(__name__)

BASE_PATH = "/v1/wholesale/subPartners"


@sub_partners_api.route(BASE_PATH, methods=["GET"], authorizer=jwt_authorizer)
@maps_errors
def list_sub_partners() -> Response:
    caller = _caller()
    request = sub_partners_api.current_request
    page = get_container().sub_partners.list(caller, dict(request.query_params or {}))
    headers: dict[str, str | list[str]] = {}
    if page.next_params is not None:
        headers["Link"] = f'<{public_url(BASE_PATH, request.context)}?{urlencode(page.next_params)}>; rel="next"'
    return Response(body={"items": page.items}, headers=headers)
