"""GET /{id}/diff (ARCHITECTURE.md §3): a COMPLETED report against another of the same type
(`against=<id>`, e.g. last month) or against an earlier revision of itself (`revision=N`, what a
restatement changed). The rule is the domain's (`domain/report_diff.py`); this fetches the two
files (each revision's file stays until its report is deleted), reads their quantities exactly
and hands back CSV or a JSON summary. A CSV too large for a response body is written under the
report's own prefix (removed with it) and served through a short-lived presigned URL instead.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.domain.access import Caller
from chalicelib.domain.errors import InvalidRequest, NotFound
from chalicelib.domain.partners import PartnerTree
from chalicelib.domain.report_diff import (
    RowKey,
    RowNames,
    diff_rows,
    key_columns,
    named_ids,
    render_diff_csv,
    summarize,
)
from chalicelib.domain.reports import Report, report_files_prefix, report_object_key
from chalicelib.services.ports import BlobStore, Directory, ReportRowsReader
from chalicelib.services.reports import ReportService

DIFF_PARAMETERS = frozenset({"against", "revision"})
# Above this, the CSV goes to S3 and the answer is a redirect to it (a Lambda response body
# may be at most 6 MB; API Gateway's 10 MB).
INLINE_DIFF_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Diff:
    """A diff's answer: the CSV text, or where to fetch it (`download_url`), and the summary."""

    summary: dict[str, Any]
    csv: str | None
    download_url: str | None
    filename: str


class ReportDiffService:
    def __init__(
        self,
        reports: ReportService,
        blobs: BlobStore,
        reader: ReportRowsReader,
        download_url_ttl_seconds: int,
        directory: Directory,
    ) -> None:
        self._directory = directory
        self._reports = reports
        self._blobs = blobs
        self._reader = reader
        self._ttl = download_url_ttl_seconds

    def diff(self, caller: Caller, report_id: str, params: Mapping[str, str], with_rows: bool = True) -> Diff:
        """What changed from the old side (the report `against` names, or revision N) to report
        `report_id` as it is now. Raises InvalidRequest (parameters, another type, nothing to
        compare: the report against itself or its revision against itself), NotFound
        (either report, a revision not kept), Conflict (either report not COMPLETED)."""
        new = self._reports.completed(caller, report_id)
        old_key, old_label, old = self._old_side(caller, new, params)
        columns = key_columns(new.report_type)
        with tempfile.TemporaryDirectory(prefix="wbr-diff-") as folder:
            before = self._quantities(old_key, old, Path(folder) / "old", columns)
            after = self._quantities(new.s3_key or "", new, Path(folder) / "new", columns)
        rows = diff_rows(before, after)
        names = self._names(new, [*before, *after])
        summary = {
            "id": new.report_id,
            "revision": new.revision,
            "type": new.report_type.value,
            "against": old_label,
            **summarize(new.report_type, before, after, rows, names),
        }
        filename = f"wholesale-billing_{new.report_type.value}_diff_{new.report_id[:8]}_{_label_slug(old_label)}.csv"
        if not with_rows:
            return Diff(summary, None, None, filename)
        text = render_diff_csv(new.report_type, rows, names)
        if len(text) <= INLINE_DIFF_BYTES:  # characters ≤ bytes: a lower bound that errs towards S3
            return Diff(summary, text, None, filename)
        digest = hashlib.sha256(f"{old_key}\n{new.s3_key}".encode()).hexdigest()[:16]
        key = f"{report_files_prefix(new.partner_org_id, new.report_id)}diffs/{digest}.csv"
        self._blobs.put_text(key, text)
        return Diff(summary, None, self._blobs.presign_download(key, filename, self._ttl), filename)

    def _names(self, report: Report, keys: list[RowKey]) -> RowNames:
        """The directory's names of the partners, customers and SKUs the rows name (a report's
        customers are those of its partner's whole tree)."""
        ids = named_ids(report.report_type, keys)
        tree = PartnerTree(self._directory.partners())
        partners = {partner.org_id: partner.name for partner in tree}
        customers: dict[str, str] = {}
        if ids.get("CUSTOMER_ORG_ID"):
            wanted = ids["CUSTOMER_ORG_ID"]
            customers = {
                customer.org_id: customer.name
                for customer in self._directory.customers_of(tree.subtree(report.partner_org_id))
                if customer.org_id in wanted
            }
        skus = {sku.sku: sku.description or sku.service_name for sku in self._directory.skus()}
        return RowNames(partners, customers, skus)

    def _quantities(self, key: str, report: Report, path: Path, columns: tuple[str, ...]) -> dict[tuple[str, ...], int]:
        try:
            self._blobs.download(key, path)
        except KeyError:
            raise NotFound("That revision's file is no longer kept") from None
        return self._reader.quantities(path, report.request.file_format, columns)

    def _old_side(self, caller: Caller, new: Report, params: Mapping[str, str]) -> tuple[str, dict[str, Any], Report]:
        """The old file's key, how the answer names it, and its report."""
        unknown = sorted(set(params) - DIFF_PARAMETERS)
        if unknown:
            raise InvalidRequest(
                f"Unknown query parameter {unknown[0]}",
                [f"{name}: not a query parameter of diff (use against or revision)" for name in unknown],
            )
        if ("against" in params) == ("revision" in params):
            raise InvalidRequest("Give exactly one of against=<report id> or revision=<number>")
        if "revision" in params:
            text = params["revision"]
            if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= new.revision:
                raise InvalidRequest(
                    f"revision must be a whole number from 1 to {new.revision}, this report's revision"
                )
            revision = int(text)
            if revision == new.revision:
                raise InvalidRequest(
                    f"Nothing to compare: revision {revision} is this report as it is now"
                    + (" (it has only revision 1)" if revision == 1 else ""),
                    [f"revision: give an earlier revision than {new.revision}, or against=<another report id>"],
                )
            key = report_object_key(new.partner_org_id, new.report_id, revision, new.request.file_format)
            return key, {"id": new.report_id, "revision": revision}, new
        old = self._reports.completed(caller, params["against"])
        if old.report_id == new.report_id:
            raise InvalidRequest(
                "Nothing to compare: against names this report itself",
                ["against: give another report's id, or revision=<an earlier revision>"],
            )
        if old.report_type is not new.report_type or old.request.category is not new.request.category:
            raise InvalidRequest(
                "against must name a report of the same type and category "
                f"({new.report_type.value} {new.request.category.value})"
            )
        return old.s3_key or "", {"id": old.report_id, "revision": old.revision}, old


def _label_slug(label: Mapping[str, Any]) -> str:
    return f"{str(label['id'])[:8]}-r{label['revision']}"
