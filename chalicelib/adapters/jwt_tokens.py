"""Bearer token verification (RS256/ES256 JWTs) and the local development key pair.

In AWS the keys come from the identity provider's JWKS URL; in local mode from a key pair that
`wbr dev` creates under `.local/`, with which `wbr token` mints tokens.
"""

from __future__ import annotations

import math
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.domain.errors import Unauthenticated

ALLOWED_ALGORITHMS = ["RS256", "ES256"]
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub", "org_id"]
# RFC 7519 NumericDate claims: a JSON number when present (PyJWT alone takes "1767225600" too).
TIME_CLAIMS = ("exp", "nbf", "iat")
CLOCK_SKEW_SECONDS = 30


class JwtTokenVerifier:
    """Verifies signature, algorithm, exp/nbf, issuer and audience; returns the claims."""

    def __init__(
        self, issuer: str, audience: str, *, public_key_pem: bytes | None = None, jwks_url: str | None = None
    ) -> None:
        if not public_key_pem and not jwks_url:
            raise ValueError("a public key or a JWKS URL is required")
        self._issuer = issuer
        self._audience = audience
        self._public_key = serialization.load_pem_public_key(public_key_pem) if public_key_pem else None
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600) if jwks_url else None

    def verify(self, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in ALLOWED_ALGORITHMS:
                raise Unauthenticated("The access token uses an algorithm that is not accepted")
            key: Any = self._public_key
            if self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
            claims = jwt.decode(
                token,
                key,
                algorithms=ALLOWED_ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                leeway=CLOCK_SKEW_SECONDS,
                options={"require": REQUIRED_CLAIMS},
            )
        except Unauthenticated:
            raise
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("The access token has expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthenticated("The access token is not valid yet") from None
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError):
            raise Unauthenticated("The access token is invalid") from None
        if not all(_is_numeric_date(claims[name]) for name in TIME_CLAIMS if name in claims):
            raise Unauthenticated("The access token's exp, nbf and iat claims must be numbers")
        if not all(isinstance(claims.get(name), str) and claims[name].strip() for name in ("org_id", "sub")):
            raise Unauthenticated("The access token lacks its org_id or sub claim")
        return claims


def _is_numeric_date(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class DevKeyPair:
    """The local stack's RSA key pair (created on first use) and a token minter."""

    def __init__(self, directory: Path) -> None:
        self.private_path = directory / "dev-jwt-private.pem"
        self.public_path = directory / "dev-jwt-public.pem"

    def ensure(self) -> DevKeyPair:
        if not self.private_path.exists() or not self.public_path.exists():
            self.private_path.parent.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.private_path.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            self.private_path.chmod(0o600)
            self.public_path.write_bytes(
                key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
            )
        return self

    def public_key_pem(self) -> bytes:
        return self.ensure().public_path.read_bytes()

    def mint(
        self,
        *,
        issuer: str,
        audience: str,
        org_id: str,
        subject: str,
        scopes: list[str],
        ttl_seconds: int = 12 * 3600,
        now: float | None = None,
    ) -> str:
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": issuer,
            "aud": audience,
            "sub": subject,
            "org_id": org_id,
            "scope": " ".join(scopes),
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_seconds,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.ensure().private_path.read_bytes(), algorithm="RS256")
