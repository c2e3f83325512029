"""The console's read API (DESIGN §12): seat-equivalents, a customer's keys through the days, and
the sums of rollup rows into the answer's items (its queries: domain/usage_queries.py; months:
domain/months.py). Pure Python: the rollup's rows come in as tuples.

Quantities stay integer micro-units until they are written as text (`format_quantity`, the
reports' QUANTITY). A seat-equivalent is QUANTITY ÷ days in the period, exact half-up to six
decimals (`seat_equivalents`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib.domain.events import EventType, Key
from chalicelib.domain.proration import MICRO_UNITS_PER_UNIT, format_quantity

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


@dataclass(frozen=True)
class CustomerHistory:
    """A customer's keys assigned at the start of a period (and since when), and the keys the
    events of each day touched."""

    open_at_start: dict[Key, int | None]
    touched: dict[date, dict[Key, TouchedKey]]


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
