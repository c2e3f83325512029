"""The local DynamoDB's speed (DESIGN §8, §9): moto, with its value comparisons made cheap.

moto answers every Query by sorting the whole table (`Table.all_items`) and then the matching
items (`Table.sorted_items`), comparing `DynamoType` objects through Python-level `__eq__` /
`__lt__`, each of which re-derives the value (`cast_value`) through a chain of type tests. With
a partner's 500 reports (and their duplicate locks) that is ~25 000 such comparisons per list
page: most of a list's time. `speed_up()` replaces those with comparisons of the plain values,
which orders and matches exactly as before (moto itself compares `cast_value`s), so what the
service sees is unchanged; only the time is. The local stack's DynamoDB server and the tests'
in-process moto both run with it, so tests exercise what `make run` serves.

Measured (list of 100 of 500 reports, in process): ~125 ms → see `make bench` (api_latency).
"""

from __future__ import annotations

from typing import Any

_PLAIN_TYPES = frozenset({"S", "B", "BOOL"})  # their cast_value is their value
_applied = False


def speed_up() -> None:
    """Patch moto's DynamoDB models in this process (idempotent)."""
    global _applied
    if _applied:
        return
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    derive = DynamoType.cast_value.fget  # type: ignore[attr-defined]

    def cast_value(self: Any) -> Any:
        return self.value if self.type in _PLAIN_TYPES else derive(self)

    def equal(self: Any, other: Any) -> bool:
        return self.type == other.type and cast_value(self) == cast_value(other)

    def less(self: Any, other: Any) -> bool:
        return cast_value(self) < cast_value(other)

    def sort_key(item: Any) -> Any:
        return (cast_value(item.hash_key), cast_value(item.range_key)) if item.range_key else cast_value(item.hash_key)

    def all_items(self: Any) -> list[Any]:
        items: list[Any] = []
        for hash_set in self.items.values():
            if self.range_key_attr:
                items.extend(hash_set.values())
            else:
                items.append(hash_set)
        return sorted(items, key=sort_key)

    def sorted_items(self: Any, hash_key_attrs: list[str], range_key_attrs: list[str | None], items: list[Any]) -> list[Any]:
        attributes = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
        items.sort(key=lambda item: tuple(cast_value(item.attrs[name]) for name in attributes))
        return items

    DynamoType.cast_value = property(cast_value)  # type: ignore[assignment,method-assign]
    DynamoType.__eq__ = equal  # type: ignore[method-assign,assignment]
    DynamoType.__ne__ = lambda self, other: not equal(self, other)  # type: ignore[method-assign,assignment]
    DynamoType.__lt__ = less  # type: ignore[method-assign]
    DynamoType.__hash__ = lambda self: hash((self.type, cast_value(self)))  # type: ignore[method-assign,assignment]
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.sorted_items = sorted_items  # type: ignore[method-assign]
    _applied = True
