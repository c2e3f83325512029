"""What a partner keeps by id besides its reports (webhooks, schedules): read and deleted by its
own org only; any other id (malformed, unknown, another partner's) is the same 404."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from chalicelib.domain.access import Caller
from chalicelib.domain.errors import NotFound


class Kept(Protocol):
    def to_json(self) -> dict[str, Any]: ...


T = TypeVar("T", bound=Kept)
T_co = TypeVar("T_co", bound=Kept, covariant=True)


class KeptStore(Protocol[T_co]):
    """The part of a partner's store that `PartnerKept` needs (`WebhookStore`, `ScheduleStore`)."""

    def get(self, partner_org_id: str, item_id: str) -> T_co | None: ...

    def delete(self, partner_org_id: str, item_id: str) -> bool:
        """False if there was nothing to delete."""


@dataclass(frozen=True)
class PartnerKept(Generic[T]):
    """Get, find and delete one kind of a partner's items: `is_id` tells the ids of the kind (an
    id that is not one is never looked up), `not_found` is its 404's message."""

    store: KeptStore[T]
    is_id: Callable[[str], bool]
    not_found: str

    def get(self, caller: Caller, item_id: str) -> dict[str, Any]:
        caller.require_read()
        return self.find(caller, item_id).to_json()

    def delete(self, caller: Caller, item_id: str) -> None:
        caller.require_write()
        self.find(caller, item_id)
        if not self.store.delete(caller.org_id, item_id):
            raise NotFound(self.not_found)

    def find(self, caller: Caller, item_id: str) -> T:
        """The caller's item; anything else (malformed, unknown, another partner's) is the same 404."""
        item = self.store.get(caller.org_id, item_id) if self.is_id(item_id) else None
        if item is None:
            raise NotFound(self.not_found)
        return item
