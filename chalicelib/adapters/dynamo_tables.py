"""CreateTable arguments shared by the service's tables (each adapter defines its own table)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def string_keyed_table(
    table_name: str, hash_key: str, range_key: str | None = None, index_keys: Iterable[str] = ()
) -> dict[str, Any]:
    """An on-demand table keyed by string attributes; `index_keys`: the string attributes its
    indexes sort by (defined here, the indexes by the caller)."""
    keys = [(hash_key, "HASH"), *([(range_key, "RANGE")] if range_key else [])]
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in [*(name for name, _ in keys), *index_keys]
        ],
        "KeySchema": [{"AttributeName": name, "KeyType": kind} for name, kind in keys],
    }
