"""The error hierarchy of the service and the numbered report error codes.

Services raise these; `chalicelib/api/errors.py` is the one place that maps them to HTTP.
"""

from __future__ import annotations

from enum import IntEnum


class ReportErrorCode(IntEnum):
    """Codes carried by FAILED reports in `errors[].code` (integers, as Webex clients parse them)."""

    DATA_NOT_AVAILABLE = 1001
    GENERATION_FAILED = 1002
    DEADLINE_EXCEEDED = 1003


REPORT_ERROR_DESCRIPTIONS: dict[ReportErrorCode, str] = {
    ReportErrorCode.DATA_NOT_AVAILABLE: "Usage data for the billing period is not available yet.",
    ReportErrorCode.GENERATION_FAILED: "The report could not be generated.",
    ReportErrorCode.DEADLINE_EXCEEDED: "The report did not complete before its deadline.",
}


# The one answer to any path id that does not name one of the caller's reports (ARCHITECTURE.md §2).
REPORT_NOT_FOUND = "Billing Report not found"


class ServiceError(Exception):
    """Base of every error the API turns into a 4xx. `problems` name each thing that is wrong."""

    status = 500

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.problems = problems or [message]


class InvalidRequest(ServiceError):
    status = 400


class Unauthenticated(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class ReportExists(Conflict):
    """An identical report is COMPLETED already (`report_id`): a create is refused, a schedule
    adopts it."""

    def __init__(self, message: str, report_id: str) -> None:
        super().__init__(message)
        self.report_id = report_id


class PayloadTooLarge(ServiceError):
    status = 413


class UnsupportedMediaType(ServiceError):
    status = 415


class TooManyRequests(ServiceError):
    status = 429

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ReportGone(Exception):
    """The report a worker step was working on no longer exists at its revision (deleted)."""


class DataNotAvailable(Exception):
    """Usage for some day of the period was not published before the data deadline."""


class Throttled(Exception):
    """A dependency throttled us; the workflow retries the step with backoff."""


class LakeIncomplete(Exception):
    """A published day's usage object is missing, or holds other rows than its publication
    recorded: the report fails (GENERATION_FAILED, naming the day), never shows a silent zero."""
