"""The local AWS checks signatures as AWS does (ARCHITECTURE.md §8): a WSGI gate before moto.

moto's server verifies no signature: its IAM simulation (`INITIAL_NO_AUTH_ACTION_COUNT`) reads
only an `Authorization` header, so a presigned URL (the signature in the query string) is never
checked — a link whose path was changed to another partner's key, whose `X-Amz-Expires` or
`response-content-*` was raised, or that had expired still answered 200, and an unsigned GET
listed a bucket. This gate runs in the moto server's process, before moto's application, and
refuses what AWS refuses, recomputing each signature with botocore's own SigV4 signer code:

- a presigned request (`X-Amz-Signature` in the query): 403 `SignatureDoesNotMatch` when any
  signed part changed (path, query, expiry, a `response-content-*`), 403 `AccessDenied`
  "Request has expired" after `X-Amz-Date` + `X-Amz-Expires`;
- a request signed in its `Authorization` header (the stack's own boto3 clients): 403 when the
  signature does not match;
- anything else (no signature at all, SigV2, a key this stack does not know): 403.

A request that passes reaches moto as a header-signed one, so moto answers a presigned GET of a
deleted object as AWS does for a role that may list the bucket (the API's may): 404 `NoSuchKey`,
not moto's own "SignatureDoesNotMatch … Check your AWS Secret Access Key".
"""

from __future__ import annotations

import hmac
import io
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_EXPIRES_SECONDS = 7 * 24 * 3600  # SigV4 presigned URLs live at most a week
_AMZ_DATE = "%Y%m%dT%H%M%SZ"

StartResponse = Callable[..., Any]


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str
    details: tuple[tuple[str, str], ...] = ()


SIGNATURE_MISMATCH = Refusal(
    403,
    "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method.",
)
UNSIGNED = Refusal(403, "AccessDenied", "Access Denied")


def _query_pairs(query: str) -> list[tuple[str, str]]:
    return [(key, value) for key, _, value in (pair.partition("=") for pair in query.split("&") if pair)]


def _header(environ: Mapping[str, Any], name: str) -> str | None:
    key = name.upper().replace("-", "_")
    if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        key = "HTTP_" + key
    value = environ.get(key)
    return None if value is None else str(value)


