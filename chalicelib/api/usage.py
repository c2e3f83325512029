"""HTTP routes of the console's read API (DESIGN §12): usage totals, a monthly series, explain,
availability. Read scope, the caller's partner tree only, the Webex error shape (the
`webex_envelope` middleware applies to every route of the app); use cases in services/usage.py."""

from __future__ import annotations

from urllib.parse import urlencode

from chalice import Blueprint, Response

from chalicelib.api.auth import jwt_authorizer
from chalicelib.api.errors import maps_errors
from chalicelib.api.reports import _caller, public_url
from chalicelib.bootstrap import get_container

usage_api = Blueprint(__name__)

BASE_PATH = "/v1/wholesale/billing/usage"


def _params() -> dict[str, str]:
    return dict(usage_api.current_request.query_params or {})


@usage_api.route(BASE_PATH, methods=["GET"], authorizer=jwt_authorizer)
@maps_errors
def get_usage() -> Response:
    caller = _caller()
    answer = get_container().usage.totals(caller, _params())
    headers: dict[str, str | list[str]] = {}
    if answer.next_params is not None:
        headers["Link"] = (
            f'<{public_url(BASE_PATH, usage_api.current_request.context)}?{urlencode(answer.next_params)}>; rel="next"'
        )
    return Response(body=answer.body, headers=headers)


@usage_api.route(BASE_PATH + "/series", methods=["GET"], authorizer=jwt_authorizer)
@maps_errors
def get_usage_series() -> Response:
    caller = _caller()
    return Response(body=get_container().usage.series(caller, _params()))


@usage_api.route(BASE_PATH + "/explain", methods=["GET"], authorizer=jwt_authorizer)
@maps_errors
def get_usage_explain() -> Response:
    caller = _caller()
    return Response(body=get_container().usage.explain(caller, _params()))


@usage_api.route(BASE_PATH + "/availability", methods=["GET"], authorizer=jwt_authorizer)
@maps_errors
def get_usage_availability() -> Response:
    caller = _caller()
    return Response(body=get_container().usage.availability(caller, _params()))
