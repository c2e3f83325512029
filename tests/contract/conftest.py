"""Fixtures of the Webex client contract tests: the SDK's requests through the in-process gateway,
and the machine time zone the SDK serializes dates in."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import ApiClient
from tests.contract.webex_sdk import request_headers

SDK_BASE_URL = "http://testserver"  # the Host the in-process client sends


def sdk_request(api: ApiClient, method: str, url: str, params: Mapping[str, Any] | None = None,
                json_body: Any = None) -> tuple[int, Mapping[str, str], str]:
    """One request as `RestSession._request_w_response` makes it (its headers; requests' encoding
    of `params=` and `json=`), answered by the API through the local gateway."""
    prepared = requests.Request(method, url, params=params, json=json_body,
                                headers=request_headers(api.token or "")).prepare()
    parts = urlsplit(prepared.url)
    assert f"{parts.scheme}://{parts.netloc}" == SDK_BASE_URL, prepared.url
    body = prepared.body if isinstance(prepared.body, bytes) else (prepared.body or "").encode()
    response = api.request(method, parts.path + (f"?{parts.query}" if parts.query else ""),
                           headers=dict(prepared.headers), raw=body)
    return response.status, response.headers, response.body.decode()


@pytest.fixture
def sdk_fetch(api: ApiClient) -> Callable[[str, Any], tuple[int, Mapping[str, str], str]]:
    """`fetch(url, params)` for `webex_sdk.follow_pagination`, in process."""
    return lambda url, params: sdk_request(api, "GET", url, params)


@pytest.fixture
def machine_zone() -> Iterator[Callable[[str], None]]:
    """Switch the process's local time zone (a POSIX TZ string, no tz database needed), as if the
    SDK ran on a machine there; restored afterwards."""
    saved = os.environ.get("TZ")

    def switch(posix_tz: str) -> None:
        os.environ["TZ"] = posix_tz
        time.tzset()

    yield switch
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()
