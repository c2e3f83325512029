"""Test oracles: the plain statements production code is held to, which production itself never
calls. They live here, beside the tests that use them, so that chalicelib/ holds only what runs.

- `aggregate_reference` (with its row, `AggregatedRow`, and `cells`, a row's cells by the
  production naming `RowContext.cells_of`): the reports' aggregation in plain Python, which the
  engine (adapters/report_sql.py) must agree with byte for byte.
- `lock_is_stale`: when a duplicate lock is stale, as domain/lifecycle.py's `duplicate_answer`
  decides it.
- `partition_of`: the lake partition of one customer, the statement of domain/lake_partitions.py's
  cut points.
- `rate_day`: rate one day through the rating service (`RatingService.rate_range` of that day).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from chalicelib.domain.lake_partitions import Partition
from chalicelib.domain.lifecycle import DuplicateAnswer, duplicate_answer
from chalicelib.domain.report_columns import RowFacts
from chalicelib.domain.report_kinds import ReportType
from chalicelib.domain.report_rows import GROUP_KEYS, RowContext
from chalicelib.domain.reports import ReportStatus
from chalicelib.services.rating import RatedDay, RatingService

# ---- report rows --------------------------------------------------------------------------


@dataclass(frozen=True)
class AggregatedRow:
    """One report row before naming: its key values (GROUP_KEYS order) and its usage."""

    key: tuple[str, ...]
    units: int
    first_day: date
    last_day: date


def cells(context: RowContext, row: AggregatedRow) -> list[str]:
    """The row's cells in the context's `file_columns` order."""
    fields = dict(zip(GROUP_KEYS[context.report_type], row.key, strict=True))
    return context.cells_of(RowFacts(fields, row.units, row.first_day, row.last_day))


def aggregate_reference(report_type: ReportType, usage: Iterable[Mapping[str, object]]) -> Iterator[AggregatedRow]:
    """Straightforward pure-Python aggregation of usage rows; the engine must agree with it."""
    keys = GROUP_KEYS[report_type]
    totals: dict[tuple[str, ...], list] = {}
    for record in usage:
        units = int(record["units"])  # type: ignore[call-overload]
        if units <= 0:
            continue
        key = tuple(str(record[field]) for field in keys)
        day = record["usage_date"]
        entry = totals.get(key)
        if entry is None:
            totals[key] = [units, day, day]
        else:
            entry[0] += units
            entry[1] = min(entry[1], day)
            entry[2] = max(entry[2], day)
    for key in sorted(totals):
        units, first, last = totals[key]
        yield AggregatedRow(key, units, first, last)


# ---- the duplicate lock ---------------------------------------------------------------------


def lock_is_stale(holder_status: ReportStatus | None) -> bool:
    """A lock naming a report in `holder_status` (None: gone) that holds no lock in it:
    `release_stale_lock` removes it on its own, the counter untouched (no such report counts)."""
    return duplicate_answer(holder_status) is DuplicateAnswer.NEW


# ---- lake partitions ------------------------------------------------------------------------


def partition_of(partner_org_id: str, customer_org_id: str, starts: Sequence[str]) -> Partition:
    """The partition of a customer of `partner_org_id`, given that org's sorted `starts`
    (`cut_points`): the last start at or before the customer id."""
    return Partition(partner_org_id, starts[bisect.bisect_right(starts, customer_org_id) - 1])


# ---- rating ---------------------------------------------------------------------------------


def rate_day(rating: RatingService, day: date) -> RatedDay:
    """Rate `day` alone (the day before it must be rated)."""
    (rated,) = rating.rate_range(day, day)
    return rated
