"""A small client of the reports API for `wbr reports` (stdlib only: it ships with the package).

It behaves as partners' scripts do: 200 on create (any 2xx is success), 409 means "already exists", 429 is retried
after Retry-After, lists follow `Link: rel="next"`, downloads stream the tempDownloadURL.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from chalicelib.domain.listing import MAX_PAGE_SIZE

BASE_PATH = "/v1/wholesale/billing/reports"
SUB_PARTNERS_PATH = "/v1/wholesale/subPartners"
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


@dataclass
class ApiError(Exception):
    status: int
    body: dict[str, Any]

    def __str__(self) -> str:
        details = "; ".join(error.get("description", "") for error in self.body.get("errors", []))
        message = self.body.get("message", "")
        return f"HTTP {self.status}: {message}" + (f" ({details})" if details and details != message else "")


class ReportsClient:
    def __init__(
        self, base_url: str, token: str, max_429_retries: int = 5, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._max_429_retries = max_429_retries
        self._sleep = sleep

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", BASE_PATH, body)[1]

    def get(self, report_id: str) -> dict[str, Any]:
        return self._call("GET", f"{BASE_PATH}/{report_id}")[1]

    def delete(self, report_id: str) -> None:
        self._call("DELETE", f"{BASE_PATH}/{report_id}")

    def list(self, limit: int | None = None, **filters: str) -> Iterator[dict[str, Any]]:
        """Every matching report (the first `limit` of them, when given), following the
        Link rel="next" pages; `filters` are the list's query parameters (e.g. sortBy, order)."""
        return self._pages(BASE_PATH, limit, filters)

    def sub_partners(self, limit: int | None = None, **filters: str) -> Iterator[dict[str, Any]]:
        """The caller's sub-partners (`GET /v1/wholesale/subPartners`; `filters`: provisioningState),
        every page or the first `limit`."""
        return self._pages(SUB_PARTNERS_PATH, limit, filters)

    def items(self, path: str) -> Iterator[dict[str, Any]]:
        """Every item of another list route (schedules), following Link rel="next"."""
        return self._pages(path, None, {})

    def _pages(self, path: str, limit: int | None, filters: dict[str, str]) -> Iterator[dict[str, Any]]:
        """The items of `path` under `filters`, following Link rel="next" (stopping at `limit`)."""
        if limit is not None:
            filters["max"] = str(min(limit, MAX_PAGE_SIZE))
        query = urlencode({name: value for name, value in filters.items() if value})
        url: str | None = path + (f"?{query}" if query else "")
        left = limit
        while url:
            headers, body = self._call("GET", url)
            items = body.get("items", [])
            if left is not None:
                items, left = items[:left], left - min(left, len(items))
            yield from items
            match = _NEXT_LINK.search(headers.get("Link", "") or "")
            url = match.group(1) if match and left != 0 else None

    def wait(
        self,
        report_id: str,
        poll_seconds: float = 1.0,
        timeout_seconds: float = 3600,
        on_poll: Callable[[dict[str, Any], float], None] = lambda report, elapsed: None,
    ) -> dict[str, Any]:
        """Poll until the report is COMPLETED or FAILED (or the timeout passes)."""
        started = time.monotonic()
        while True:
            report = self.get(report_id)
            elapsed = time.monotonic() - started
            on_poll(report, elapsed)
            if report["status"] != "IN_PROGRESS" or elapsed >= timeout_seconds:
                return report
            self._sleep(poll_seconds)

    def manifest(self, report_id: str) -> dict[str, Any]:
        return self._call("GET", f"{BASE_PATH}/{report_id}/manifest")[1]

    def diff(self, report_id: str, against: str | None = None, revision: int | None = None) -> bytes:
        """The diff as CSV bytes (a large one is a 303 to S3, followed without the token)."""
        return self._call("GET", self._diff_path(report_id, against, revision), accept="text/csv")[1]

    def diff_summary(self, report_id: str, against: str | None = None, revision: int | None = None) -> dict[str, Any]:
        return self._call("GET", self._diff_path(report_id, against, revision))[1]

    @staticmethod
    def _diff_path(report_id: str, against: str | None, revision: int | None) -> str:
        query = urlencode({name: value for name, value in (("against", against), ("revision", revision)) if value})
        return f"{BASE_PATH}/{report_id}/diff?{query}"

    def download(self, report: dict[str, Any], path: str) -> int:
        """Stream the report's CSV to `path`; returns the bytes written."""
        url = report.get("tempDownloadURL")
        if not url:
            raise ValueError(f"report {report.get('id')} has no download URL (status {report.get('status')})")
        written = 0
        with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as out:  # noqa: S310 - https URL from the API
            for chunk in iter(lambda: response.read(1024 * 1024), b""):
                out.write(chunk)
                written += len(chunk)
        return written

    def _call(
        self, method: str, path_or_url: str, body: dict[str, Any] | None = None, accept: str = "application/json"
    ) -> tuple[Any, Any]:
        """One call: the answer's headers and its JSON body (`accept` other than JSON: the raw
        bytes). The token is never sent on to where a redirect points (a presigned URL)."""
        url = path_or_url if path_or_url.startswith("http") else self._base + path_or_url
        data = json.dumps(body).encode() if body is not None else None
        for attempt in range(self._max_429_retries + 1):
            request = urllib.request.Request(url, data=data, method=method)
            request.add_unredirected_header("Authorization", f"Bearer {self._token}")
            request.add_header("Accept", accept)
            if data is not None:
                request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    raw = response.read()
                    if accept != "application/json":
                        return response.headers, raw
                    return response.headers, (json.loads(raw) if raw else {})
            except urllib.error.HTTPError as error:
                raw = error.read()
                try:
                    parsed = json.loads(raw) if raw else {}
                except ValueError:
                    parsed = {"message": raw.decode("utf-8", "replace")[:200]}
                if error.code == 429 and attempt < self._max_429_retries:
                    self._sleep(float(error.headers.get("Retry-After", "5")))
                    continue
                raise ApiError(error.code, parsed) from None
        raise AssertionError("unreachable")
