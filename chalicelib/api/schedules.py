"""HTTP routes of standing monthly reports (DESIGN §13): create, list, get, delete a schedule.

Same envelope, authentication, partner check and body rules as the reports routes (the
`webex_envelope` middleware applies to every route of the app)."""

from __future__ import annotations

from urllib.parse import quote

from chalice import Blueprint, Response

from chalicelib.api.auth import jwt_authorizer
from chalicelib.api.errors import maps_errors
from chalicelib.api.reports import JSON_CONTENT_TYPES, _caller, _json_object_body, public_url
from chalicelib.bootstrap import get_container
from chalicelib.runtime.observability import logger

schedules_api = Blueprint(__name__)

BASE_PATH = "/v1/wholesale/billing/schedules"


@schedules_api.route(BASE_PATH, methods=["POST"], authorizer=jwt_authorizer, content_types=JSON_CONTENT_TYPES)
@maps_errors
def create_schedule() -> Response:
    caller = _caller()
    body = _json_object_body()
    schedule = get_container().schedules.create(caller, body)
    logger.info("schedule created", extra={"schedule_id": schedule.schedule_id})
    return Response(
        body=schedule.to_json(), status_code=200, headers={"Location": f"{BASE_PATH}/{schedule.schedule_id}"}
    )


@schedules_api.route(BASE_PATH, methods=["GET"], authorizer=jwt_authorizer)
@maps_errors
def list_schedules() -> Response:
    caller = _caller()
    page = get_container().schedules.list(caller, dict(schedules_api.current_request.query_params or {}))
    headers: dict[str, str | list[str]] = {}
    if page.next_cursor:
        url = public_url(BASE_PATH, schedules_api.current_request.context)
        headers["Link"] = f'<{url}?cursor={quote(page.next_cursor, safe="")}>; rel="next"'
    return Response(body={"items": page.items}, headers=headers)


@schedules_api.route(BASE_PATH + "/{schedule_id}", methods=["GET"], authorizer=jwt_authorizer)
@maps_errors
def get_schedule(schedule_id: str) -> Response:
    caller = _caller()
    return Response(body=get_container().schedules.get(caller, schedule_id))


@schedules_api.route(BASE_PATH + "/{schedule_id}", methods=["DELETE"], authorizer=jwt_authorizer)
@maps_errors
def delete_schedule(schedule_id: str) -> Response:
    caller = _caller()
    get_container().schedules.delete(caller, schedule_id)
    logger.info("schedule deleted", extra={"schedule_id": schedule_id})
    return Response(body="", status_code=204)
