"""A bounded, thread-safe memory of immutable things read from S3 (a day version's objects never
change: a restatement writes a new version), least recently used forgotten first."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Lru(Generic[V]):
    def __init__(self, entries: int) -> None:
        self._entries = entries
        self._kept: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        with self._lock:
            value = self._kept.get(key)
            if value is not None:
                self._kept.move_to_end(key)
            return value

    def put(self, key: Hashable, value: V) -> V:
        with self._lock:
            self._kept[key] = value
            self._kept.move_to_end(key)
            while len(self._kept) > self._entries:
                self._kept.popitem(last=False)
        return value

    def get_or_read(self, key: Hashable, read: Callable[[], V]) -> V:
        """The kept value, or `read()` kept (two threads may both read: the values are equal)."""
        value = self.get(key)
        return value if value is not None else self.put(key, read())
