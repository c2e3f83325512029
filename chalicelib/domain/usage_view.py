"""The console's read API (DESIGN §12): its queries, month arithmetic, seat-equivalents and the
sums of rollup rows into the answer's items. Pure Python: the rollup's rows come in as tuples.

Quantities stay integer micro-units until they are written as text (`format_quantity`, the
reports' QUANTITY). A seat-equivalent is QUANTITY ÷ days in the period, exact half-up to six
decimals (`seat_equivalents`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from typing import Any

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.events import EventType
from chalicelib.domain.periods import LOOKBACK_YEARS, parse_strict_date, years_before
from chalicelib.domain.proration import MICRO_UNITS_PER_UNIT, format_quantity

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_SERIES_MONTHS = 60
DEFAULT_SERIES_MONTHS = 12
MAX_ID_LENGTH = 200
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_INTEGER = re.compile(r"^[0-9]{1,9}$")


class GroupBy(str, Enum):
    SKU = "sku"
    CUSTOMER = "customer"
    USER = "user"


# ---- numbers ------------------------------------------------------------------------------


def seat_equivalents_units(units: int, days: int) -> int:
    """Micro-units ÷ days, rounded half-up to a whole micro-unit (six decimals of a seat)."""
    if days <= 0:
        raise ValueError("a period has at least one day")
    return (2 * units + days) // (2 * days)


def seat_equivalents(units: int, days: int) -> str:
    """QUANTITY ÷ days in the period as decimal text, at most six decimals, half-up."""
    return format_quantity(seat_equivalents_units(units, days))


def quantity_and_seats(units: int, days: int) -> dict[str, str]:
    return {"quantity": format_quantity(units), "seatEquivalents": seat_equivalents(units, days)}


# ---- months -------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def parse(cls, field: str, value: str) -> Month:
        match = _MONTH.match(value)
        if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 1:
            raise InvalidRequest(
                f"{field} must be a month in YYYY-MM format", [f"{field}: expected YYYY-MM, got {value!r}"]
            )
        return cls(int(match.group(1)), int(match.group(2)))

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    @property
    def day_count(self) -> int:
        return self.last_day.day

    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=offset) for offset in range(self.day_count)]

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def back(self, count: int) -> list[Month]:
        """The `count` months ending with this one, oldest first."""
        months = [self]
        while len(months) < count:
            months.append(months[-1].previous())
        return months[::-1]


def last_complete_month(today: date) -> Month:
    """The latest calendar month that is over (UTC): the one before today's."""
    return Month.of(today).previous()


def split_period(start: date, end: date) -> tuple[list[Month], list[date]]:
    """The whole calendar months inside [start, end] and the days left over, in order: what a
    sum over the period reads as cached months plus single days."""
    months: list[Month] = []
    days: list[date] = []
    day = start
    while day <= end:
        month = Month.of(day)
        if day == month.first_day and month.last_day <= end:
            months.append(month)
            day = month.last_day + timedelta(days=1)
        else:
            days.append(day)
            day += timedelta(days=1)
    return months, days


