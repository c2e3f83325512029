"""Formats, manifests and diffs through the HTTP API (ARCHITECTURE.md §3 extensions): each
checked against the file itself, as a partner would check what it downloaded."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from chalicelib.domain.proration import MICRO_UNITS_PER_UNIT
from chalicelib.domain.report_diff import diff_columns
from chalicelib.domain.report_rows import columns_for
from chalicelib.domain.reports import ReportType
from chalicelib.local.demo import DEMO_PARTNER, OTHER_PARTNER, demo_world
from chalicelib.services import report_diffs
from tests.conftest import TODAY, unpublish_day
from tests.e2e.test_reports_api import BASE, MONTH_AGO, YESTERDAY, assert_webex_error, period
from tests.readers import object_bytes, object_exists

SHORT_START = (TODAY - timedelta(days=20)).isoformat()


def _completed(api, seeded, body) -> dict:
    response = api.post(BASE, body)
    assert response.status == 200, response.body
    seeded.workflow.join(60)
    detail = api.get(f"{BASE}/{response.json()['id']}").json()
    assert detail["status"] == "COMPLETED", detail
    return detail


def _file(seeded, report_id: str) -> bytes:
    return object_bytes(seeded, seeded.report_store.get(DEMO_PARTNER, report_id).s3_key)


def _units(text: str) -> int:
    return int(Decimal(text) * MICRO_UNITS_PER_UNIT) if text else 0


def test_csv_gz_is_the_csv_compressed_and_its_manifest_is_the_file(api, seeded):
    plain = _completed(api, seeded, period(type="USER"))
    packed = _completed(api, seeded, period(type="USER", format="csv.gz"))
    assert packed["id"] != plain["id"]  # the format is part of what makes a report a duplicate
    assert packed["format"] == "csv.gz" and plain["format"] == "csv"
    query = parse_qs(urlparse(packed["tempDownloadURL"]).query)
    assert query["response-content-disposition"] == [
        f'attachment; filename="wholesale-billing_USER_{MONTH_AGO}_{YESTERDAY}.csv.gz"'
    ]
    assert query["response-content-type"] == ["application/gzip"]
    body = _file(seeded, packed["id"])
    assert gzip.decompress(body) == _file(seeded, plain["id"])

    manifest = api.get(f"{BASE}/{packed['id']}/manifest").json()
    assert manifest["size"] == len(body) and manifest["sha256"] == hashlib.sha256(body).hexdigest()
    assert manifest["sha256"] == packed["sha256"] and manifest["rowCount"] == packed["rowCount"]
    rows = list(csv.reader(io.StringIO(gzip.decompress(body).decode())))
    assert [column["name"] for column in manifest["columns"]] == rows[0] == list(columns_for(ReportType.USER))
    assert {column["type"] for column in manifest["columns"]} == {"string"}
    assert manifest["rowCount"] == len(rows) - 1
    assert manifest["format"] == "csv.gz" and manifest["contentType"] == "application/gzip"
    assert manifest["filename"].endswith(".csv.gz") and manifest["revision"] == 1 and manifest["schemaVersion"] == 1
    stored = seeded.report_store.get(DEMO_PARTNER, packed["id"])
    assert manifest["dayVersions"] == {day.isoformat(): v for day, v in sorted(stored.day_versions.items())}
    assert len(manifest["dayVersions"]) == 30

    # a second create of the same csv.gz request is the same report
    assert api.post(BASE, period(type="USER", format="csv.gz")).status == 409


def test_parquet_is_typed_and_holds_the_csv_numbers(api, seeded):
    plain = _completed(api, seeded, period(type="CUSTOMER"))
    typed = _completed(api, seeded, period(type="CUSTOMER", format="parquet"))
    body = _file(seeded, typed["id"])
    table = pq.read_table(pa.BufferReader(body))
    assert table.schema.field("QUANTITY").type == pa.decimal128(18, 6)
    assert table.schema.field("CONSUMPTION_START_DATE").type == pa.date32()
    assert table.schema.field("CUSTOMER_ORG_ID").type == pa.string()
    rows = list(csv.reader(io.StringIO(_file(seeded, plain["id"]).decode())))
    assert table.column_names == rows[0] and table.num_rows == len(rows) - 1 == typed["rowCount"]
    quantity = rows[0].index("QUANTITY")
    assert [_units(str(value)) for value in table["QUANTITY"].to_pylist()] == [_units(r[quantity]) for r in rows[1:]]
    assert [d.isoformat() for d in table["CONSUMPTION_END_DATE"].to_pylist()] == [
        r[rows[0].index("CONSUMPTION_END_DATE")] for r in rows[1:]
    ]
    manifest = api.get(f"{BASE}/{typed['id']}/manifest").json()
    assert [(c["name"], c["type"]) for c in manifest["columns"]] == [
        (field.name, {pa.string(): "string", pa.date32(): "date", pa.decimal128(18, 6): "decimal(18,6)"}[field.type])
        for field in table.schema
    ]
    assert manifest["size"] == len(body) and manifest["sha256"] == hashlib.sha256(body).hexdigest()
    assert manifest["contentType"] == "application/vnd.apache.parquet"
    assert manifest["filename"].endswith(".parquet")
    # The same numbers in two formats: nothing differs.
    diff = api.get(f"{BASE}/{typed['id']}/diff?against={plain['id']}", headers={"Accept": "application/json"}).json()
    assert diff["rowsAdded"] == diff["rowsRemoved"] == diff["rowsChanged"] == 0
    assert diff["rowsUnchanged"] == typed["rowCount"] and diff["difference"] == "0"


def test_bad_format_is_a_400_and_writes_nothing(api, seeded):
    body = assert_webex_error(api.post(BASE, period(format="xlsx")), 400)
    assert "format" in body["message"]
    assert api.get(BASE).json()["items"] == []


def test_manifest_and_diff_need_a_completed_report_of_the_caller(api, seeded, tokens):
    done = _completed(api, seeded, period(type="USER"))
    unpublish_day(seeded, TODAY - timedelta(days=2))
    waiting = api.post(BASE, period(type="CUSTOMER")).json()["id"]
    seeded.workflow.join(60)
    assert api.get(f"{BASE}/{waiting}").json()["status"] == "IN_PROGRESS"
    assert "IN_PROGRESS" in assert_webex_error(api.get(f"{BASE}/{waiting}/manifest"), 409)["message"]
    assert_webex_error(api.get(f"{BASE}/{done['id']}/diff?against={waiting}"), 409)
    assert_webex_error(api.get(f"{BASE}/{waiting}/diff?against={done['id']}"), 409)
    assert_webex_error(api.get(f"{BASE}/{'0' * 8}-0000-0000-0000-{'0' * 12}/manifest"), 404)
    assert_webex_error(api.get(f"{BASE}/not-an-id/diff?revision=1"), 404)
    other = api.__class__(tokens.mint(org_id=OTHER_PARTNER))
    assert_webex_error(other.get(f"{BASE}/{done['id']}/manifest"), 404)
    assert_webex_error(other.get(f"{BASE}/{done['id']}/diff?revision=1"), 404)


@pytest.mark.parametrize(
    "query",
    ["", "?revision=1&against=x", "?revision=0", "?revision=2", "?revision=one", "?revision=-1", "?since=1"],
)
def test_bad_diff_queries_get_400(api, seeded, query):
    done = _completed(api, seeded, period(type="USER"))
    assert_webex_error(api.get(f"{BASE}/{done['id']}/diff{query}"), 400)


def test_a_diff_with_nothing_to_compare_is_a_400_that_says_so(api, seeded):
    done = _completed(api, seeded, period(type="CUSTOMER"))
    assert done["revision"] == 1
    before = api.get(BASE).json()
    for query, json_accept in (("?revision=1", False), (f"?against={done['id']}", False), ("?revision=1", True)):
        headers = {"Accept": "application/json"} if json_accept else {}
        error = assert_webex_error(api.get(f"{BASE}/{done['id']}/diff{query}", headers=headers), 400)
        assert error["message"].startswith("Nothing to compare"), error
    assert api.get(BASE).json() == before
    assert not [key for key in _keys(seeded, done["id"]) if "/diffs/" in key]


def _keys(seeded, report_id: str) -> list[str]:
    prefix = f"reports/{DEMO_PARTNER}/{report_id}/"
    listed = seeded.s3.list_objects_v2(Bucket=seeded.settings.reports_bucket, Prefix=prefix)
    return [item["Key"] for item in listed.get("Contents", [])]


def test_diff_against_another_month_is_exact(api, seeded):
    new = _completed(api, seeded, period(type="USER"))
    old = _completed(api, seeded, {"billingStartDate": SHORT_START, "billingEndDate": YESTERDAY, "type": "USER"})
    response = api.get(f"{BASE}/{new['id']}/diff?against={old['id']}")
    assert response.status == 200 and response.header("Content-Type").startswith("text/csv")
    lines = list(csv.reader(io.StringIO(response.body.decode())))
    columns = lines[0]
    assert columns == list(diff_columns(ReportType.USER))
    assert columns[1:7] == [
        "PARTNER_ORG_ID",
        "PARTNER_NAME",
        "CUSTOMER_ORG_ID",
        "CUSTOMER_NAME",
        "LOCATION_ID",
        "SUBSCRIPTION_ID",
    ] and columns[7:9] == ["SKU", "SKU_NAME"]
    rows = lines[1:]
    # the names beside the ids are the directory's (the demo world's)
    world = demo_world(TODAY, days=2, users=1, workspaces=0)
    partner_names = {partner.org_id: partner.name for partner in world.partners}
    customer_names = {customer.org_id: customer.name for customer in world.customers}
    sku_names = {sku.sku: sku.description for sku in world.skus}
    at = {name: columns.index(name) for name in columns}
    for row in rows:
        assert row[at["PARTNER_NAME"]] == partner_names[row[at["PARTNER_ORG_ID"]]] == "Acme Wholesale"
        assert row[at["CUSTOMER_NAME"]] == customer_names[row[at["CUSTOMER_ORG_ID"]]] != ""
        assert row[at["SKU_NAME"]] == sku_names[row[at["SKU"]]] != ""
    assert rows, "a month against its last 20 days differs"
    for row in rows:
        old_q, new_q, difference = row[-3:]
        assert _units(new_q) - _units(old_q) == _units(difference.lstrip("'"))
        assert row[0] in ("ADDED", "REMOVED", "CHANGED")
        assert (row[0] == "ADDED") == (old_q == "") and (row[0] == "REMOVED") == (new_q == "")
    assert [row[1:-3] for row in rows] == sorted(row[1:-3] for row in rows)

    summary = api.get(f"{BASE}/{new['id']}/diff?against={old['id']}", headers={"Accept": "application/json"}).json()
    assert summary["against"] == {"id": old["id"], "revision": 1} and summary["type"] == "USER"
    assert summary["rowsChanged"] + summary["rowsAdded"] + summary["rowsRemoved"] == len(rows)
    assert summary["rowsUnchanged"] + summary["rowsChanged"] + summary["rowsAdded"] == new["rowCount"]
    assert _units(summary["difference"]) == sum(_units(row[-1]) for row in rows)
    assert sum(_units(sku["difference"]) for sku in summary["skus"]) == _units(summary["difference"])
    assert all(sku["skuName"] == sku_names[sku["sku"]] for sku in summary["skus"])
    new_rows = list(csv.reader(io.StringIO(_file(seeded, new["id"]).decode())))
    quantity = new_rows[0].index("QUANTITY")
    assert _units(summary["newQuantity"]) == sum(_units(r[quantity]) for r in new_rows[1:])

    other_type = _completed(api, seeded, period(type="CUSTOMER"))
    assert_webex_error(api.get(f"{BASE}/{new['id']}/diff?against={other_type['id']}"), 400)


def test_a_large_diff_is_a_redirect_to_its_file_removed_with_the_report(api, seeded, monkeypatch):
    new = _completed(api, seeded, period(type="USER"))
    old = _completed(api, seeded, {"billingStartDate": SHORT_START, "billingEndDate": YESTERDAY, "type": "USER"})
    inline = api.get(f"{BASE}/{new['id']}/diff?against={old['id']}").body
    monkeypatch.setattr(report_diffs, "INLINE_DIFF_BYTES", 100)
    response = api.get(f"{BASE}/{new['id']}/diff?against={old['id']}")
    assert response.status == 303
    key = urlparse(response.header("Location")).path.split("/", 2)[2]
    assert key.startswith(f"reports/{DEMO_PARTNER}/{new['id']}/diffs/")
    assert object_bytes(seeded, key) == inline
    assert api.delete(f"{BASE}/{new['id']}").status == 204
    assert not object_exists(seeded, key)
