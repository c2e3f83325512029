"""HTTP routes of the webhooks extension (ARCHITECTURE.md §6.1): create, list, get, delete.

Same envelope, authentication, partner check and body rules as the reports routes (the
`webex_envelope` middleware applies to every route of the app); a webhook's `secret` is never
answered nor logged."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.auth import jwt_authorizer
from chalicelib.api.errors import maps_errors
from chalicelib.api.reports import JSON_CONTENT_TYPES, _caller, _json_object_body
from chalicelib.bootstrap import get_container
from chalicelib.runtime.observability import logger

webhooks_api = Blueprint(__name__)

BASE_PATH = "/v1/wholesale/billing/webhooks"


@webhooks_api.route(BASE_PATH, methods=["POST"], authorizer=jwt_authorizer, content_types=JSON_CONTENT_TYPES)
@maps_errors
def create_webhook() -> Response:
    caller = _caller()
    body = _json_object_body()
    webhook = get_container().webhooks.create(caller, body)
    logger.info(
        "webhook created", extra={"webhook_id": webhook.webhook_id, "events": [e.value for e in webhook.events]}
    )
    return Response(body=webhook.to_json(), status_code=200, headers={"Location": f"{BASE_PATH}/{webhook.webhook_id}"})


@webhooks_api.route(BASE_PATH, methods=["GET"], authorizer=jwt_authorizer)
@maps_errors
def list_webhooks() -> Response:
    caller = _caller()
    return Response(body={"items": get_container().webhooks.list(caller)})


@webhooks_api.route(BASE_PATH + "/{webhook_id}", methods=["GET"], authorizer=jwt_authorizer)
@maps_errors
def get_webhook(webhook_id: str) -> Response:
    caller = _caller()
    return Response(body=get_container().webhooks.get(caller, webhook_id))


@webhooks_api.route(BASE_PATH + "/{webhook_id}", methods=["DELETE"], authorizer=jwt_authorizer)
@maps_errors
def delete_webhook(webhook_id: str) -> Response:
    caller = _caller()
    get_container().webhooks.delete(caller, webhook_id)
    logger.info("webhook deleted", extra={"webhook_id": webhook_id})
    return Response(body="", status_code=204)
