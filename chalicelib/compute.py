"""DuckDB connections for in-process computation over Arrow data (aggregation, rating).

Sealed: extension install and autoload are off, so nothing is ever downloaded at run time
(DESIGN §5 engine notes); threads are bounded by the caller.
"""

from __future__ import annotations

import duckdb


def sealed_connection(threads: int) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(
        config={"threads": threads, "autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
