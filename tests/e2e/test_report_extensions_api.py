"""The create extensions through HTTP (DESIGN §3): `customerOrgIds` and `columns` on create, echoed
by create, GET and list, listed by the manifest, carried by csv.gz, followed by diff; bad values
are Webex-shaped 400s naming them, foreign customers 403s, and nothing is made for either."""

from __future__ import annotations

import csv
import gzip
import io

import pytest

from chalicelib.domain.report_columns import default_columns
from chalicelib.domain.report_kinds import ReportCategory
from chalicelib.domain.reports import ReportType
from chalicelib.local.demo import DEMO_PARTNER, DEMO_SUB_PARTNER, OTHER_PARTNER
from tests.e2e.test_reports_api import BASE, assert_webex_error, period
from tests.readers import object_bytes

NAMED_COLUMNS = [*default_columns(ReportType.CUSTOMER), "CUSTOMER_NAME", "LOCATION_NAME", "SEAT_EQUIVALENTS"]


def _customers(world, partner: str) -> list[str]:
    return [c.org_id for c in world.customers if c.partner_org_id == partner and not c.internal]


def _completed(api, seeded, body) -> dict:
    response = api.post(BASE, body)
    assert response.status == 200, response.body
    seeded.workflow.join(60)
    detail = api.get(f"{BASE}/{response.json()['id']}").json()
    assert detail["status"] == "COMPLETED", detail
    return detail


def _file_rows(seeded, report_id: str) -> list[list[str]]:
    body = object_bytes(seeded, seeded.report_store.get(DEMO_PARTNER, report_id).s3_key)
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    return list(csv.reader(io.StringIO(body.decode())))


def test_chosen_customers_and_columns_are_echoed_listed_and_in_the_file(api, seeded, world):
    chosen = _customers(world, DEMO_PARTNER)[:2]
    body = period(type="CUSTOMER", customerOrgIds=chosen[::-1], columns=NAMED_COLUMNS)
    created = api.post(BASE, body)
    assert created.status == 200
    assert created.json()["customerOrgIds"] == sorted(chosen) and created.json()["columns"] == NAMED_COLUMNS
    seeded.workflow.join(60)
    detail = api.get(f"{BASE}/{created.json()['id']}").json()
    assert detail["status"] == "COMPLETED"
    assert detail["customerOrgIds"] == sorted(chosen) and detail["columns"] == NAMED_COLUMNS
    [item] = [item for item in api.get(BASE).json()["items"] if item["id"] == detail["id"]]
    assert item["customerOrgIds"] == sorted(chosen) and item["columns"] == NAMED_COLUMNS

    rows = _file_rows(seeded, detail["id"])
    assert rows[0] == NAMED_COLUMNS and len(rows) - 1 == detail["rowCount"] > 0
    by_name = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert {row["CUSTOMER_ORG_ID"] for row in by_name} == set(chosen)
    names = {c.org_id: c.name for c in world.customers}
    assert all(row["CUSTOMER_NAME"] == names[row["CUSTOMER_ORG_ID"]] and row["LOCATION_NAME"] for row in by_name)
    assert all(len(row["SEAT_EQUIVALENTS"].split(".")[1]) == 6 for row in by_name)

    manifest = api.get(f"{BASE}/{detail['id']}/manifest").json()
    assert [column["name"] for column in manifest["columns"]] == NAMED_COLUMNS

    # the same request again, customers in another order: the same report (409 once COMPLETED)
    assert_webex_error(api.post(BASE, body), 409)
    # csv.gz carries the same columns (another report: the format is part of the duplicate key)
    packed = _completed(api, seeded, {**body, "format": "csv.gz"})
    assert _file_rows(seeded, packed["id"]) == rows


