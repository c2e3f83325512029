"""The reports table (ARCHITECTURE.md §7): its keys, its indexes, and the list queries they serve.

One partition per partner (``partnerOrgId``) holds three kinds of items, by sort key ``reportId``:
- reports (SK = report id), with sparse LSI sort attributes for the list orders, and the global
  secondary index `byCreated` on their `created` (ties by report id, as DynamoDB orders an
  index's equal keys by the table key);
- duplicate locks (SK = ``LOCK#<duplicate key>``), written in the same transaction as the report
  and present while it holds the lock (domain/lifecycle.py);
- the in-progress counter (SK = ``COUNTER#IN_PROGRESS``), changed in every transaction that
  enters or leaves IN_PROGRESS, so the cap holds under concurrency.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.listing import ListQuery, SortBy, SortOrder
from chalicelib.domain.report_ids import REPORT_ID_PREFIX

from .dynamo_codec import to_item
from .dynamo_tables import string_keyed_table

COUNTER_SK = "COUNTER#IN_PROGRESS"
LOCK_PREFIX = "LOCK#"

# sortBy → (index name or None for the base table, sort attribute)
SORT_INDEXES: dict[SortBy, tuple[str | None, str]] = {
    SortBy.ID: (None, "reportId"),
    SortBy.BILLING_START_DATE: ("bySortStart", "sortStart"),
    SortBy.BILLING_END_DATE: ("bySortEnd", "sortEnd"),
    SortBy.STATUS: ("bySortStatus", "sortStatus"),
    SortBy.CREATED: ("byCreated", "created"),
}
# The sorts served by a global secondary index rather than a local one: an index added after
# the table was made (a table's LSIs are fixed at its creation; CloudFormation adds a GSI in
# place, `provisioning.ensure_resources` adds it to a local table kept from before), on an
# attribute every report has always had, so no item needs rewriting.
GLOBAL_SORTS = frozenset({SortBy.CREATED})

# The filter that the sort index's key serves (its sort attribute starts with the value).
KEY_FILTERS = {
    SortBy.BILLING_START_DATE: "billingStartDate",
    SortBy.BILLING_END_DATE: "billingEndDate",
    SortBy.STATUS: "status",
}

FILTERED_READ = 1000  # items a filtered list reads per Query call


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments: the one definition used by the local stack, tests and infra."""
    index_attributes = [attribute for index, attribute in SORT_INDEXES.values() if index]

    def indexes(global_sorts: bool) -> list[dict[str, Any]]:
        return [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": "partnerOrgId", "KeyType": "HASH"},
                    {"AttributeName": attribute, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for sort, (index, attribute) in SORT_INDEXES.items()
            if index and (sort in GLOBAL_SORTS) == global_sorts
        ]

    return {
        **string_keyed_table(table_name, "partnerOrgId", "reportId", index_attributes),
        "LocalSecondaryIndexes": indexes(global_sorts=False),
        "GlobalSecondaryIndexes": indexes(global_sorts=True),
    }


def item_key(partner_org_id: str, sort_key: str) -> dict[str, Any]:
    """The key of an item of the partner's partition (a report, a lock or the counter)."""
    return to_item({"partnerOrgId": partner_org_id, "reportId": sort_key})


def lock_key(partner_org_id: str, duplicate_key: str) -> dict[str, Any]:
    return item_key(partner_org_id, LOCK_PREFIX + duplicate_key)


def put_new(table: str, item: dict[str, Any]) -> dict[str, Any]:
    """The transaction action that writes `item` if no item has its key."""
    return {"Put": {"TableName": table, "Item": to_item(item), "ConditionExpression": "attribute_not_exists(reportId)"}}


def is_report_key(sort_key: str) -> bool:
    """Does `sort_key` name a report (not a lock, not the counter)?"""
    return not sort_key.startswith((LOCK_PREFIX, COUNTER_SK))


# ---- list queries ---------------------------------------------------------------------------


def sort_value(item: dict[str, Any], query: ListQuery) -> str:
    """The sort attribute of a listed item (`Report.summary_json()` form) under `query`."""
    if query.sort_by is SortBy.CREATED:
        return str(item["created"])  # the index's key; ties are ordered by the id (the table key)
    field = KEY_FILTERS.get(query.sort_by)  # the sorted attribute; sortBy=id sorts by the id
    return item["id"] if field is None else f"{item[field]}#{item['id']}"


def list_arguments(
    table: str, partner_org_id: str, query: ListQuery, after: tuple[str, str] | None, limit: int
) -> dict[str, Any]:
    """The first Query of a list page: on the index of the sort, in the query's order; a filter
    on the sorted attribute is part of the key condition, the others a FilterExpression over the
    same read."""
    index, attribute = SORT_INDEXES[query.sort_by]
    key_condition = "partnerOrgId = :p"
    values: dict[str, Any] = {":p": partner_org_id}
    prefix = _sort_prefix(query)
    if index is None:
        key_condition += " AND begins_with(reportId, :prefix)"
        values[":prefix"] = REPORT_ID_PREFIX
    elif prefix is not None:
        key_condition += f" AND begins_with({attribute}, :prefix)"
        values[":prefix"] = prefix
    filters, names, filter_values = _filter_expression(query)
    arguments: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": key_condition,
        "ProjectionExpression": "listing",
        "Limit": limit,
    }
    if query.order is SortOrder.DESC:
        arguments["ScanIndexForward"] = False
    if index:
        arguments["IndexName"] = index
    if filters:
        arguments["FilterExpression"] = " AND ".join(filters)
        arguments["ExpressionAttributeNames"] = names
        values.update(filter_values)
        # Limit counts items read before the filter: read a partner's usual report count in
        # one call (moto pays per call for the whole table; DynamoDB stops at 1 MB anyway).
        arguments["Limit"] = FILTERED_READ
    arguments["ExpressionAttributeValues"] = to_item(values)
    if after:
        after_sort_value, report_id = after
        start_key = {"partnerOrgId": partner_org_id, "reportId": report_id}
        if index:
            start_key[attribute] = after_sort_value
        arguments["ExclusiveStartKey"] = to_item(start_key)
    return arguments


def _filter_values(query: ListQuery) -> dict[str, str | None]:
    """The filters of a list query, by the attribute they compare."""
    return {
        "billingStartDate": query.billing_start_date.isoformat() if query.billing_start_date else None,
        "billingEndDate": query.billing_end_date.isoformat() if query.billing_end_date else None,
        "type": query.report_type.value if query.report_type else None,
        "status": query.status.value if query.status else None,
        "subPartnerOrgId": query.sub_partner_org_id,
        "category": query.category.value if query.category else None,
    }


def _sort_prefix(query: ListQuery) -> str | None:
    field = KEY_FILTERS.get(query.sort_by)
    value = _filter_values(query).get(field) if field else None
    return None if value is None else f"{value}#"


def _filter_expression(query: ListQuery) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """The filters the key condition does not serve."""
    served = KEY_FILTERS.get(query.sort_by)
    filters, names, values = [], {}, {}
    for position, (name, value) in enumerate(_filter_values(query).items()):
        if value is not None and name != served:
            names[f"#n{position}"] = name
            values[f":w{position}"] = value
            filters.append(f"#n{position} = :w{position}")
    return filters, names, values
