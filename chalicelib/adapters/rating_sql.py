"""Rating's table work, in DuckDB and Arrow (beside `report_sql.py`, the reports' own): which keys
a day's events touch and in what order they are replayed, and the day's usage and closing state
as Arrow tables. The rule of one key through one day is the domain's (`domain/rating.py`); the
service (`services/rating.py`) walks the touched keys through it.

- Events are deduplicated by `event_id` (a redelivered event counts once).
- A key the day's events never touch stays as it was: assigned all day if open at midnight
  (1 000 000 micro-units, `MICRO_UNITS_PER_UNIT`), its `assigned_since` kept.
- Touched keys are replayed in key order, each key's events by time, then event id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from chalicelib.adapters.engine import STATE_SCHEMA, sealed_connection
from chalicelib.domain.events import KEY_FIELDS, Key
from chalicelib.domain.proration import MICRO_UNITS_PER_UNIT
from chalicelib.domain.rating import KeyDay
from chalicelib.services.rating_ports import TouchedKeys

_KEYS = ", ".join(KEY_FIELDS)
_KEY_SEPARATOR = "\x1f"  # joins a key's fields into one string (ids never hold it)


def _joined_key(table: pa.Table) -> pa.ChunkedArray:
    """Each row's usage key as one string, for set membership in Arrow."""
    return pc.binary_join_element_wise(*(table[name] for name in KEY_FIELDS), _KEY_SEPARATOR)


class DuckDbDayReplay:
    def __init__(self, threads: int = 2) -> None:
        self._threads = threads

    @staticmethod
    def empty_state() -> pa.Table:
        """The state before the first day with events: nothing open."""
        return STATE_SCHEMA.empty_table()

    def touched(self, state: pa.Table, events: pa.Table) -> TouchedKeys:
        connection = sealed_connection(self._threads)
        try:
            connection.register("state", state)
            connection.register("events", events)
            connection.execute(
                f"CREATE TEMP TABLE day_events AS SELECT DISTINCT ON (event_id) {_KEYS}, occurred_at, event_id, "
                "event_type FROM events"
            )
            touched_keys = connection.sql(f"SELECT DISTINCT {_KEYS} FROM day_events").to_arrow_table()
            walked = connection.sql(
                f"SELECT {_KEYS}, occurred_at, event_id, event_type FROM day_events "
                f"ORDER BY {_KEYS}, occurred_at, event_id"
            ).fetchall()
        finally:
            connection.close()
        # The state's rows keep their order (a filter, not a join): equal inputs give the lake
        # equal partitions, which a restatement then keeps (usage_lake.py compares hashes).
        is_touched = pc.is_in(_joined_key(state), value_set=_joined_key(touched_keys))
        untouched = state.filter(pc.invert(is_touched)).select([*KEY_FIELDS, "assigned_since"])
        before = state.filter(is_touched)
        open_before = {
            tuple(row[:-1]): row[-1]
            for row in zip(*(before[name].to_pylist() for name in (*KEY_FIELDS, "assigned_since")), strict=True)
        }
        return TouchedKeys(untouched, open_before, walked)

    @staticmethod
    def tables(day: date, touched: TouchedKeys, rated: Sequence[tuple[Key, KeyDay]]) -> tuple[pa.Table, pa.Table]:
        """The day's usage (`usage_date`, KEY_FIELDS, `units`; keys with units only) and its
        closing state (the keys open at the end of the day and since when)."""
        usage_keys = [key for key, result in rated if result.units]
        usage_units = [result.units for _, result in rated if result.units]
        still_open = [(key, result) for key, result in rated if result.assigned_at_end]
        walked_usage = {name: [key[i] for key in usage_keys] for i, name in enumerate(KEY_FIELDS)}
        walked_state: dict[str, list] = {name: [key[i] for key, _ in still_open] for i, name in enumerate(KEY_FIELDS)}
        walked_state["assigned_since"] = [
            result.opened_at if result.opened_at is not None else touched.open_before.get(key)
            for key, result in still_open
        ]
        untouched_keys = touched.untouched.select(KEY_FIELDS)
        usage = pa.concat_tables(
            [
                untouched_keys.append_column(
                    "units", pa.array([MICRO_UNITS_PER_UNIT] * touched.untouched.num_rows, pa.int64())
                ),
                pa.table(
                    {**walked_usage, "units": pa.array(usage_units, pa.int64())},
                    schema=untouched_keys.schema.append(pa.field("units", pa.int64())),
                ),
            ]
        )
        usage = usage.add_column(0, "usage_date", pa.array([day] * usage.num_rows, pa.date32()))
        new_state = pa.concat_tables(
            [touched.untouched.cast(STATE_SCHEMA), pa.table(walked_state, schema=STATE_SCHEMA)]
        )
        return usage, new_state
