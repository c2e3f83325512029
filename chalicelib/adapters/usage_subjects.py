"""One customer's keys through a period, for the console's read API (DESIGN §12): a customer's
users and the explanation of one subject's quantity.

Never the lake's usage rows: the keys assigned at the start of the period come from the closing
state of the day before (only the state partition that holds the customer), and what happened
after from the rollup's `touched` table of each day (the keys the day's events touched, those
events and the units rating gave them). `domain.usage_view.key_units` walks them through the days
as rating does, so a key's sum is its USER report row.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from chalicelib.domain.events import KEY_FIELDS, Key
from chalicelib.domain.usage_view import CustomerHistory, KeyEvent, TouchedKey


class LakeSubjectReads:
    """`customer_history` over the lake's closing states and the rollup's touched keys."""

    def __init__(self, lake: Any, rollups: Any) -> None:
        self._lake = lake
        self._rollups = rollups

    def customer_history(
        self,
        day_versions: Mapping[date, int],
        before: tuple[date, int] | None,
        partner_org_id: str,
        customer_org_id: str,
    ) -> CustomerHistory:
        """`before`: the published (day, version) the period starts from (None: nothing open)."""
        open_at_start: dict[Key, int | None] = {}
        if before is not None:
            state = self._lake.customer_state(before[0], before[1], partner_org_id, customer_org_id)
            keys = zip(*(state[name].to_pylist() for name in KEY_FIELDS), strict=True)
            open_at_start = dict(zip(keys, state["assigned_since"].to_pylist(), strict=True))
        table = self._rollups.touched(day_versions, partner_org_id, customer_org_id)
        rows: dict[date, dict[Key, tuple[int, list[KeyEvent]]]] = {}
        columns = [table[name].to_pylist() for name in (*KEY_FIELDS, "units", "occurred_at", "event_id", "event_type")]
        width = len(KEY_FIELDS)
        for day, *values in zip(table["usage_date"].to_pylist(), *columns, strict=True):
            key = tuple(values[:width])
            units, occurred_at, event_id, event_type = values[width:]
            entry = rows.setdefault(day, {}).setdefault(key, (units, []))
            entry[1].append((occurred_at, event_id, event_type))
        touched = {
            day: {key: TouchedKey(units, tuple(sorted(events))) for key, (units, events) in keys.items()}
            for day, keys in rows.items()
        }
        return CustomerHistory(open_at_start, touched)