def days_between(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


# ---- queries ------------------------------------------------------------------------------


def _problems_of(parsers: Mapping[str, Any], params: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, parse in parsers.items():
        if name in params:
            try:
                values[name] = parse(name, params[name])
            except InvalidRequest as error:
                problems.extend(error.problems)
    return values, problems


def _unknown(params: Mapping[str, str], known: Iterable[str]) -> list[str]:
    return [f"{name}: not a query parameter of this API" for name in sorted(set(params) - set(known))]


def _parse_id(field: str, value: str) -> str:
    if not value or len(value) > MAX_ID_LENGTH or not value.isprintable():
        raise InvalidRequest(f"{field} is not a valid id", [f"{field}: expected an id of 1-{MAX_ID_LENGTH} characters"])
    return value


def _parse_bool(field: str, value: str) -> bool:
    if value not in ("true", "false"):
        raise InvalidRequest(f"{field} must be true or false", [f"{field}: expected true or false, got {value!r}"])
    return value == "true"


def _parse_int(low: int, high: int) -> Any:
    def parse(field: str, value: str) -> int:
        if not _INTEGER.match(value) or not low <= int(value) <= high:
            raise InvalidRequest(
                f"{field} must be an integer from {low} to {high}", [f"{field}: expected {low}-{high}, got {value!r}"]
            )
        return int(value)

    return parse


def _parse_group(choices: tuple[GroupBy, ...]) -> Any:
    def parse(field: str, value: str) -> GroupBy:
        for choice in choices:
            if value == choice.value:
                return choice
        names = "|".join(choice.value for choice in choices)
        raise InvalidRequest(f"{field} must be one of {names}", [f"{field}: expected {names}, got {value!r}"])

    return parse


def _require(values: Mapping[str, Any], names: Iterable[str], problems: list[str]) -> None:
    problems.extend(f"{name}: required" for name in names if name not in values)


def _period_problems(start: date, end: date, today: date) -> list[str]:
    """A period the read API sums: start <= end, not before five years ago, and not past the
    current month (days not published yet count as nothing; `complete` says so)."""
    problems = []
    if start > end:
        problems.append("billingStartDate must be on or before billingEndDate")
    earliest = years_before(today, LOOKBACK_YEARS)
    if start < earliest:
        problems.append(
            f"billingStartDate must be on or after {earliest.isoformat()} (at most {LOOKBACK_YEARS} years back)"
        )
    if end > Month.of(today).last_day:
        problems.append(f"billingEndDate must be in the current month or before ({Month.of(today)})")
    return problems


@dataclass(frozen=True)
class Scope:
    """Whose usage an answer covers: the caller's tree or one sub-partner's subtree, one
    customer or all, internal customers or not (as reports)."""

    sub_partner_org_id: str | None = None
    customer_org_id: str | None = None
    internal: bool = False


_SCOPE_PARSERS = {"subPartnerOrgId": _parse_id, "customerOrgId": _parse_id, "internal": _parse_bool}


def _scope(values: Mapping[str, Any]) -> Scope:
    return Scope(values.get("subPartnerOrgId"), values.get("customerOrgId"), values.get("internal", False))


def _raise(problems: list[str]) -> None:
    if problems:
        raise InvalidRequest(problems[0], problems)


@dataclass(frozen=True)
class UsageQuery:
    """GET /usage: a period's totals grouped by SKU, customer or user, one page of items."""

    start: date
    end: date
    group_by: GroupBy
    scope: Scope
    offset: int = 0
    max_items: int = DEFAULT_PAGE_SIZE

    KNOWN = frozenset(
        {
            "billingStartDate",
            "billingEndDate",
            "groupBy",
            "subPartnerOrgId",
            "customerOrgId",
            "internal",
            "offset",
            "max",
        }
    )

    @classmethod
    def from_params(cls, params: Mapping[str, str], today: date) -> UsageQuery:
        parsers = {
            "billingStartDate": parse_strict_date,
            "billingEndDate": parse_strict_date,
            "groupBy": _parse_group(tuple(GroupBy)),
            "offset": _parse_int(0, 10**9),
            "max": _parse_int(1, MAX_PAGE_SIZE),
            **_SCOPE_PARSERS,
        }
        values, problems = _problems_of(parsers, params)
        problems[:0] = _unknown(params, cls.KNOWN)
        _require(values, ("billingStartDate", "billingEndDate", "groupBy"), problems)
        if "billingStartDate" in values and "billingEndDate" in values:
            problems.extend(_period_problems(values["billingStartDate"], values["billingEndDate"], today))
        if values.get("groupBy") is GroupBy.USER and "customerOrgId" not in values:
            problems.append("customerOrgId: required with groupBy=user (a customer's users)")
        _raise(problems)
        return cls(
            values["billingStartDate"],
            values["billingEndDate"],
            values["groupBy"],
            _scope(values),
            values.get("offset", 0),
            values.get("max", DEFAULT_PAGE_SIZE),
        )

    @property
    def day_count(self) -> int:
        return (self.end - self.start).days + 1

    def next_page_params(self) -> dict[str, str]:
        """The query of the next page (for `Link`)."""
        params = {
            "billingStartDate": self.start.isoformat(),
            "billingEndDate": self.end.isoformat(),
            "groupBy": self.group_by.value,
        }
        if self.scope.sub_partner_org_id is not None:
            params["subPartnerOrgId"] = self.scope.sub_partner_org_id
        if self.scope.customer_org_id is not None:
            params["customerOrgId"] = self.scope.customer_org_id
        if self.scope.internal:
            params["internal"] = "true"
        params["offset"] = str(self.offset + self.max_items)
        params["max"] = str(self.max_items)
        return params


@dataclass(frozen=True)
class SeriesQuery:
    """GET /usage/series: the last `months` months (ending with `end_month`) per SKU or customer."""

    group_by: GroupBy
    months: int
    end_month: Month
    scope: Scope

    KNOWN = frozenset({"groupBy", "months", "endMonth", "subPartnerOrgId", "customerOrgId", "internal"})

    @classmethod
    def from_params(cls, params: Mapping[str, str], today: date) -> SeriesQuery:
        parsers = {
            "groupBy": _parse_group((GroupBy.SKU, GroupBy.CUSTOMER)),
            "months": _parse_int(1, MAX_SERIES_MONTHS),
            "endMonth": Month.parse,
            **_SCOPE_PARSERS,
        }
        values, problems = _problems_of(parsers, params)
        problems[:0] = _unknown(params, cls.KNOWN)
        _require(values, ("groupBy",), problems)
        end_month = values.get("endMonth", last_complete_month(today))
        months = values.get("months", DEFAULT_SERIES_MONTHS)
        if end_month > Month.of(today):
            problems.append(f"endMonth must be the current month ({Month.of(today)}) or before")
        elif end_month.back(months)[0].first_day < years_before(today, LOOKBACK_YEARS).replace(day=1):
            problems.append(f"the series must start at most {LOOKBACK_YEARS} years back")
        _raise(problems)
        return cls(values["groupBy"], months, end_month, _scope(values))

    def month_list(self) -> list[Month]:
        return self.end_month.back(self.months)


@dataclass(frozen=True)
class Subject:
    """A USER (userId) or a WORKSPACE (workspaceId)."""

    subject_type: str
    subject_id: str

    def matches(self, subject_type: str, user_id: str, workspace_id: str) -> bool:
        if subject_type != self.subject_type:
            return False
        return (user_id if subject_type == "USER" else workspace_id) == self.subject_id


@dataclass(frozen=True)
class ExplainQuery:
    """GET /usage/explain: one subject's quantity of one SKU in a period, and what made it."""

    start: date
    end: date
    sku: str
    subject: Subject
    customer_org_id: str | None = None
    location_id: str | None = None
    subscription_id: str | None = None

    KNOWN = frozenset(
        {
            "billingStartDate",
            "billingEndDate",
            "sku",
            "userId",
            "workspaceId",
            "customerOrgId",
            "locationId",
            "subscriptionId",
        }
    )

    @classmethod
    def from_params(cls, params: Mapping[str, str], today: date) -> ExplainQuery:
        parsers = {
            "billingStartDate": parse_strict_date,
            "billingEndDate": parse_strict_date,
            "sku": _parse_id,
            "userId": _parse_id,
            "workspaceId": _parse_id,
            "customerOrgId": _parse_id,
            "locationId": _parse_id,
            "subscriptionId": _parse_id,
        }
        values, problems = _problems_of(parsers, params)
        problems[:0] = _unknown(params, cls.KNOWN)
        _require(values, ("billingStartDate", "billingEndDate", "sku"), problems)
        if ("userId" in values) == ("workspaceId" in values):
            problems.append("userId or workspaceId: exactly one is required")
        if "billingStartDate" in values and "billingEndDate" in values:
            problems.extend(_period_problems(values["billingStartDate"], values["billingEndDate"], today))
        _raise(problems)
        subject = (
            Subject("USER", values["userId"]) if "userId" in values else Subject("WORKSPACE", values["workspaceId"])
        )
        return cls(
            values["billingStartDate"],
            values["billingEndDate"],
            values["sku"],
            subject,
            values.get("customerOrgId"),
            values.get("locationId"),
            values.get("subscriptionId"),
        )


def reject_unknown(params: Mapping[str, str], known: Iterable[str] = ()) -> None:
    """Routes without parameters (availability) refuse any."""
    _raise(_unknown(params, known))


@dataclass(frozen=True)
class SubjectKey:
    """One USER report row's key (a subject's SKU at one customer, location and subscription)
    and its units of each day with any."""

    partner_org_id: str
    customer_org_id: str
    location_id: str
    subscription_id: str
    sku: str
    subject_type: str
    user_id: str
    subscriber_id: str
    workspace_id: str
    units_by_day: tuple[tuple[date, int], ...]


# ---- a customer's keys through the days (users, explain) -----------------------------------

Key = tuple[str, ...]  # a usage key: the values of KEY_FIELDS
KeyEvent = tuple[int, str, str]  # (occurred_at, event_id, event_type), in replay order


@dataclass(frozen=True)
class TouchedKey:
    """A key the day's events touched: the units rating gave it that day and those events."""

    units: int
    events: tuple[KeyEvent, ...]

    @property
    def open_at_end(self) -> bool:
        """Assigned at the end of the day: its last event assigned it (an ASSIGNED while
        assigned or an UNASSIGNED while not changes nothing, so the last event decides)."""
        return self.events[-1][2] == EventType.PACKAGE_ASSIGNED.value


def key_units(
    days: Iterable[date], open_at_start: Iterable[Key], touched: Mapping[date, Mapping[Key, TouchedKey]]
) -> dict[Key, dict[date, int]]:
    """Each key's units of each day (days with units only), as rating rates them: a key an event
    touched has the units rating gave it that day; an untouched key assigned at the day's start is
    assigned all day (MICRO_UNITS_PER_UNIT). `days` in order, without gaps."""
    assigned = set(open_at_start)
    units: dict[Key, dict[date, int]] = {}
    for day in days:
        today = touched.get(day, {})
        for key in assigned - today.keys():
            units.setdefault(key, {})[day] = MICRO_UNITS_PER_UNIT
        for key, result in today.items():
            if result.units > 0:
                units.setdefault(key, {})[day] = result.units
            if result.open_at_end:
                assigned.add(key)
            else:
                assigned.discard(key)
    return units


def user_rows(units: Mapping[Key, Mapping[date, int]]) -> list[UserRow]:
    """A customer's USER report rows (by key) from its keys' day units, in the report's order."""
    rows = [(*key[2:], sum(days.values())) for key, days in units.items() if sum(days.values()) > 0]
    return sorted(rows)  # type: ignore[arg-type]


def subject_key(key: Key, units_by_day: Mapping[date, int]) -> SubjectKey:
    partner, customer, location, subscription, sku, subject_type, user_id, subscriber_id, workspace_id = key
    return SubjectKey(
        partner,
        customer,
        location,
        subscription,
        sku,
        subject_type,
        user_id,
        subscriber_id,
        workspace_id,
        tuple(sorted(units_by_day.items())),
    )


# ---- sums of rollup rows ------------------------------------------------------------------

# A rollup row: (customer_org_id, location_id, subscription_id, sku, units), units > 0.
RollupRow = tuple[str, str, str, str, int]
# A customer's user row: (location_id, subscription_id, sku, subject_type, user_id, subscriber_id,
# workspace_id, units): the USER report's row of that customer.
UserRow = tuple[str, str, str, str, str, str, str, int]


@dataclass(frozen=True)
class SkuTotal:
    subscription_id: str
    sku: str
    units: int


@dataclass(frozen=True)
class CustomerTotal:
    customer_org_id: str
    units: int
    skus: tuple[tuple[str, int], ...]  # (sku, units), by sku


def sku_totals(rows: Iterable[RollupRow]) -> list[SkuTotal]:
    """Units per (subscription, sku): the PARTNER report's rows, in its order."""
    sums: dict[tuple[str, str], int] = {}
    for _, _, subscription, sku, units in rows:
        sums[(subscription, sku)] = sums.get((subscription, sku), 0) + units
    return [SkuTotal(key[0], key[1], units) for key, units in sorted(sums.items()) if units > 0]


def customer_totals(rows: Iterable[RollupRow]) -> list[CustomerTotal]:
    """Units per customer with its units per SKU (Σ of its CUSTOMER report rows), by customer."""
    per_sku: dict[str, dict[str, int]] = {}
    for customer, _, _, sku, units in rows:
        skus = per_sku.setdefault(customer, {})
        skus[sku] = skus.get(sku, 0) + units
    return [
        CustomerTotal(customer, sum(skus.values()), tuple(sorted(skus.items())))
        for customer, skus in sorted(per_sku.items())
        if sum(skus.values()) > 0
    ]


def page(items: list[Any], offset: int, max_items: int) -> tuple[list[Any], bool]:
    """One page of `items` and whether more follow."""
    return items[offset : offset + max_items], len(items) > offset + max_items


def per_day_units(days: Iterable[tuple[date, int]]) -> list[dict[str, str]]:
    """Explain's day list: each day with units, in order, as text."""
    return [{"date": day.isoformat(), "quantity": format_quantity(units)} for day, units in sorted(days) if units > 0]
