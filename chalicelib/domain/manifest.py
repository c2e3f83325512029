"""A report file's manifest (ARCHITECTURE.md §3): what the file is, so a partner can check what it
downloaded (size, sha256, rows, columns) and see what it was built from (each usage day's lake
version, the revision), without reading the file."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.report_columns import file_columns
from chalicelib.domain.report_formats import MANIFEST_SCHEMA_VERSION, column_types
from chalicelib.domain.reports import Report, by_day_json
from chalicelib.domain.timestamps import iso_millis


def report_file_columns(report: Report) -> tuple[str, ...]:
    """The columns of the report's file, in file order: those its request chose, else Webex's."""
    request = report.request
    return file_columns(request.report_type, request.category, request.columns)


def manifest_json(report: Report, size: int | None) -> dict[str, Any]:
    """The manifest of a COMPLETED report's current file; `size` in bytes."""
    file_format = report.request.file_format
    return {
        "id": report.report_id,
        "schemaVersion": MANIFEST_SCHEMA_VERSION,
        "revision": report.revision,
        "type": report.report_type.value,
        "category": report.request.category.value,
        "billingStartDate": report.period.start.isoformat(),
        "billingEndDate": report.period.end.isoformat(),
        "format": file_format.value,
        "contentType": file_format.content_type,
        "filename": report.download_filename(),
        "columns": [column.to_json() for column in column_types(report_file_columns(report), file_format)],
        "rowCount": report.row_count,
        "size": size,
        "sha256": report.sha256,
        "completed": iso_millis(report.completed) if report.completed else None,
        "dayVersions": by_day_json(report.day_versions or {}),
    }
