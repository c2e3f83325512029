"""The console's read API's queries (DESIGN §12): the parameters of GET /usage, /usage/series and
/usage/explain parsed and checked into values (every problem a 400 in the Webex error shape)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.months import Month, last_complete_month
from chalicelib.domain.periods import LOOKBACK_YEARS, parse_strict_date, years_before

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_SERIES_MONTHS = 60
DEFAULT_SERIES_MONTHS = 12
MAX_ID_LENGTH = 200
_INTEGER = re.compile(r"^[0-9]{1,9}$")


class GroupBy(str, Enum):
    SKU = "sku"
    CUSTOMER = "customer"
    USER = "user"


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


def _parse_month(field: str, value: str) -> Month:
    month = Month.from_text(value)
    if month is None:
        raise InvalidRequest(
            f"{field} must be a month in YYYY-MM format", [f"{field}: expected YYYY-MM, got {value!r}"]
        )
    return month


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
            "endMonth": _parse_month,
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
