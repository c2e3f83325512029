"""The list query (filters, sort, page size) and its tamper-evident keyset cursor (ARCHITECTURE.md §2)."""

from __future__ import annotations

import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date
from enum import Enum
from typing import Any

from chalicelib.domain import base64url
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.periods import parse_filter_date
from chalicelib.domain.reports import ReportCategory, ReportStatus, ReportType, parse_enum

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 100
MAX_CURSOR_LENGTH = 2048


class SortBy(str, Enum):
    ID = "id"
    BILLING_START_DATE = "billingStartDate"
    BILLING_END_DATE = "billingEndDate"
    STATUS = "status"
    CREATED = "created"  # an extension: Webex sorts by the four above


class SortOrder(str, Enum):
    """The `order` extension: `asc` is Webex's (the default), `desc` reverses the whole order
    (ties by id, descending)."""

    ASC = "asc"
    DESC = "desc"


KNOWN_PARAMETERS = {
    "billingStartDate",
    "billingEndDate",
    "type",
    "status",
    "subPartnerOrgId",
    "category",  # an extension: Webex lists have no category filter
    "sortBy",
    "order",  # an extension
    "max",
    "cursor",
}


def parse_parameters(
    params: Mapping[str, str], parsers: Mapping[str, tuple[str, Callable[[str], Any]]]
) -> dict[str, Any]:
    """The given query parameters parsed, by attribute (`parsers`: parameter → (attribute, parse));
    InvalidRequest naming every problem of all of them."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    for name, (attribute, parse) in parsers.items():
        if name in params:
            try:
                values[attribute] = parse(params[name])
            except InvalidRequest as error:
                problems.extend(error.problems)
    if problems:
        raise InvalidRequest(problems[0], problems)
    return values


def refuse_unknown_parameters(params: Mapping[str, str], known: Iterable[str]) -> None:
    """InvalidRequest naming every query parameter that is not one of `known`."""
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InvalidRequest(
            f"Unknown query parameter {unknown[0]}",
            [f"{name}: not a query parameter of this API" for name in unknown],
        )


@dataclass(frozen=True)
class ListQuery:
    billing_start_date: date | None = None
    billing_end_date: date | None = None
    report_type: ReportType | None = None
    status: ReportStatus | None = None
    sub_partner_org_id: str | None = None
    category: ReportCategory | None = None
    sort_by: SortBy = SortBy.BILLING_START_DATE
    max_items: int = DEFAULT_PAGE_SIZE
    order: SortOrder = SortOrder.ASC

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> ListQuery:
        """Validate query parameters; every problem is named."""
        parsers: dict[str, tuple[str, Callable[[str], Any]]] = {
            "billingStartDate": ("billing_start_date", lambda v: parse_filter_date("billingStartDate", v)),
            "billingEndDate": ("billing_end_date", lambda v: parse_filter_date("billingEndDate", v)),
            "type": ("report_type", lambda v: parse_enum(ReportType, "type", v)),
            "status": ("status", lambda v: parse_enum(ReportStatus, "status", v)),
            "sortBy": ("sort_by", lambda v: parse_enum(SortBy, "sortBy", v)),
            "order": ("order", lambda v: parse_enum(SortOrder, "order", v)),
            "max": ("max_items", parse_max),
            "subPartnerOrgId": ("sub_partner_org_id", _parse_org_id),
            "category": ("category", lambda v: parse_enum(ReportCategory, "category", v)),
        }
        return cls(**parse_parameters(params, parsers))

    def fingerprint(self) -> dict[str, Any]:
        """A JSON-able form, used to bind a cursor to the query it continues. The ascending order
        is left out, so a query without the `order` extension has the cursor it always had."""
        return {
            key: (value.value if isinstance(value, Enum) else value.isoformat() if isinstance(value, date) else value)
            for key, value in asdict(self).items()
            if not (key == "order" and value is SortOrder.ASC)
        }

    @classmethod
    def from_fingerprint(cls, data: Mapping[str, Any]) -> ListQuery:
        return cls(
            billing_start_date=_maybe(date.fromisoformat, data.get("billing_start_date")),
            billing_end_date=_maybe(date.fromisoformat, data.get("billing_end_date")),
            report_type=_maybe(ReportType, data.get("report_type")),
            status=_maybe(ReportStatus, data.get("status")),
            sub_partner_org_id=data.get("sub_partner_org_id"),
            category=_maybe(ReportCategory, data.get("category")),
            sort_by=SortBy(data["sort_by"]),
            max_items=int(data["max_items"]),
            order=SortOrder(data.get("order", SortOrder.ASC.value)),
        )


def _maybe(convert: Any, value: Any) -> Any:
    return None if value is None else convert(value)


def parse_max(value: str) -> int:
    """A page size, `max`: 1 to MAX_PAGE_SIZE."""
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_PAGE_SIZE:
        raise InvalidRequest(
            f"max must be an integer from 1 to {MAX_PAGE_SIZE}",
            [f"max: expected an integer from 1 to {MAX_PAGE_SIZE}, got {value!r}"],
        )
    return int(value)


def _parse_org_id(value: str) -> str:
    if not value.strip() or len(value) > 200:
        raise InvalidRequest("subPartnerOrgId must be a non-empty org id")
    return value


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: the query it continues and the last sort position served."""

    query: ListQuery
    after_sort_value: str
    after_report_id: str


class CursorCodec:
    """Signs cursors with HMAC-SHA256, bound to the partner; any change makes them invalid."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("cursor secret must be at least 16 bytes")
        self._secret = secret

    def encode(self, partner_org_id: str, cursor: Cursor) -> str:
        payload = json.dumps(
            {"q": cursor.query.fingerprint(), "s": cursor.after_sort_value, "i": cursor.after_report_id},
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        signature = self._sign(partner_org_id, payload)
        return base64url.encode(payload) + "." + base64url.encode(signature)

    def decode(self, partner_org_id: str, token: str) -> Cursor:
        """The cursor, if it was issued to this partner unchanged; else InvalidRequest."""
        invalid = InvalidRequest("cursor is invalid or was issued for another query")
        if len(token) > MAX_CURSOR_LENGTH or token.count(".") != 1:
            raise invalid
        payload_part, signature_part = token.split(".")
        try:
            payload = base64url.decode_canonical(payload_part)
            signature = base64url.decode_canonical(signature_part)
        except (binascii.Error, ValueError):
            raise invalid from None
        if not hmac.compare_digest(signature, self._sign(partner_org_id, payload)):
            raise invalid
        try:
            data = json.loads(payload)
            return Cursor(ListQuery.from_fingerprint(data["q"]), str(data["s"]), str(data["i"]))
        except (ValueError, KeyError, TypeError):
            raise invalid from None

    def _sign(self, partner_org_id: str, payload: bytes) -> bytes:
        return hmac.new(self._secret, partner_org_id.encode() + b"\n" + payload, hashlib.sha256).digest()


