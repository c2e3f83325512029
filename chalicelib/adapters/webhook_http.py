"""Webhook POSTs over HTTP(S) with urllib3 (a dependency of botocore: nothing added), keeping to the
target rules of domain/webhooks.py at the moment of sending.

The host is resolved once per attempt; if any address it resolves to is refused (private,
loopback outside the local stage, link-local, …) nothing is sent. Otherwise the connection goes
to that very address (the name is not resolved a second time, so DNS rebinding between the
check and the connect is no way in), with the name in `Host`, in TLS SNI and in the certificate
check. Redirects are never followed; a 3xx is a failed attempt.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import urllib3

from chalicelib.domain.webhooks import address_problem, host_problem
from chalicelib.services.webhook_ports import SendResult

TIMEOUT_SECONDS = 5.0
MAX_ERROR_LENGTH = 300

Resolver = Callable[..., list[Any]]


class HttpWebhookSender:
    def __init__(
        self,
        allow_loopback: bool,
        resolve: Resolver = socket.getaddrinfo,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._resolve = resolve
        self._timeout = timeout_seconds

    def _addresses(self, host: str, port: int) -> tuple[list[str], list[str]]:
        """(addresses of `host`, problems): no addresses when any of them is refused."""
        problem = host_problem(host, self._allow_loopback)
        if problem:
            return [], [f"targetUrl: {problem}"]
        try:
            infos = self._resolve(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return [], [f"targetUrl: the host {host} does not resolve"]
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            return [], [f"targetUrl: the host {host} does not resolve"]
        refused = [
            f"targetUrl: {host} resolves to {address}, {problem}"
            for address in addresses
            if (problem := address_problem(address.split("%", 1)[0], self._allow_loopback))
        ]
        return ([], refused) if refused else (addresses, [])

    def target_problems(self, url: str) -> list[str]:
        parts = urlsplit(url)
        if not parts.hostname:
            return ["targetUrl: must name a host"]
        return self._addresses(parts.hostname, parts.port or _default_port(parts.scheme))[1]

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or _default_port(parts.scheme)
        addresses, problems = self._addresses(host, port)
        if problems:
            return SendResult(None, "; ".join(problems)[:MAX_ERROR_LENGTH])
        host_header = host if parts.port is None else f"{host}:{parts.port}"
        if ":" in host:
            host_header = f"[{host}]" if parts.port is None else f"[{host}]:{parts.port}"
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        timeout = urllib3.Timeout(connect=self._timeout, read=self._timeout)
        pool: urllib3.HTTPConnectionPool
        if parts.scheme.lower() == "https":
            pool = urllib3.HTTPSConnectionPool(
                addresses[0],
                port,
                timeout=timeout,
                retries=False,
                cert_reqs="CERT_REQUIRED",
                server_hostname=host,
                assert_hostname=host,
            )
        else:
            pool = urllib3.HTTPConnectionPool(addresses[0], port, timeout=timeout, retries=False)
        try:
            response = pool.urlopen(
                "POST",
                path,
                body=body,
                headers={**headers, "Host": host_header},
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=True,
            )
            return SendResult(response.status)
        except urllib3.exceptions.HTTPError as error:
            return SendResult(None, f"{type(error).__name__}: {error}"[:MAX_ERROR_LENGTH])
        finally:
            pool.close()


def _default_port(scheme: str) -> int:
    return 443 if scheme.lower() == "https" else 80
