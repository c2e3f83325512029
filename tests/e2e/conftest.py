"""An HTTP client that goes through the same local API Gateway emulation as `wbr dev`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.config import Config
from chalice.local import LocalGatewayException

from chalicelib.api.gateway import WebexLocalGateway


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        lowered = {key.lower(): value for key, value in self.headers.items()}
        return lowered.get(name.lower())


class ApiClient:
    def __init__(self, token: str | None = None) -> None:
        import app as app_module

        self._gateway = WebexLocalGateway(app_module.app, Config.create(chalice_stage="local"))
        self.token = token

    def request(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
                token: str | None = None, raw: bytes | None = None) -> HttpResponse:
        sent = {"host": "testserver"}
        bearer = token if token is not None else self.token
        if bearer is not None:
            sent["authorization"] = f"Bearer {bearer}"
        if body is not None:
            sent["content-type"] = "application/json"
            raw = json.dumps(body).encode()
        sent.update({key.lower(): value for key, value in (headers or {}).items()})
        try:
            response = self._gateway.handle_request(method=method, path=path, headers=sent, body=raw or b"")
        except LocalGatewayException as error:
            return HttpResponse(error.CODE, dict(error.headers), error.body or b"")
        headers_out = dict(response.get("headers") or {})
        for key, values in (response.get("multiValueHeaders") or {}).items():
            headers_out[key] = ", ".join(values)
        payload = response.get("body") or b""
        return HttpResponse(response["statusCode"], headers_out, payload.encode() if isinstance(payload, str) else payload)

    def get(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> HttpResponse:
        return self.request("POST", path, body=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> HttpResponse:
        return self.request("DELETE", path, **kwargs)


@pytest.fixture
def api(seeded, tokens) -> ApiClient:
    return ApiClient(tokens.mint())
