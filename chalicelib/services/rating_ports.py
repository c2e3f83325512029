"""What rating's table work (the `DayReplay` port of services/ports.py) hands the rating
service: the keys a day's events touch, with their events in replay order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.domain.events import KEY_FIELDS, Key

if TYPE_CHECKING:
    import pyarrow as pa

ReplayEvent = tuple[int, str, str]  # (occurred_at, event_id, event_type)
_WIDTH = len(KEY_FIELDS)


@dataclass(frozen=True)
class TouchedKeys:
    """A day's events split against the state the day starts from (`DayReplay.touched`)."""

    untouched: pa.Table  # state rows (KEY_FIELDS + assigned_since) no event of the day touches
    open_before: dict[Key, int | None]  # touched keys open at midnight → since when
    walked: list[tuple]  # (*key, occurred_at, event_id, event_type) of touched keys, replay order

    def keys(self) -> Iterator[tuple[Key, list[ReplayEvent]]]:
        """Each touched key with its events, in replay order."""
        start = 0
        while start < len(self.walked):
            key = self.walked[start][:_WIDTH]
            end = start
            while end < len(self.walked) and self.walked[end][:_WIDTH] == key:
                end += 1
            yield key, [row[_WIDTH:] for row in self.walked[start:end]]
            start = end
