"""The ports of the console's read API (services/usage.py) and the rollup rating writes beside the
lake (services/rating.py); adapters/usage_rollup.py and adapters/usage_subjects.py implement them.
Beside ports.py, as rating_ports.py is, so that each stays small."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Protocol

from chalicelib.domain.calendar_view import CalendarView
from chalicelib.domain.usage_view import CustomerHistory, RollupRow
from chalicelib.services.ports import DayWritten

if TYPE_CHECKING:
    import pyarrow as pa



class RollupWriter(Protocol):
    """The read API's per-day rollup (adapters/usage_rollup.py), written by rating with each
    day version."""

    def write_day(
        self,
        day: date,
        version: int,
        usage: pa.Table,
        previous_version: int | None = None,
        events: pa.Table | None = None,
    ) -> DayWritten: ...


class UsageReadCalendar(Protocol):
    def view(self, days: Iterable[date]) -> CalendarView:
        """The publications of `days`, the latest published day and the data epoch, in one read."""


class RollupTables(Protocol):
    """Sums and subjects of some orgs over some days (adapters/rollup_tables.py)."""

    def rows(
        self, excluded: Iterable[str] = (), only: Iterable[str] | None = None, by: Iterable[str] = ...
    ) -> list[RollupRow]:
        """(customer, location, subscription, sku, units) rows, summed over the fields not in `by`."""

    def customer_count(self, excluded: Iterable[str] = (), only: Iterable[str] | None = None) -> int: ...

    def subject_count(self, excluded: Iterable[str] = (), only: Iterable[str] | None = None) -> int: ...

    def customers_of_subject(self, subject_type: str, subject_id: str) -> list[str]: ...


class UsageRollupReader(Protocol):
    """The per-day rollup beside the lake (adapters/usage_rollup.py)."""

    def day(self, day: date, version: int, org_ids: Iterable[str]) -> RollupTables: ...

    def days(self, day_versions: Mapping[date, int], org_ids: Iterable[str]) -> RollupTables: ...

    def month(self, month: str, day_versions: Mapping[date, int], org_ids: Iterable[str]) -> RollupTables:
        """A calendar month's sums of the orgs, kept per set of day versions."""

    def period(
        self, months: Mapping[str, Mapping[date, int]], days: Mapping[date, int], org_ids: Iterable[str]
    ) -> RollupTables:
        """Whole months (`YYYY-MM` → its day versions) from their month sums, and single days."""

    def owner_of(
        self, customer_org_id: str, day_versions: Mapping[date, int], org_ids: Iterable[str]
    ) -> str | None: ...


class UsageReadLake(Protocol):
    """One customer's keys through a period (adapters/usage_subjects.py)."""

    def customer_history(
        self,
        day_versions: Mapping[date, int],
        before: tuple[date, int] | None,
        partner_org_id: str,
        customer_org_id: str,
    ) -> CustomerHistory:
        """The keys assigned at the end of `before` (published day, version) and the keys the
        events of each day of `day_versions` touched."""
