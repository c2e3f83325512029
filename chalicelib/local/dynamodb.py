"""The local DynamoDB's speed (ARCHITECTURE.md §8; docs/FIGURES.md): moto, with its value comparisons made cheap.

moto answers every Query by sorting the whole table (`Table.all_items`) and then the matching
items (`Table.sorted_items`), comparing `DynamoType` objects through Python-level `__eq__` /
`__lt__`, each of which re-derives the value (`cast_value`) through a chain of type tests. With
a partner's 500 reports (and their duplicate locks) that is ~25 000 such comparisons per list
page: most of a list's time. `speed_up()` replaces those with comparisons of the plain values,
which orders and matches exactly as before (moto itself compares `cast_value`s), so what the
service sees is unchanged; only the time is. The local stack's DynamoDB server and the tests'
in-process moto both run with it, so tests exercise what `make run` serves.

Measured (list of 100 of 500 reports, in process): ~125 ms → see `make bench` (api_latency).
TransactWriteItems gets the same treatment (`_copy_each_table_once_per_transaction`).

One operation at a time (`_one_operation_at_a_time`): moto's backend is not thread-safe. A
refused transaction puts back the table *as it was when the transaction began*, so a write that
another thread made meanwhile (a report worker marking its report COMPLETED while a duplicate
create is refused) vanished, or kept its item and lost its stream record (its webhook never
sent); copying a table while another thread writes to it raised. DynamoDB applies each call
atomically; the local one now does too, by holding one lock per call (the GIL already lets only
one of them run at a time, so nothing is slower).

Streams (issue 23): moto cancels a refused transaction by putting back a copy of each table it
touched, and the copy carries a new stream shard object; a shard iterator handed out before holds
the old one, which keeps the refused writes' records and never gets another. The rollback keeps
the live shard (`_keep_the_stream_across_rollbacks`), cut back to the records of the restored
table, so every reader goes on, and no record of a refused write is ever read, as on AWS.
"""

from __future__ import annotations

import threading
from typing import Any

_PLAIN_TYPES = frozenset({"S", "B", "BOOL"})  # their cast_value is their value
_applied = False
_transaction = threading.local()