class SignatureGate:
    """WSGI middleware: the request reaches `app` only when its SigV4 signature is one that
    `credentials` (access key id → secret key) made and, presigned, has not expired."""

    def __init__(
        self, app: Callable[..., Any], credentials: Mapping[str, str], clock: Callable[[], float] = time.time
    ) -> None:
        self._app = app
        self._credentials = dict(credentials)
        self._clock = clock

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        refusal = self.check(environ)
        if refusal is not None:
            return self._refuse(environ, start_response, refusal)
        return self._app(environ, start_response)

    def check(self, environ: dict[str, Any]) -> Refusal | None:
        raw_uri = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/")
        parts = urlsplit(raw_uri)
        pairs = _query_pairs(parts.query)
        query = dict(pairs)
        authorization = _header(environ, "Authorization")
        if authorization is not None:
            return self._check_header_signature(environ, parts.path, parts.query, authorization)
        if "X-Amz-Signature" in query:
            return self._check_presigned(environ, parts.path, pairs, query)
        return UNSIGNED

    # --- presigned: the signature in the query string ---------------------------------------

    def _check_presigned(
        self, environ: dict[str, Any], path: str, pairs: list[tuple[str, str]], query: dict[str, str]
    ) -> Refusal | None:
        if unquote(query.get("X-Amz-Algorithm", "")) != ALGORITHM:
            return UNSIGNED
        scope = unquote(query.get("X-Amz-Credential", "")).split("/")
        amz_date = query.get("X-Amz-Date", "")
        expires = query.get("X-Amz-Expires", "")
        if len(scope) != 5 or scope[4] != "aws4_request" or not expires.isdigit():
            return SIGNATURE_MISMATCH
        secret = self._credentials.get(scope[0])
        if secret is None:
            return _invalid_access_key(scope[0])
        try:
            signed_at = datetime.strptime(amz_date, _AMZ_DATE).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            return SIGNATURE_MISMATCH
        unsigned_query = "&".join(f"{key}={value}" for key, value in pairs if key != "X-Amz-Signature")
        signed_headers = unquote(query.get("X-Amz-SignedHeaders", "host")).split(";")
        request = self._request(environ, path, unsigned_query, signed_headers, amz_date)
        signer_class = S3SigV4QueryAuth if scope[3] == "s3" else SigV4QueryAuth
        signer = signer_class(Credentials(scope[0], secret), scope[3], scope[2])
        if not self._matches(signer, request, query["X-Amz-Signature"]):
            return SIGNATURE_MISMATCH
        now = self._clock()
        if int(expires) > MAX_EXPIRES_SECONDS or now > signed_at + int(expires):
            return Refusal(
                403,
                "AccessDenied",
                "Request has expired",
                (
                    ("X-Amz-Expires", expires),
                    ("Expires", _iso(signed_at + int(expires))),
                    ("ServerTime", _iso(now)),
                ),
            )
        # On to moto as a header-signed request: it then answers a GET of a deleted key 404
        # NoSuchKey (its presigned path answers SignatureDoesNotMatch whenever the key is gone).
        environ["HTTP_AUTHORIZATION"] = (
            f"{ALGORITHM} Credential={'/'.join(scope)}, SignedHeaders={';'.join(signed_headers)}, "
            f"Signature={query['X-Amz-Signature']}"
        )
        return None

    # --- signed in the Authorization header --------------------------------------------------

    def _check_header_signature(
        self, environ: dict[str, Any], path: str, query: str, authorization: str
    ) -> Refusal | None:
        algorithm, _, rest = authorization.partition(" ")
        fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
        scope = fields.get("Credential", "").split("/")
        if algorithm != ALGORITHM or len(scope) != 5 or not fields.get("Signature"):
            return UNSIGNED
        secret = self._credentials.get(scope[0])
        if secret is None:
            return _invalid_access_key(scope[0])
        amz_date = _header(environ, "X-Amz-Date") or ""
        signed_headers = fields.get("SignedHeaders", "").split(";")
        body = None
        if "x-amz-content-sha256" not in signed_headers:  # the signature covers the body's hash
            length = int(_header(environ, "Content-Length") or 0)
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            environ["wsgi.input"] = io.BytesIO(body)
        request = self._request(environ, path, query, signed_headers, amz_date, body)
        signer_class = S3SigV4Auth if scope[3] == "s3" else SigV4Auth
        signer = signer_class(Credentials(scope[0], secret), scope[3], scope[2])
        return None if self._matches(signer, request, fields["Signature"]) else SIGNATURE_MISMATCH

    # --- shared ----------------------------------------------------------------------------

    @staticmethod
    def _request(
        environ: dict[str, Any],
        path: str,
        query: str,
        signed_headers: list[str],
        amz_date: str,
        body: bytes | None = None,
    ) -> AWSRequest:
        host = _header(environ, "Host") or f"{environ.get('SERVER_NAME')}:{environ.get('SERVER_PORT')}"
        headers = {name: _header(environ, name) or "" for name in signed_headers if name and name != "host"}
        request = AWSRequest(
            method=str(environ.get("REQUEST_METHOD", "GET")),
            url=f"http://{host}{path}" + (f"?{query}" if query else ""),
            headers={**headers, "host": host} if "host" in signed_headers else headers,
            data=body,
        )
        request.context["timestamp"] = amz_date
        return request

    @staticmethod
    def _matches(signer: SigV4Auth, request: AWSRequest, signature: str) -> bool:
        if len(request.context["timestamp"]) != 16:
            return False
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        return hmac.compare_digest(expected, signature)

    @staticmethod
    def _refuse(environ: dict[str, Any], start_response: StartResponse, refusal: Refusal) -> Iterable[bytes]:
        """AWS's error shapes: JSON for the JSON protocols (DynamoDB, SQS), XML for S3."""
        request_id = str(uuid.uuid4())
        if _header(environ, "X-Amz-Target"):
            body = json.dumps({"__type": refusal.code, "message": refusal.message}).encode()
            content_type = "application/x-amz-json-1.0"
        else:
            details = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in refusal.details)
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{refusal.code}</Code><Message>{escape(refusal.message)}</Message>{details}"
                f"<RequestId>{request_id}</RequestId></Error>"
            ).encode()
            content_type = "application/xml"
        if environ.get("REQUEST_METHOD") == "HEAD":
            body = b""
        start_response(
            f"{refusal.status} Forbidden",
            [("Content-Type", content_type), ("Content-Length", str(len(body))), ("x-amz-request-id", request_id)],
        )
        return [body]


def _invalid_access_key(access_key: str) -> Refusal:
    return Refusal(
        403,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
        (("AWSAccessKeyId", access_key),),
    )


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
