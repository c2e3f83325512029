"""The in-process HTTP client and its `api` fixture live in tests/conftest.py (shared with
tests/contract); re-exported here for the tests that import them from this module."""

from tests.conftest import ApiClient, HttpResponse

__all__ = ["ApiClient", "HttpResponse"]
