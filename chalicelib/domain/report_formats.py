"""The file formats a report is delivered in, and the manifest that describes a file (ARCHITECTURE.md §3).

A report is computed as CSV (the Webex format, `report_rows.py`); a partner may ask for it as
`csv.gz` (the same bytes, gzip-compressed) or `parquet` (typed columns: QUANTITY and SEAT_EQUIVALENTS
decimals of scale QUANTITY_DECIMALS, dates as dates). Cells hold the same text in every format, CSV-injection
guard included, so a report diffs the same whatever it was delivered as.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from chalicelib.domain.proration import QUANTITY_DECIMALS
from chalicelib.domain.report_columns import COLUMNS

# The manifest's schema: bump it when a manifest field changes meaning.
MANIFEST_SCHEMA_VERSION = 1
# Parquet's QUANTITY: DECIMAL(precision, QUANTITY_DECIMALS) holds every int64 of micro-units.
QUANTITY_PRECISION = 18


class ReportFormat(str, Enum):
    CSV = "csv"
    CSV_GZ = "csv.gz"
    PARQUET = "parquet"

    @property
    def extension(self) -> str:
        return self.value

    @property
    def content_type(self) -> str:
        """What the download is served as."""
        return _CONTENT_TYPES[self]

    @property
    def is_default(self) -> bool:
        return self is ReportFormat.CSV


_CONTENT_TYPES = {
    ReportFormat.CSV: "text/csv; charset=utf-8",
    ReportFormat.CSV_GZ: "application/gzip",
    ReportFormat.PARQUET: "application/vnd.apache.parquet",
}

# Column types of a typed format, from the column table (domain/report_columns.py).
DATE_COLUMNS = frozenset(column.name for column in COLUMNS if column.value_type == "date")
TIMESTAMP_COLUMNS = frozenset(column.name for column in COLUMNS if column.value_type == "timestamp")
DECIMAL_COLUMNS = frozenset(column.name for column in COLUMNS if column.value_type == "decimal")
QUANTITY_COLUMN = "QUANTITY"
DECIMAL_TYPE = f"decimal({QUANTITY_PRECISION},{QUANTITY_DECIMALS})"


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # string, date, timestamp, decimal(18,6)

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type}


def column_types(columns: tuple[str, ...], file_format: ReportFormat) -> tuple[Column, ...]:
    """The columns of a file in `file_format`: CSV and csv.gz carry text (QUANTITY a decimal
    text, dates ISO text); Parquet types them."""
    typed = file_format is ReportFormat.PARQUET
    return tuple(Column(name, _type_of(name) if typed else "string") for name in columns)


def _type_of(column: str) -> str:
    if column in DECIMAL_COLUMNS:
        return DECIMAL_TYPE
    if column in DATE_COLUMNS:
        return "date"
    if column in TIMESTAMP_COLUMNS:
        return "timestamp"
    return "string"