def test_a_webex_request_gets_no_extension_fields(api, seeded):
    created = api.post(BASE, period(type="USER")).json()
    seeded.workflow.join(60)
    detail = api.get(f"{BASE}/{created['id']}").json()
    [item] = api.get(BASE).json()["items"]
    for answer in (created, detail, item):
        assert "customerOrgIds" not in answer and "columns" not in answer
    assert _file_rows(seeded, created["id"])[0] == list(default_columns(ReportType.USER))


def test_diff_follows_chosen_customers_and_columns(api, seeded, world):
    chosen = _customers(world, DEMO_PARTNER)[:1]
    narrow = _completed(api, seeded, period(type="CUSTOMER", customerOrgIds=chosen, columns=NAMED_COLUMNS))
    wide = _completed(api, seeded, period(type="CUSTOMER"))
    # the same customers' rows are equal; every other customer's row is ADDED in the wide report
    summary = api.get(f"{BASE}/{wide['id']}/diff?against={narrow['id']}", headers={"Accept": "application/json"})
    assert summary.status == 200, summary.body
    response = api.get(f"{BASE}/{wide['id']}/diff?against={narrow['id']}")
    assert response.status == 200
    rows = list(csv.DictReader(io.StringIO(response.body.decode())))
    assert rows and {row["CHANGE"] for row in rows} == {"ADDED"}
    assert chosen[0] not in {row["CUSTOMER_ORG_ID"] for row in rows}


@pytest.mark.parametrize(
    ("extension", "named"),
    [
        ({"customerOrgIds": []}, "customerOrgIds"),
        ({"customerOrgIds": "abc"}, "customerOrgIds"),
        ({"customerOrgIds": [None]}, "customerOrgIds"),
        ({"customerOrgIds": [{"id": 1}]}, "customerOrgIds"),
        ({"columns": []}, "columns"),
        ({"columns": "QUANTITY"}, "columns"),
        ({"columns": [*default_columns(ReportType.CUSTOMER), "NOT_A_COLUMN"]}, "NOT_A_COLUMN"),
        ({"columns": [*default_columns(ReportType.CUSTOMER), "WORKSPACE_ID"]}, "WORKSPACE_ID"),
        ({"columns": list(default_columns(ReportType.CUSTOMER))[1:]}, "PARTNER_NAME"),
        ({"columns": [*default_columns(ReportType.CUSTOMER), "SKU"]}, "SKU is named twice"),
        ({"type": "PARTNER", "columns": [*default_columns(ReportType.PARTNER), "LOCATION_NAME"]}, "LOCATION_NAME"),
    ],
)
def test_bad_extensions_are_400s_naming_them_and_make_nothing(api, seeded, extension, named):
    body = assert_webex_error(api.post(BASE, period(**{"type": "CUSTOMER", **extension})), 400)
    assert any(named in error["description"] for error in body["errors"]), body
    assert api.get(BASE).json()["items"] == []


def test_point_in_time_refuses_seat_equivalents_clearly(api, seeded):
    columns = [*default_columns(ReportType.CUSTOMER, ReportCategory.POINT_IN_TIME), "SEAT_EQUIVALENTS"]
    body = assert_webex_error(
        api.post(BASE, {"category": "POINT_IN_TIME", "type": "CUSTOMER", "columns": columns}), 400
    )
    assert "POINT_IN_TIME CUSTOMER report has no column SEAT_EQUIVALENTS" in body["errors"][0]["description"]


def test_customers_outside_the_scope_are_403(api, seeded, world):
    other = _customers(world, OTHER_PARTNER)[0]
    own = _customers(world, DEMO_PARTNER)[0]
    for body in (
        period(type="CUSTOMER", customerOrgIds=[own, other]),
        period(type="CUSTOMER", customerOrgIds=["unknown-org"]),
        period(type="CUSTOMER", customerOrgIds=[own], subPartnerOrgId=DEMO_SUB_PARTNER),
    ):
        error = assert_webex_error(api.post(BASE, body), 403)
        assert all("customerOrgIds" in item["description"] for item in error["errors"])
        assert own not in error["message"]
    assert api.get(BASE).json()["items"] == []
