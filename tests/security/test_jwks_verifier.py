"""The token verifier as deployed: keys from the identity provider's JWKS URL (ARCHITECTURE.md §2 Auth).

The local stack checks tokens against a PEM key (tests/security/test_auth_matrix.py); in AWS the
verifier fetches a JWKS. Here a JWKS is served on 127.0.0.1 and the same forgeries are tried."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from chalicelib.adapters.jwt_tokens import DevKeyPair, JwtTokenVerifier
from chalicelib.domain.errors import Unauthenticated
from chalicelib.local.demo import DEMO_ADMIN, DEMO_PARTNER
from tests.security.conftest import b64url

ISSUER, AUDIENCE, KID = "https://idbroker.example", "wholesale-billing-reports", "key-1"


def _jwks(keys: DevKeyPair, kid: str) -> bytes:
    public = serialization.load_pem_public_key(keys.public_key_pem())
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
    return json.dumps({"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "RS256"}]}).encode()


@pytest.fixture(scope="module")
def jwks_server(dev_keys: DevKeyPair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Serves /jwks.json (the real keys) and /attacker.json (an attacker's, under the same kid)."""
    attacker = DevKeyPair(tmp_path_factory.mktemp("attacker")).ensure()
    documents = {"/jwks.json": _jwks(dev_keys, KID), "/attacker.json": _jwks(attacker, KID)}
    fetched: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            fetched.append(self.path)
            body = documents.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield {"url": base + "/jwks.json", "attacker_url": base + "/attacker.json", "attacker": attacker,
               "fetched": fetched}
    finally:
        server.shutdown()
        server.server_close()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": DEMO_ADMIN, "org_id": DEMO_PARTNER,
              "scope": "spark-admin:wholesale_billing_reports_read", "iat": now, "nbf": now, "exp": now + 600}
    claims.update(overrides)
    return claims


def _sign(keys: DevKeyPair, claims: dict[str, Any], **headers: Any) -> str:
    return jwt.encode(claims, keys.private_path.read_bytes(), "RS256", headers={"kid": KID, **headers})


def _hs256(secret: bytes) -> str:
    """HS/RS confusion: an HMAC keyed with public material (PyJWT itself refuses to make one)."""
    signing_input = b64url(json.dumps({"alg": "HS256", "kid": KID}).encode()) + "." + b64url(
        json.dumps(_claims()).encode())
    return signing_input + "." + b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


@pytest.fixture
def verifier(jwks_server: dict[str, Any]) -> JwtTokenVerifier:
    return JwtTokenVerifier(ISSUER, AUDIENCE, jwks_url=jwks_server["url"])


def test_a_token_signed_with_the_published_key_is_accepted(verifier: JwtTokenVerifier, dev_keys: DevKeyPair) -> None:
    claims = verifier.verify(_sign(dev_keys, _claims()))
    assert claims["org_id"] == DEMO_PARTNER and claims["sub"] == DEMO_ADMIN


FORGERIES: dict[str, Callable[[DevKeyPair, dict[str, Any]], str]] = {
    "attacker's key under the published kid": lambda keys, server: _sign(server["attacker"], _claims()),
    "attacker's key announced by jku": lambda keys, server: _sign(server["attacker"], _claims(),
                                                                  jku=server["attacker_url"]),
    "attacker's key shipped as jwk": lambda keys, server: _sign(
        server["attacker"], _claims(), jwk=json.loads(server["attacker_jwk"])),
    "unknown kid": lambda keys, server: _sign(keys, _claims(), kid="key-2"),
    "alg none": lambda keys, server: (b64url(json.dumps({"alg": "none", "kid": KID}).encode()) + "."
                                      + b64url(json.dumps(_claims()).encode()) + "."),
    "HS256 keyed with the published JWKS": lambda keys, server: _hs256(server["jwks_text"].encode()),
    "HS256 keyed with the published key as PEM": lambda keys, server: _hs256(keys.public_key_pem()),
    "expired": lambda keys, server: _sign(keys, _claims(exp=int(time.time()) - 120)),
    "not yet valid": lambda keys, server: _sign(keys, _claims(nbf=int(time.time()) + 3600)),
    "wrong issuer": lambda keys, server: _sign(keys, _claims(iss="https://evil.example")),
    "wrong audience": lambda keys, server: _sign(keys, _claims(aud="another-api")),
    "no org_id": lambda keys, server: _sign(keys, {k: v for k, v in _claims().items() if k != "org_id"}),
}


@pytest.mark.parametrize("name", FORGERIES)
def test_forged_tokens_are_refused(verifier: JwtTokenVerifier, dev_keys: DevKeyPair, jwks_server: dict[str, Any],
                                   name: str) -> None:
    attacker_public = serialization.load_pem_public_key(jwks_server["attacker"].public_key_pem())
    server = {**jwks_server, "attacker_jwk": jwt.algorithms.RSAAlgorithm.to_jwk(attacker_public),
              "jwks_text": _jwks(dev_keys, KID).decode()}
    token = FORGERIES[name](dev_keys, server)
    with pytest.raises(Unauthenticated):
        verifier.verify(token)
    assert "/attacker.json" not in jwks_server["fetched"], "the verifier fetched a key the token pointed to"


def test_the_hs256_confusion_token_is_well_formed(dev_keys: DevKeyPair) -> None:
    """The control of the HS256 cases: the forgery is a valid HMAC token under the public key, so
    only the verifier's algorithm policy stops it."""
    secret = dev_keys.public_key_pem()
    header, payload, signature = _hs256(secret).split(".")
    expected = hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert b64url(expected) == signature
