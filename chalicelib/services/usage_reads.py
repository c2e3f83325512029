"""What every answer of the console's read API starts from (DESIGN §12): the caller's context
(its tree or one sub-partner's subtree, the customers and SKUs by id, internal customers left out
unless asked for), the calendar's view of the days asked about, a customer's owner (a foreign one
is the same 404 as an unknown one), a customer's keys through a period, and the names written
beside the numbers. services/usage.py answers the routes on top of it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from chalicelib.domain.access import Caller
from chalicelib.domain.calendar_view import CalendarView
from chalicelib.domain.directory import Customer
from chalicelib.domain.errors import Forbidden, InvalidRequest, NotFound
from chalicelib.domain.events import Key
from chalicelib.domain.months import days_between, split_period
from chalicelib.domain.partners import PartnerTree
from chalicelib.domain.regeneration import missing_days
from chalicelib.domain.report_rows import Partner, Sku
from chalicelib.domain.timestamps import iso_millis
from chalicelib.domain.usage_queries import ExplainQuery, Scope
from chalicelib.domain.usage_view import (
    CustomerHistory,
    key_units,
    quantity_and_seats,
)
from chalicelib.services.ports import DirectorySnapshots
from chalicelib.services.usage_ports import RollupTables, UsageReadCalendar, UsageReadLake, UsageRollupReader

CUSTOMER_NOT_FOUND = "Customer not found"
SUBJECT_NOT_FOUND = "No usage of this subject and SKU in the period"
_READS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="usage-read")  # see UsageReads._read


@dataclass(frozen=True)
class UsagePage:
    body: dict[str, Any]
    next_params: dict[str, str] | None


@dataclass(frozen=True)
class CallerContext:
    partner: Partner
    org_ids: list[str]
    customers: dict[str, Customer]
    skus: dict[str, Sku]
    excluded: frozenset[str]  # internal customers, unless asked for


class UsageReads:
    """The read API's reads and checks shared by its answers (see the module's docstring)."""

    def __init__(
        self,
        directory: DirectorySnapshots,
        calendar: UsageReadCalendar,
        rollups: UsageRollupReader,
        lake: UsageReadLake,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        logger: Any = None,
    ) -> None:
        self._directory = directory
        self._calendar = calendar
        self._rollups = rollups
        self._lake = lake
        self._clock = clock
        self._logger = logger or logging.getLogger(__name__)

    def _today(self) -> date:
        return self._clock().astimezone(timezone.utc).date()

    def _read(self, caller: Caller, scope: Scope, days: list[date]) -> tuple[CallerContext, CalendarView]:
        """The caller's context (the directory) and the calendar's view of `days`, read side by
        side: each is a round trip to its table, and a request needs both."""
        calendar = _READS.submit(self._calendar.view, days)
        try:
            context = self._context(caller, scope)
        finally:
            view = calendar.result()
        return context, view

    def _context(self, caller: Caller, scope: Scope) -> CallerContext:
        directory = self._directory.at(self._directory.pin())
        tree = PartnerTree(directory.partners())
        if tree.get(caller.org_id) is None:
            raise Forbidden("The caller's organization is not a wholesale partner")
        partner = tree.report_scope(caller.org_id, scope.sub_partner_org_id)
        org_ids = tree.subtree(partner.org_id)
        customers = {customer.org_id: customer for customer in directory.customers_of(org_ids)}
        excluded = frozenset() if scope.internal else frozenset(c.org_id for c in customers.values() if c.internal)
        return CallerContext(partner, org_ids, customers, {sku.sku: sku for sku in directory.skus()}, excluded)

    def _owner(self, context: CallerContext, customer_org_id: str, versions: Mapping[date, int]) -> str:
        """The org (of the caller's scope) that serves the customer; 404 for anyone else's or
        an unknown id alike. A customer the directory does not know yet is found in the rollup."""
        known = context.customers.get(customer_org_id)
        if known is not None:
            return known.partner_org_id
        owner = self._rollups.owner_of(customer_org_id, versions, context.org_ids)
        if owner is None:
            raise NotFound(CUSTOMER_NOT_FOUND)
        return owner

    def _key_units(
        self, start: date, end: date, view: CalendarView, owner: str, customer: str
    ) -> tuple[dict[Key, dict[date, int]], CustomerHistory]:
        """A customer's keys' units of each published day of [start, end] (up to the first day
        not published), walked from the state the day before the period ended in (`view` holds
        the days and the day before)."""
        versions = view.versions
        days = []
        for day in days_between(start, end):
            if day not in versions:
                break
            days.append(day)
        previous = start - timedelta(days=1)
        before = view.publications.get(previous)
        history = self._lake.customer_history(
            {day: versions[day] for day in days}, (previous, before[0]) if before else None, owner, customer
        )
        return key_units(days, history.open_at_start, history.touched), history

    def _customer_of_subject(self, query: ExplainQuery, versions: Mapping[date, int], context: CallerContext) -> str:
        tables = self._period(query.start, query.end, versions, context.org_ids)
        customers = tables.customers_of_subject(query.subject.subject_type, query.subject.subject_id)
        if not customers:
            raise NotFound(SUBJECT_NOT_FOUND)
        if len(customers) > 1:
            raise InvalidRequest(
                "The subject has usage at more than one customer; name one",
                [f"customerOrgId: one of {', '.join(customers)}"],
            )
        return customers[0]

    def _period(self, start: date, end: date, versions: Mapping[date, int], org_ids: list[str]) -> RollupTables:
        """The rollup of [start, end]: whole months from their month sums, other days as they are."""
        months, loose = split_period(start, end)
        return self._rollups.period(
            {str(month): {d: versions[d] for d in month.days() if d in versions} for month in months},
            {day: versions[day] for day in loose if day in versions},
            org_ids,
        )

    def _freshness(self, days: list[date], view: CalendarView) -> dict[str, Any]:
        latest = view.latest_published_day
        publications = view.of(days)
        published = {day: (version, rows) for day, (version, rows, _) in publications.items()}
        missing = missing_days(days, published, view.data_epoch)
        changed = [published_at for _, _, published_at in publications.values() if published_at]
        return {
            "publishedThrough": latest.isoformat() if latest else None,
            "complete": not missing,
            "lastChanged": iso_instant(max(changed)) if changed else None,
        }

    @staticmethod
    def _totals_json(units: int, days: int, customers: int, users: int) -> dict[str, Any]:
        return {**quantity_and_seats(units, days), "customers": customers, "users": users}

    @staticmethod
    def _sku_names(context: CallerContext, sku: str) -> dict[str, str]:
        known = context.skus.get(sku)
        return {"serviceName": known.service_name if known else "", "description": known.description if known else ""}

    @staticmethod
    def _customer_names(context: CallerContext, customer_org_id: str) -> dict[str, Any]:
        known = context.customers.get(customer_org_id)
        return {
            "customerOrgId": customer_org_id,
            # the directory keeps no display name for a customer yet: the console shows the id
            "customerName": getattr(known, "name", None) or None,
            "customerExternalId": known.external_id if known else "",
            "internal": known.internal if known else False,
        }


def iso_seconds(epoch_seconds: int) -> str:
    return datetime.fromtimestamp(epoch_seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_instant(published_at: str) -> str:
    """A stored ISO-8601 instant as the API writes instants (UTC, milliseconds)."""
    return iso_millis(datetime.fromisoformat(published_at))