def _copy_each_table_once_per_transaction() -> None:
    """moto's TransactWriteItems deep-copies the whole table once per item of the transaction
    (its rollback state), before applying any: a create (report, lock, counter, list postings)
    copied a partner's table nine times. The copies are all of the same, unchanged table, so one
    per table and transaction gives the same rollback state."""
    import copy as real_copy

    from moto.dynamodb import models

    class _OncePerTransaction:
        def __getattr__(self, name: str) -> Any:
            return getattr(real_copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            copies = getattr(_transaction, "copies", None)
            if copies is None or not isinstance(value, models.Table):
                return real_copy.deepcopy(value, memo)
            if id(value) not in copies:
                copies[id(value)] = real_copy.deepcopy(value, memo)
            return copies[id(value)]

    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        _transaction.copies = {}
        live = dict(self.tables)
        try:
            return original(self, transact_items)
        finally:
            _transaction.copies = None
            _keep_the_stream_across_rollbacks(self.tables, live)

    models.copy = _OncePerTransaction()  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _keep_the_stream_across_rollbacks(tables: dict[str, Any], live: dict[str, Any]) -> None:
    """A table that a rollback replaced by its copy keeps its stream shard object (what every
    iterator points to), holding the copy's records: the rolled-back writes' records are dropped,
    and the next record gets the next sequence number, as if the refused transaction never ran."""
    for name, table in tables.items():
        before = live.get(name)
        if before is None or before is table:
            continue
        shard, restored = before.stream_shard, table.stream_shard
        if shard is None or restored is None or shard.id != restored.id:
            continue
        shard.items = restored.items
        shard.table = table
        table.stream_shard = shard


_operation = threading.RLock()


def _one_operation_at_a_time() -> None:
    """Every public call of moto's DynamoDB and DynamoDB Streams backends holds one lock (see the
    module's docstring)."""
    import functools
    import inspect

    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    def serialized(method: Any) -> Any:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            with _operation:
                return method(*args, **kwargs)

        return call

    for backend in (DynamoDBBackend, DynamoDBStreamsBackend):
        for name, member in list(vars(backend).items()):
            if not name.startswith("_") and inspect.isfunction(member):  # not static, class methods
                setattr(backend, name, serialized(member))


def _bound_shard_iterators(limit: int = 10_000) -> None:
    """moto keeps every shard iterator it ever handed out (a poller gets one per read: megabytes
    an hour); AWS lets them expire after 15 minutes. Keep the latest `limit`."""
    from moto.dynamodbstreams import models

    class _Latest(dict[str, Any]):
        def __setitem__(self, key: Any, value: Any) -> None:
            super().__setitem__(key, value)
            while len(self) > limit:
                del self[next(iter(self))]

    original = models.DynamoDBStreamsBackend.__init__

    def __init__(self: Any, region_name: str, account_id: str) -> None:
        original(self, region_name, account_id)
        self.shard_iterators = _Latest()

    models.DynamoDBStreamsBackend.__init__ = __init__  # type: ignore[method-assign]


def _copy_and_size_scalars_directly() -> None:
    """A Query copies every item it read (and sizes it, for the 1 MB page limit) before its
    FilterExpression drops any: per attribute through `copy.deepcopy` and a chain of type tests.
    Strings, numbers, booleans and nulls are copied and sized directly (same copy, same size);
    lists, maps, sets and binaries as before."""
    import copy as real_copy

    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    derive_size = DynamoType.size

    def size(self: Any) -> int:
        kind = self.type
        if kind == "S":
            return len(self.value.encode("utf-8"))
        if kind == "N":
            return len(str(self.value))
        if kind in ("BOOL", "NULL"):
            return 1
        return derive_size(self)

    def copy_value(value: Any, memo: dict[int, Any]) -> Any:
        if value.type in ("S", "N", "BOOL", "NULL"):
            copied = DynamoType.__new__(DynamoType)
            copied.type, copied.value = value.type, value.value
            return copied
        return real_copy.deepcopy(value, memo)

    def copy_item(self: Any, memo: dict[int, Any]) -> Any:
        if id(self) in memo:
            return memo[id(self)]
        result: Any = Item.__new__(Item)
        memo[id(self)] = result
        result.hash_key = real_copy.deepcopy(self.hash_key, memo)
        result.range_key = real_copy.deepcopy(self.range_key, memo)
        attributes = LimitedSizeDict.__new__(LimitedSizeDict)
        dict.__init__(attributes)
        for key, value in self.attrs.items():
            dict.__setitem__(attributes, key, copy_value(value, memo))
        result.attrs = attributes
        return result

    def item_size(self: Any) -> int:
        return sum(bytesize(key) + value.size() for key, value in self.attrs.items())

    DynamoType.size = size  # type: ignore[method-assign]
    Item.__deepcopy__ = copy_item  # type: ignore[method-assign]
    Item.size = item_size  # type: ignore[method-assign]


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

    def sorted_items(
        self: Any, hash_key_attrs: list[str], range_key_attrs: list[str | None], items: list[Any]
    ) -> list[Any]:
        attributes = self._generate_attr_to_sort_by(hash_key_attrs, range_key_attrs)
        items.sort(key=lambda item: tuple(cast_value(item.attrs[name]) for name in attributes))
        return items

    _copy_each_table_once_per_transaction()
    _one_operation_at_a_time()
    _bound_shard_iterators()
    _copy_and_size_scalars_directly()
    DynamoType.cast_value = property(cast_value)  # type: ignore[assignment,method-assign]
    DynamoType.__eq__ = equal  # type: ignore[method-assign]
    DynamoType.__ne__ = lambda self, other: not equal(self, other)  # type: ignore[method-assign]
    DynamoType.__lt__ = less  # type: ignore[method-assign]
    DynamoType.__hash__ = lambda self: hash((self.type, cast_value(self)))  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]
    Table.sorted_items = sorted_items  # type: ignore[method-assign]
    _applied = True
