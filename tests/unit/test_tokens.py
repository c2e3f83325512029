"""Token verification: what the authorizer accepts and refuses (ARCHITECTURE.md §2 Auth)."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from chalicelib.adapters.jwt_tokens import DevKeyPair, JwtTokenVerifier
from chalicelib.domain.errors import Unauthenticated

ISSUER, AUDIENCE = "https://idp.test", "wbr"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return DevKeyPair(tmp_path_factory.mktemp("k")).ensure()


@pytest.fixture(scope="module")
def verifier(keys):
    return JwtTokenVerifier(ISSUER, AUDIENCE, public_key_pem=keys.public_key_pem())


def mint(keys, **overrides):
    arguments = {"issuer": ISSUER, "audience": AUDIENCE, "org_id": "org", "subject": "person", "scopes": ["s"]}
    arguments.update(overrides)
    return keys.mint(**arguments)


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def test_valid_token_gives_its_claims(keys, verifier):
    claims = verifier.verify(mint(keys))
    assert claims["org_id"] == "org" and claims["sub"] == "person" and claims["scope"] == "s"


@pytest.mark.parametrize(
    "overrides",
    [{"ttl_seconds": -3600}, {"audience": "other"}, {"issuer": "https://evil"}, {"now": time.time() + 3600}],
    ids=["expired", "wrong-audience", "wrong-issuer", "not-yet-valid"],
)
def test_bad_claims_are_refused(keys, verifier, overrides):
    with pytest.raises(Unauthenticated):
        verifier.verify(mint(keys, **overrides))


def test_alg_none_is_refused(verifier):
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "p", "org_id": "o", "exp": int(time.time()) + 600}
    token = _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + "."
    with pytest.raises(Unauthenticated):
        verifier.verify(token)


def test_hs256_signed_with_the_public_key_is_refused(keys, verifier):
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "p", "org_id": "o", "exp": int(time.time()) + 600}
    header = _b64({"alg": "HS256", "typ": "JWT"})
    body = _b64(claims)
    import hashlib
    import hmac

    signature = hmac.new(keys.public_key_pem(), f"{header}.{body}".encode(), hashlib.sha256).digest()
    token = f"{header}.{body}." + base64.urlsafe_b64encode(signature).decode().rstrip("=")
    with pytest.raises(Unauthenticated):
        verifier.verify(token)


def test_token_signed_by_another_key_is_refused(verifier):
    other = ec.generate_private_key(ec.SECP256R1())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "p", "org_id": "o", "exp": int(time.time()) + 600}
    with pytest.raises(Unauthenticated):
        verifier.verify(jwt.encode(claims, other, algorithm="ES256"))


def test_token_without_org_is_refused(keys, verifier):
    with pytest.raises(Unauthenticated):
        verifier.verify(keys.mint(issuer=ISSUER, audience=AUDIENCE, org_id=None, subject="p", scopes=[]))


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "x" * 10000])
def test_garbage_is_refused(verifier, garbage):
    with pytest.raises(Unauthenticated):
        verifier.verify(garbage)
