"""`GET /v1/wholesale/subPartners` (ARCHITECTURE.md §2.7): the caller's sub-partners from the
directory, paged by offset as Webex pages them (`domain/sub_partners.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.access import Caller
from chalicelib.domain.partners import PartnerTree
from chalicelib.domain.sub_partners import SubPartnerQuery, sub_partners_page
from chalicelib.services.ports import Directory


@dataclass(frozen=True)
class SubPartnerPage:
    items: list[dict[str, Any]]
    next_params: dict[str, str] | None  # the query of the next page, if there is one


class SubPartnerService:
    def __init__(self, directory: Directory) -> None:
        self._directory = directory

    def list(self, caller: Caller, params: Mapping[str, str]) -> SubPartnerPage:
        """Read scope; InvalidRequest for bad parameters (nothing is read then)."""
        caller.require_read()
        query = SubPartnerQuery.from_params(params)
        items, more = sub_partners_page(PartnerTree(self._directory.partners()), caller.org_id, query)
        return SubPartnerPage(items, query.next_params() if more else None)
