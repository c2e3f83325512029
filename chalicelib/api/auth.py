"""The API Gateway custom authorizer: verifies the bearer JWT and passes the caller on.

A bad or missing token never reaches a route: API Gateway answers 401 (in AWS the
GatewayResponses of infra/ give it the Webex error shape; locally `chalicelib/api/gateway.py`).
"""

from __future__ import annotations

from chalice import AuthResponse, Blueprint

from chalicelib.bootstrap import get_container
from chalicelib.domain.access import Caller
from chalicelib.domain.errors import Unauthenticated
from chalicelib.runtime.observability import logger

auth_api = Blueprint(__name__)


class UnauthorizedToken(Exception):
    """Raised with the message "Unauthorized": API Gateway's signal for a 401."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def bearer_token(header_value: str | None) -> str:
    scheme, _, token = (header_value or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip() or len(token) > 8192:
        raise Unauthenticated("The Authorization header must be 'Bearer <token>'")
    return token.strip()


@auth_api.authorizer(name="jwt_authorizer")
def jwt_authorizer(auth_request):  # type: ignore[no-untyped-def]
    try:
        claims = get_container().token_verifier.verify(bearer_token(auth_request.token))
    except Unauthenticated as error:
        logger.info("token refused", extra={"reason": error.message})
        raise UnauthorizedToken() from None
    return AuthResponse(
        routes=["*"],
        principal_id=claims["sub"],
        context={"orgId": claims["org_id"], "personId": claims["sub"], "scope": str(claims.get("scope", ""))},
    )


def caller_from(request_context: dict) -> Caller:
    authorizer = request_context.get("authorizer") or {}
    if not authorizer.get("orgId"):
        raise Unauthenticated("The request requires a valid access token")
    return Caller.from_claims(authorizer["orgId"], authorizer.get("personId", ""), authorizer.get("scope", ""))
