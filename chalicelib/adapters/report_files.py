"""Report files on local disk: a computed CSV encoded in the format asked for, and a file of any
format read back as its rows' quantities (ARCHITECTURE.md §3 formats, diffs).

- `csv`: the CSV as computed. `csv.gz`: the same bytes gzip-compressed, written without a file
  name or time in the gzip header, so equal reports are equal files (a regeneration that changes
  nothing keeps its revision: Finalize compares hashes).
- `parquet`: pyarrow's writer over the CSV read with every cell as text, then typed by
  `domain/report_formats.py`: QUANTITY and SEAT_EQUIVALENTS decimal(18, 6), dates as dates, ASSIGNED_SINCE a UTC
  timestamp (an empty cell: null); other cells keep their text exactly.
"""

from __future__ import annotations

import csv
import gzip
import io
import shutil
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from chalicelib.domain.proration import MICRO_UNITS_PER_UNIT, QUANTITY_DECIMALS
from chalicelib.domain.report_formats import (
    DATE_COLUMNS,
    DECIMAL_COLUMNS,
    QUANTITY_COLUMN,
    QUANTITY_PRECISION,
    TIMESTAMP_COLUMNS,
    ReportFormat,
)

_CHUNK = 1024 * 1024
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"  # domain.timestamps.iso_seconds


class ReportFiles:
    """The ReportEncoder and ReportRowsReader of services/ports.py."""

    def encode(self, source: Path, target: Path, file_format: ReportFormat) -> None:
        if file_format is ReportFormat.CSV:
            shutil.copyfile(source, target)
        elif file_format is ReportFormat.CSV_GZ:
            with source.open("rb") as reader, target.open("wb") as raw:
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as writer:
                    shutil.copyfileobj(reader, writer, _CHUNK)
        else:
            pq.write_table(typed_table(_text_table(source)), target, compression="zstd")

    def quantities(
        self, path: Path, file_format: ReportFormat, key_columns: Sequence[str]
    ) -> dict[tuple[str, ...], int]:
        """Row key (the cells of `key_columns`) → QUANTITY in micro-units, exact. A key that
        appears twice adds up (a report's rows have distinct keys; a reader must not lose any)."""
        rows: dict[tuple[str, ...], int] = {}
        for key, units in _keyed_quantities(path, file_format, key_columns):
            rows[key] = rows.get(key, 0) + units
        return rows


def _keyed_quantities(
    path: Path, file_format: ReportFormat, key_columns: Sequence[str]
) -> Iterator[tuple[tuple[str, ...], int]]:
    if file_format is ReportFormat.PARQUET:
        table = pq.read_table(path, columns=[*key_columns, QUANTITY_COLUMN])
        keys = [table[name].to_pylist() for name in key_columns]
        for index, quantity in enumerate(table[QUANTITY_COLUMN].to_pylist()):
            yield tuple(column[index] for column in keys), micro_units(quantity)
        return
    opener = gzip.open if file_format is ReportFormat.CSV_GZ else open
    with opener(path, "rt", encoding="utf-8", newline="") as text:
        reader = csv.reader(text)
        header = next(reader, [])
        positions = [header.index(name) for name in key_columns]
        quantity = header.index(QUANTITY_COLUMN)
        for row in reader:
            yield tuple(row[position] for position in positions), micro_units(row[quantity])


def micro_units(quantity: str | Decimal) -> int:
    """A QUANTITY (its text, or Parquet's decimal) as integer micro-units; more decimals than
    QUANTITY_DECIMALS would not be a report's number and raise."""
    value = Decimal(quantity) * MICRO_UNITS_PER_UNIT
    if value != value.to_integral_value():
        raise ValueError(f"QUANTITY {quantity} has more than {QUANTITY_DECIMALS} decimals")
    return int(value)


def _text_table(source: Path) -> pa.Table:
    """The CSV with every cell as text (an empty cell is an empty string, never null)."""
    with source.open("rb") as file:
        header = next(csv.reader(io.TextIOWrapper(file, encoding="utf-8", newline="")), [])
    return pa_csv.read_csv(
        source,
        read_options=pa_csv.ReadOptions(use_threads=False, block_size=8 * _CHUNK),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: pa.string() for name in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def typed_table(table: pa.Table) -> pa.Table:
    """Report cells typed as `column_types` says for Parquet."""
    columns = []
    for name in table.column_names:
        column = table[name]
        if name in DECIMAL_COLUMNS:
            column = pc.cast(column, pa.decimal128(QUANTITY_PRECISION, QUANTITY_DECIMALS))
        elif name in DATE_COLUMNS:
            column = pc.cast(column, pa.date32())
        elif name in TIMESTAMP_COLUMNS:
            present = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
            column = pc.assume_timezone(pc.strptime(present, format=_TIMESTAMP_FORMAT, unit="s"), "UTC")
        columns.append(column)
    return pa.table(columns, names=table.column_names)
