"""The sweeper (DESIGN §2): no report stays IN_PROGRESS past its deadline.

Whatever stopped its generation (a crashed process, a lost execution), a report whose deadline
has passed is failed with DEADLINE_EXCEEDED, which also releases its duplicate lock and its
place under the in-progress cap; its leftover parts are removed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from chalicelib.domain.errors import REPORT_ERROR_DESCRIPTIONS, ReportErrorCode
from chalicelib.domain.reports import ReportError
from chalicelib.services.ports import BlobStore, ReportStore
from chalicelib.services.reports import parts_prefix


class Sweeper:
    def __init__(
        self,
        store: ReportStore,
        blobs: BlobStore,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._clock = clock

    def sweep(self) -> list[str]:
        """Fail every overdue report; returns their ids."""
        error = ReportError(
            ReportErrorCode.DEADLINE_EXCEEDED, REPORT_ERROR_DESCRIPTIONS[ReportErrorCode.DEADLINE_EXCEEDED]
        )
        failed = []
        for report in self._store.overdue(self._clock()):
            if self._store.fail(report, [error]):
                failed.append(report.report_id)
            self._blobs.delete(self._blobs.list_keys(parts_prefix(report)))
        return failed
