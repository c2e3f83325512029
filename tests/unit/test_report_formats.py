"""Report formats: the request field, the duplicate key, the file name, the manifest's columns,
and the encodings on disk (adapters/report_files.py) holding the CSV's cells exactly."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters.report_files import ReportFiles, micro_units
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.report_formats import ReportFormat, column_types
from chalicelib.domain.report_rows import CsvRenderer
from chalicelib.domain.reports import ReportRequest

NOW = datetime(2026, 11, 15, 12, tzinfo=timezone.utc)
BODY = {"billingStartDate": "2026-10-01", "billingEndDate": "2026-10-31", "type": "USER"}


def test_format_defaults_to_csv_and_joins_the_duplicate_key_only_when_not_csv():
    plain = ReportRequest.from_body(BODY, NOW)
    assert plain.file_format is ReportFormat.CSV
    assert ReportRequest.from_body({**BODY, "format": "csv"}, NOW).duplicate_key() == plain.duplicate_key()
    assert ReportRequest.from_body({**BODY, "format": None}, NOW).duplicate_key() == plain.duplicate_key()
    assert '"parquet"' not in (plain.duplicate_key() or "")
    keys = {ReportRequest.from_body({**BODY, "format": f.value}, NOW).duplicate_key() for f in ReportFormat}
    assert len(keys) == 3


@pytest.mark.parametrize("value", ["CSV", "xlsx", "", 1, ["csv"]])
def test_other_formats_are_refused_by_name(value):
    with pytest.raises(InvalidRequest) as refused:
        ReportRequest.from_body({**BODY, "format": value}, NOW)
    assert str(refused.value).startswith("format") and "is not one of csv, csv.gz, parquet" in str(refused.value)


def test_columns_are_text_in_csv_and_typed_in_parquet():
    columns = ("SKU", "CONSUMPTION_START_DATE", "QUANTITY", "ASSIGNED_SINCE")
    assert {c.type for c in column_types(columns, ReportFormat.CSV_GZ)} == {"string"}
    assert [c.type for c in column_types(columns, ReportFormat.PARQUET)] == [
        "string",
        "date",
        "decimal(18,6)",
        "timestamp",
    ]


CELL = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=8)
ROW = st.tuples(CELL, st.dates().map(lambda d: d.isoformat()), st.integers(0, 10**13), CELL)


@settings(max_examples=40, deadline=None)
@given(st.lists(ROW, max_size=6))
def test_every_format_holds_the_csv_cells_and_exact_quantities(tmp_path_factory, rows):
    folder = tmp_path_factory.mktemp("formats")
    from chalicelib.domain.proration import format_quantity

    header = ["SKU", "CONSUMPTION_START_DATE", "QUANTITY", "USER_ID"]
    cells = [[sku, day, format_quantity(units), user] for sku, day, units, user in rows]
    source = folder / "report.csv"
    source.write_text(CsvRenderer().render([header, *cells]), encoding="utf-8", newline="")
    files = ReportFiles()
    expected = {}
    for row, (_, _, units, _) in zip(cells, rows, strict=True):
        # the cells as the file holds them (guarded), as a reader of the CSV sees them
        seen = next(csv.reader(io.StringIO(CsvRenderer().render([row]), newline="")))
        key = (seen[0], seen[3])
        expected[key] = expected.get(key, 0) + units
    for file_format in ReportFormat:
        target = folder / f"out.{file_format.extension}"
        files.encode(source, target, file_format)
        assert files.quantities(target, file_format, ["SKU", "USER_ID"]) == expected
    assert gzip.decompress((folder / "out.csv.gz").read_bytes()) == source.read_bytes()
    table = pq.read_table(folder / "out.parquet")
    assert table.schema.field("QUANTITY").type == pa.decimal128(18, 6)
    assert [micro_units(v) for v in table["QUANTITY"].to_pylist()] == [units for _, _, units, _ in rows]
    assert [d.isoformat() for d in table["CONSUMPTION_START_DATE"].to_pylist()] == [r[1] for r in rows]


def test_csv_gz_and_parquet_are_the_same_bytes_for_the_same_report(tmp_path):
    source = tmp_path / "r.csv"
    source.write_text("SKU,QUANTITY\r\nA,1.5\r\n", newline="")
    files = ReportFiles()
    for file_format in (ReportFormat.CSV_GZ, ReportFormat.PARQUET):
        first, second = tmp_path / f"1.{file_format.value}", tmp_path / f"2.{file_format.value}"
        files.encode(source, first, file_format)
        files.encode(source, second, file_format)
        assert first.read_bytes() == second.read_bytes()  # a regeneration that changes nothing keeps its revision


def test_micro_units_refuse_more_decimals_than_a_quantity_has():
    assert micro_units("0.041667") == 41_667 and micro_units(Decimal("31.000000")) == 31_000_000
    with pytest.raises(ValueError):
        micro_units("0.0000001")


def test_an_empty_report_encodes(tmp_path):
    source = tmp_path / "r.csv"
    source.write_text("SKU,QUANTITY\r\n", newline="")
    ReportFiles().encode(source, tmp_path / "r.parquet", ReportFormat.PARQUET)
    table = pq.read_table(tmp_path / "r.parquet")
    assert table.num_rows == 0 and table.column_names == ["SKU", "QUANTITY"]
    assert ReportFiles().quantities(Path(tmp_path / "r.parquet"), ReportFormat.PARQUET, ["SKU"]) == {}
