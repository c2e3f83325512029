"""HTTP routes of the Webex-compatible reports API (ARCHITECTURE.md §2)."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools.metrics import MetricUnit
from chalice import Blueprint, Response

from chalicelib.api.auth import caller_from, jwt_authorizer
from chalicelib.api.errors import (
    TRACKING_HEADER,
    current_tracking_id,
    is_webex_error_body,
    maps_errors,
    set_tracking_id,
    tracking_id_from,
    webex_error_from_foreign,
)
from chalicelib.bootstrap import get_container
from chalicelib.domain.access import Caller
from chalicelib.domain.errors import InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from chalicelib.runtime.observability import bind_tracking_id, logger, metrics

reports_api = Blueprint(__name__)

BASE_PATH = "/v1/wholesale/billing/reports"
MAX_BODY_BYTES = 16 * 1024
# Chalice answers 415 itself for other types; the middleware gives that the Webex shape.
JSON_CONTENT_TYPES = ["application/json"]


@reports_api.middleware("http")
def webex_envelope(event: Any, get_response: Any) -> Response:
    """TrackingID on every response and in every log line; Webex error shape on every error."""
    tracking_id = tracking_id_from(event.headers if event is not None else {})
    set_tracking_id(tracking_id)
    bind_tracking_id(tracking_id)
    started = time.perf_counter()
    try:
        response = get_response(event)
    finally:
        metrics.flush_metrics()
    response.headers[TRACKING_HEADER] = tracking_id
    if response.status_code >= 400 and not is_webex_error_body(response.body):
        response.body = webex_error_from_foreign(response.status_code, response.body, tracking_id)
        response.headers["Content-Type"] = "application/json"
    if isinstance(response.body, (dict, list)) and not any(name.lower() == "content-type" for name in response.headers):
        # Say it: the Webex SDK parses a body only under `Content-Type: application/json` (else the
        # 202 of create fails to parse and a list page reads as empty). Chalice sets none itself;
        # `chalice local` and API Gateway merely default to it.
        response.headers["Content-Type"] = "application/json"
    logger.info(
        "request",
        extra={
            "method": getattr(event, "method", None),
            "path": getattr(event, "path", None),
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )
    return response


def _caller() -> Caller:
    request = reports_api.current_request
    caller = caller_from(request.context)
    get_container().reports.authorize_partner(caller)
    return caller


def _json_object_body() -> dict[str, Any]:
    request = reports_api.current_request
    raw = request.raw_body or b""
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"The request body must be at most {MAX_BODY_BYTES} bytes")
    content_type = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("The request body must be JSON (Content-Type: application/json)")
    try:
        body = json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidRequest("The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object")
    return body


def public_url(path: str, context: dict[str, Any]) -> str:
    """The URL of `path` for a `Link`: from WBR_PUBLIC_BASE_URL, else the API's own domain as
    API Gateway resolved it (`context`, https). Never a scheme or host the request supplies."""
    configured = get_container().settings.public_base_url
    if configured:
        return configured.rstrip("/") + path
    domain, stage = context.get("domainName"), context.get("stage")
    if domain and stage and domain.endswith(".amazonaws.com"):
        return f"https://{domain}/{stage}{path}"
    if domain:  # a custom domain maps the base path itself
        return f"https://{domain}{path}"
    return path  # a relative reference (RFC 8288 allows it): resolved against the request


def _self_url() -> str:
    """The list's own URL for `Link`."""
    return public_url(BASE_PATH, reports_api.current_request.context)


@reports_api.route(BASE_PATH, methods=["POST"], authorizer=jwt_authorizer, content_types=JSON_CONTENT_TYPES)
@maps_errors
def create_report() -> Response:
    caller = _caller()
    body = _json_object_body()
    report, created = get_container().reports.create(caller, body, current_tracking_id())
    logger.info("report accepted", extra={"report_id": report.report_id, "new_report": created})
    if created:
        metrics.add_metric(name="ReportsCreated", unit=MetricUnit.Count, value=1)
    return Response(
        body=report.created_json(),
        status_code=200,  # as the official Webex OpenAPI documents it, for a duplicate too
        headers={"Location": f"{BASE_PATH}/{report.report_id}"},
    )


@reports_api.route(BASE_PATH, methods=["GET"], authorizer=jwt_authorizer)
@maps_errors
def list_reports() -> Response:
    caller = _caller()
    params = dict(reports_api.current_request.query_params or {})
    page = get_container().reports.list(caller, params)
    headers: dict[str, str | list[str]] = {}
    if page.next_cursor:
        headers["Link"] = f'<{_self_url()}?cursor={quote(page.next_cursor, safe="")}>; rel="next"'
    return Response(body={"items": page.items}, headers=headers)


@reports_api.route(BASE_PATH + "/{report_id}", methods=["GET"], authorizer=jwt_authorizer)
@maps_errors
def get_report(report_id: str) -> Response:
    caller = _caller()
    return Response(body=get_container().reports.detail(caller, report_id))


@reports_api.route(BASE_PATH + "/{report_id}", methods=["DELETE"], authorizer=jwt_authorizer)
@maps_errors
def delete_report(report_id: str) -> Response:
    caller = _caller()
    get_container().reports.delete(caller, report_id)
    logger.info("report deleted", extra={"report_id": report_id})
    return Response(body="", status_code=204)


@reports_api.route(BASE_PATH + "/{report_id}/manifest", methods=["GET"], authorizer=jwt_authorizer)
@maps_errors
def get_report_manifest(report_id: str) -> Response:
    caller = _caller()
    return Response(body=get_container().reports.manifest(caller, report_id))


@reports_api.route(BASE_PATH + "/{report_id}/diff", methods=["GET"], authorizer=jwt_authorizer)
@maps_errors
def get_report_diff(report_id: str) -> Response:
    """CSV of the rows that changed (or, with `Accept: application/json`, the totals per SKU);
    a CSV too large for a response body is a 303 to a presigned URL of it."""
    caller = _caller()
    request = reports_api.current_request
    params = dict(request.query_params or {})
    summary_only = _prefers_json(request.headers.get("accept") or "")
    diff = get_container().report_diffs.diff(caller, report_id, params, with_rows=not summary_only)
    if summary_only:
        return Response(body=diff.summary)
    if diff.download_url is not None:
        return Response(body="", status_code=303, headers={"Location": diff.download_url})
    return Response(
        body=diff.csv or "",
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'inline; filename="{diff.filename}"',  # shown, e.g. in the explorer
        },
    )


def _prefers_json(accept: str) -> bool:
    """JSON when the client asks for it and not for CSV first (no Accept, */*: CSV)."""
    types = [part.split(";")[0].strip().lower() for part in accept.split(",") if part.strip()]
    for media_type in types:
        if media_type in ("text/csv", "text/*"):
            return False
        if media_type == "application/json":
            return True
    return False
