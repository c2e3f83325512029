"""Whom a report's rows name (ARCHITECTURE.md §5): its partner scope, its customers and the row
context a shard renders with, all read from one directory (the snapshot Plan pinned, or the
directory itself). Used by the generation steps (services/generation.py)."""

from __future__ import annotations

from chalicelib.domain.partners import PartnerTree
from chalicelib.domain.report_rows import Customer, Partner, RowContext
from chalicelib.domain.reports import Report
from chalicelib.services.ports import Directory


def partner_scope(report: Report, directory: Directory) -> tuple[Partner, list[str]]:
    """The partner the report names (the caller's, or its sub-partner) and the org ids of its
    subtree, which the report covers."""
    tree = PartnerTree(directory.partners())
    partner = tree.report_scope(report.partner_org_id, report.request.sub_partner_org_id)
    return partner, tree.subtree(partner.org_id)


def report_customers(
    report: Report, directory: Directory, org_ids: list[str], low: str | None, high: str | None
) -> tuple[list[Customer], set[str]]:
    """The customers of `org_ids` with ids in [low, high) the report names (internal ones only
    with `internal: true`), and the internal ids it leaves out."""
    customers = directory.customers_of(org_ids, low, high)
    if report.request.internal:
        return customers, set()
    left_out = {customer.org_id for customer in customers if customer.internal}
    return [customer for customer in customers if not customer.internal], left_out


def row_context(report: Report, partner: Partner, customers: list[Customer], directory: Directory) -> RowContext:
    """What the report's rows are named with, and its file's columns."""
    request = report.request
    return RowContext(
        report_type=request.report_type,
        partner=partner,
        customers={customer.org_id: customer for customer in customers},
        skus={sku.sku: sku for sku in directory.skus()},
        category=request.category,
        columns=request.columns,
        period_days=request.period.day_count,
    )
