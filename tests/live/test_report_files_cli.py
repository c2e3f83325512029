"""Formats, manifests and diffs where users meet them (make test-live): a `wbr dev` process of
our own, the `wbr reports` CLI in other processes, the files fetched over HTTP from the local S3
through their presigned URLs, each checked against what its manifest says."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from email.message import Message
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.stack import Stack

pytestmark = pytest.mark.live

TODAY = datetime.now(timezone.utc).date()
END = (TODAY - timedelta(days=1)).isoformat()
START = (TODAY - timedelta(days=30)).isoformat()
SHORTER = (TODAY - timedelta(days=15)).isoformat()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("files"), demo=True)
    running.start(timeout=300)
    try:
        yield running
    finally:
        running.stop()


def _wbr_json(stack: Stack, *arguments: str) -> object:
    done = stack.cli(*arguments, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _create(stack: Stack, *arguments: str) -> dict:
    report = _wbr_json(stack, "reports", "create", "--start", START, "--end", END, "--wait", *arguments)
    assert isinstance(report, dict) and report["status"] == "COMPLETED", report
    return report


def _fetch(url: str) -> tuple[bytes, Message]:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read(), response.headers


def test_each_format_downloads_as_its_manifest_says(stack, tmp_path):
    plain = _create(stack, "--type", "USER")
    csv_bytes, _ = _fetch(plain["tempDownloadURL"])
    for file_format in ("csv.gz", "parquet"):
        report = _create(stack, "--type", "USER", "--format", file_format)
        assert report["format"] == file_format and report["id"] != plain["id"]
        body, headers = _fetch(report["tempDownloadURL"])
        manifest = _wbr_json(stack, "reports", "manifest", report["id"])
        assert isinstance(manifest, dict)
        assert (manifest["size"], manifest["sha256"]) == (len(body), hashlib.sha256(body).hexdigest())
        assert headers["Content-Type"] == manifest["contentType"]
        assert manifest["filename"] in headers["Content-Disposition"] and manifest["filename"].endswith(file_format)
        if file_format == "csv.gz":
            assert gzip.decompress(body) == csv_bytes
        else:
            table = pq.read_table(pa.BufferReader(body))
            assert table.num_rows == manifest["rowCount"] == plain["rowCount"]
            assert [c["name"] for c in manifest["columns"]] == table.column_names
            assert str(table.schema.field("QUANTITY").type) == "decimal128(18, 6)"
            rows = list(csv.DictReader(io.StringIO(csv_bytes.decode())))
            assert [Decimal(r["QUANTITY"]) for r in rows] == table["QUANTITY"].to_pylist()
        # `wbr reports download` names the file as the URL does
        done = stack.cli("reports", "download", report["id"], "--json")
        assert done.returncode == 0, done.stderr
        saved = json.loads(done.stdout)
        assert saved["out"] == manifest["filename"]
        assert (Path(stack.state_dir) / saved["out"]).read_bytes() == body


def test_diff_against_another_period_from_the_cli(stack, tmp_path):
    new = _create(stack, "--type", "CUSTOMER")
    old = _wbr_json(stack, "reports", "create", "--start", SHORTER, "--end", END, "--type", "CUSTOMER", "--wait")
    assert isinstance(old, dict) and old["status"] == "COMPLETED"
    out = tmp_path / "diff.csv"
    done = stack.cli("reports", "diff", new["id"], "--against", old["id"], "--out", str(out))
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0][0] == "CHANGE" and len(rows) > 1
    summary = _wbr_json(stack, "reports", "diff", new["id"], "--against", old["id"])
    assert isinstance(summary, dict)
    assert summary["rowsAdded"] + summary["rowsRemoved"] + summary["rowsChanged"] == len(rows) - 1
    total = sum(Decimal(row[-1]) for row in rows[1:])
    assert Decimal(summary["difference"]) == total == Decimal(summary["newQuantity"]) - Decimal(summary["oldQuantity"])
    # against itself at its own revision: nothing to compare, said in one line, exit 2
    same = stack.cli("reports", "diff", new["id"], "--revision", "1")
    assert same.returncode == 2 and same.stderr.count("\n") == 1 and "Nothing to compare" in same.stderr
    # a bad side is a one-line error and exit 2
    refused = stack.cli("reports", "diff", new["id"], "--revision", "7")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "revision" in refused.stderr


def test_newest_first_and_sub_partners_from_the_cli(stack):
    """`wbr reports list --sort created --order desc --max N` and `wbr subpartners`, in processes
    of their own against the running stack."""
    from chalicelib.local.demo import DEMO_SUB_PARTNER

    made = [_create(stack, "--type", kind, "--start", SHORTER)["id"] for kind in ("PARTNER", "USER")]
    newest = _wbr_json(stack, "reports", "list", "--sort", "created", "--order", "desc", "--max", "2")
    assert isinstance(newest, list) and [item["id"] for item in newest] == made[::-1]
    everything = _wbr_json(stack, "reports", "list", "--sort", "created")
    assert isinstance(everything, list) and [item["id"] for item in everything][-2:] == made
    partners = _wbr_json(stack, "subpartners")
    assert isinstance(partners, list) and [item["orgId"] for item in partners] == [DEMO_SUB_PARTNER]
    (east,) = partners
    assert east["subscriptionId"] == "Sub-EAST-0001" and east["provisioningState"] == "active"
    assert east["created"] < east["billingStartDate"]
    suspended = _wbr_json(stack, "subpartners", "--state", "suspended")
    assert suspended == []
    refused = stack.cli("subpartners", "--state", "gone")
    assert refused.returncode == 2 and "--state" in refused.stderr
