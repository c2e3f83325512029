"""CreateTable arguments shared by the service's tables (each adapter defines its own table), and the
capped counter item some of them keep per partner."""

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


def counter_update(table_name: str, key: dict[str, Any], attribute: str, delta: int, cap: int | None) -> dict[str, Any]:
    """A transaction's Update of a counter item: `attribute` += `delta`, on condition (when `cap`
    is given) that it is below `cap`, so concurrent creates never pass the cap."""
    update: dict[str, Any] = {
        "TableName": table_name,
        "Key": key,
        "UpdateExpression": f"ADD {attribute} :delta",
        "ExpressionAttributeValues": {
            ":delta": {"N": str(delta)},
            **({":cap": {"N": str(cap)}} if cap is not None else {}),
        },
    }
    if cap is not None:
        update["ConditionExpression"] = f"attribute_not_exists({attribute}) OR {attribute} < :cap"
    return {"Update": update}
