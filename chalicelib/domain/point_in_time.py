"""Point-in-time reports (ARCHITECTURE.md §3): the allocations open at one instant, counted.

A snapshot, not a period sum: which usage keys are assigned at `asOf`, replayed from a day's
closing state (the keys open at its midnight, and since when) and every later event that
occurred up to `asOf`, by the same rules as rating (ordered by time then eventId, duplicates of
an eventId once; an ASSIGNED while assigned or an UNASSIGNED while not assigned changes
nothing). CUSTOMER rows count the open allocations per (customer, location, subscription, sku);
USER rows are the allocations themselves, QUANTITY 1 each, with the time each began.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from chalicelib.domain.events import KEY_FIELDS, EventType, Key
from chalicelib.domain.proration import MICRO_UNITS_PER_UNIT
from chalicelib.domain.report_columns import WEBEX_COLUMNS, RowFacts
from chalicelib.domain.report_kinds import ReportCategory, ReportType
from chalicelib.domain.report_rows import GROUP_KEYS, RowContext

# Webex's columns of each point-in-time report type, in file order (domain/report_columns.py).
POINT_IN_TIME_COLUMNS: dict[ReportType, tuple[str, ...]] = WEBEX_COLUMNS[ReportCategory.POINT_IN_TIME]

# (key, occurred_at epoch seconds, event_id, event_type) of one assignment event
AssignmentEvent = tuple[Key, int, str, str]


def open_assignments(
    open_at_start: Mapping[Key, int | None], events: Iterable[AssignmentEvent], instant: int
) -> dict[Key, int | None]:
    """The keys assigned at `instant` and since when (None: since before the start, unknown),
    from the keys open at the start and the events after it. Events after `instant` do not
    count; an eventId counts once."""
    is_open = dict(open_at_start)
    seen: set[str] = set()
    for key, occurred_at, event_id, event_type in sorted(
        (event for event in events if event[1] <= instant), key=lambda event: (event[1], event[2])
    ):
        if event_id in seen:
            continue
        seen.add(event_id)
        if event_type == EventType.PACKAGE_ASSIGNED and key not in is_open:
            is_open[key] = occurred_at
        elif event_type == EventType.PACKAGE_UNASSIGNED and key in is_open:
            del is_open[key]
    return is_open


def snapshot_cells(context: RowContext, assignments: Mapping[Key, int | None]) -> list[list[str]]:
    """The report rows (cells in the context's `file_columns` order), sorted by the type's row key:
    QUANTITY counts the allocations of a row; a USER row's ASSIGNED_SINCE is when its began."""
    group = GROUP_KEYS[context.report_type]
    positions = [KEY_FIELDS.index(field) for field in group]
    counts: dict[Key, int] = {}
    since_of: dict[Key, int | None] = {}
    for key, since in assignments.items():
        row_key = tuple(key[position] for position in positions)
        counts[row_key] = counts.get(row_key, 0) + 1
        since_of[row_key] = since
    return [
        context.cells_of(
            RowFacts(
                dict(zip(group, row_key, strict=True)), counts[row_key] * MICRO_UNITS_PER_UNIT, since=since_of[row_key]
            )
        )
        for row_key in sorted(counts)
    ]
