"""The in-process engine: DuckDB connections for computation over Arrow data (report rows in
`report_sql.py`, a day's replay in `rating_sql.py`), and the Arrow schema of a rating state,
which rating writes and the lake and point-in-time reports read.

Sealed: extension install and autoload are off, so nothing is ever downloaded at run time
(ARCHITECTURE.md §4 engine notes); threads are bounded by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable

import duckdb
import pyarrow as pa

from chalicelib.domain.events import KEY_FIELDS

# A day's closing state: the keys assigned at midnight and since when (epoch seconds; null in a
# state written before the column existed).
STATE_SCHEMA = pa.schema([*((name, pa.string()) for name in KEY_FIELDS), ("assigned_since", pa.int64())])


def sql_literal(text: str) -> str:
    """A SQL string literal of `text` (quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def sql_literals(texts: Iterable[str]) -> str:
    return ", ".join(sql_literal(text) for text in texts)


def sealed_connection(threads: int) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(
        config={"threads": threads, "autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
