"""Report metadata in DynamoDB (DESIGN §7).

One partition per partner holds three kinds of items:
- reports (SK = report id), with sparse LSI sort attributes for the list orders;
- duplicate locks (SK = ``LOCK#<duplicate key>``), written in the same transaction as the report
  and present while that report is IN_PROGRESS or COMPLETED;
- the in-progress counter (SK = ``COUNTER#IN_PROGRESS``), changed in every transaction that
  enters or leaves IN_PROGRESS, so the cap holds under concurrency.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain.errors import ReportErrorCode
from chalicelib.domain.listing import ListQuery, SortBy
from chalicelib.domain.messages import RunLease
from chalicelib.domain.periods import BillingPeriod
from chalicelib.domain.report_ids import REPORT_ID_PREFIX
from chalicelib.domain.reports import (
    Report,
    ReportCategory,
    ReportError,
    ReportRequest,
    ReportStatus,
    ReportType,
)
from chalicelib.services.ports import DuplicateReport, InProgressLimitReached, ReportFile

from .dynamo_codec import from_item, to_item

COUNTER_SK = "COUNTER#IN_PROGRESS"
LOCK_PREFIX = "LOCK#"

# sortBy → (index name or None for the base table, sort attribute)
SORT_INDEXES: dict[SortBy, tuple[str | None, str]] = {
    SortBy.ID: (None, "reportId"),
    SortBy.BILLING_START_DATE: ("bySortStart", "sortStart"),
    SortBy.BILLING_END_DATE: ("bySortEnd", "sortEnd"),
    SortBy.STATUS: ("bySortStatus", "sortStatus"),
}


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments: the one definition used by the local stack, tests and infra."""
    lsi_attributes = [attribute for index, attribute in SORT_INDEXES.values() if index]
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "partnerOrgId", "AttributeType": "S"},
            {"AttributeName": "reportId", "AttributeType": "S"},
            *({"AttributeName": attribute, "AttributeType": "S"} for attribute in lsi_attributes),
        ],
        "KeySchema": [
            {"AttributeName": "partnerOrgId", "KeyType": "HASH"},
            {"AttributeName": "reportId", "KeyType": "RANGE"},
        ],
        "LocalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": "partnerOrgId", "KeyType": "HASH"},
                    {"AttributeName": attribute, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index, attribute in SORT_INDEXES.values()
            if index
        ],
    }


class DynamoReportStore:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    # ---- create -------------------------------------------------------------------------

    def create(self, report: Report, max_in_progress: int) -> None:
        """Put the report, its duplicate lock (a reconciliation report's) and +1 on the counter
        in one transaction."""
        key = report.request.duplicate_key()
        actions = [
            self._counter_update(report.partner_org_id, +1, max_in_progress),
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(self._report_item(report)),
                    "ConditionExpression": "attribute_not_exists(reportId)",
                }
            },
        ]
        if key is not None:
            lock = {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(self._lock_item(report, key)),
                    "ConditionExpression": "attribute_not_exists(reportId)",
                }
            }
            actions.insert(0, lock)
        try:
            self._db.transact_write_items(TransactItems=actions)
        except ClientError as error:
            reasons = _cancellation_codes(error)
            if key is not None:
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    lock_item = self._get_item(report.partner_org_id, LOCK_PREFIX + key)
                    raise DuplicateReport(lock_item["lockedReportId"] if lock_item else "", key) from None
                reasons = reasons[1:]
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise InProgressLimitReached() from None
            raise

    def release_stale_lock(self, partner_org_id: str, duplicate_key: str, report_id: str) -> bool:
        """Remove a lock that still names `report_id` (a report that no longer holds it)."""
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=to_item({"partnerOrgId": partner_org_id, "reportId": LOCK_PREFIX + duplicate_key}),
                ConditionExpression="lockedReportId = :id",
                ExpressionAttributeValues=to_item({":id": report_id}),
            )
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    # ---- read ---------------------------------------------------------------------------

    def get(self, partner_org_id: str, report_id: str) -> Report | None:
        if report_id.startswith((LOCK_PREFIX, COUNTER_SK)):
            return None
        item = self._get_item(partner_org_id, report_id)
        return _report_from(item) if item else None

    def sort_value(self, item: dict[str, Any], query: ListQuery) -> str:
        """The sort attribute of a listed item (`Report.summary_json()` form) under `query`."""
        field = _KEY_FILTERS.get(query.sort_by)  # the sorted attribute; sortBy=id sorts by the id
        return item["id"] if field is None else f"{item[field]}#{item['id']}"

    def list(
        self, partner_org_id: str, query: ListQuery, after: tuple[str, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """Up to `limit` list items (`Report.summary_json()`, stored beside each report as one
        `listing` attribute: the page is read as it is served) in the query's order, after
        `after`. One Query on the index of the sort; a filter on the sorted attribute is part of
        the key condition, the others a FilterExpression over the same read."""
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
            "TableName": self._table,
            "KeyConditionExpression": key_condition,
            "ProjectionExpression": "listing",
            "Limit": limit,
        }
        if index:
            arguments["IndexName"] = index
        if filters:
            arguments["FilterExpression"] = " AND ".join(filters)
            arguments["ExpressionAttributeNames"] = names
            values.update(filter_values)
            # Limit counts items read before the filter: read a partner's usual report count in
            # one call (moto pays per call for the whole table; DynamoDB stops at 1 MB anyway).
            arguments["Limit"] = FILTERED_READ
        limit_left = arguments["Limit"] == limit
        arguments["ExpressionAttributeValues"] = to_item(values)
        if after:
            sort_value, report_id = after
            start_key = {"partnerOrgId": partner_org_id, "reportId": report_id}
            if index:
                start_key[attribute] = sort_value
            arguments["ExclusiveStartKey"] = to_item(start_key)
        items: list[dict[str, Any]] = []
        while True:
            page = self._db.query(**arguments)
            for item in page.get("Items", []):
                items.append(json.loads(item["listing"]["S"]))
                if len(items) == limit:
                    return items
            if "LastEvaluatedKey" not in page:
                return items
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            if limit_left:
                arguments["Limit"] = limit - len(items)

    def overdue(self, now: datetime) -> list[Report]:
        """Reports of every partner still IN_PROGRESS after their deadline (the sweeper's query)."""
        return self._scan(
            "#status = :in_progress AND deadline < :now",
            {":in_progress": ReportStatus.IN_PROGRESS.value, ":now": int(now.timestamp())},
        )

    def waiting(self) -> list[Report]:
        """IN_PROGRESS reports of every partner parked until some day is published."""
        return self._scan(
            "#status = :in_progress AND attribute_exists(waitingFor)",
            {":in_progress": ReportStatus.IN_PROGRESS.value},
        )

    def leased(self) -> list[Report]:
        """Reports of every partner that a run holds (the sweeper checks that the run lives)."""
        return self._scan(
            "attribute_exists(runName) AND attribute_not_exists(waitingFor) AND #status <> :failed",
            {":failed": ReportStatus.FAILED.value},
        )

    def completed_covering(self, day: date | None) -> list[Report]:
        """COMPLETED reports of every partner whose period contains `day` (None: all of them)."""
        if day is None:
            return self._scan("#status = :completed", {":completed": ReportStatus.COMPLETED.value})
        return self._scan(
            "#status = :completed AND billingStartDate <= :day AND billingEndDate >= :day",
            {":completed": ReportStatus.COMPLETED.value, ":day": day.isoformat()},
        )

    def _scan(self, condition: str, values: dict[str, Any]) -> list[Report]:
        """Reports of every partner matching `condition` (a scan: sweeper and publications only,
        never on a request path)."""
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": condition,
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": to_item(values),
            "ConsistentRead": True,
        }
        reports: list[Report] = []
        while True:
            page = self._db.scan(**arguments)
            reports.extend(_report_from(from_item(item)) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return reports
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ---- transitions --------------------------------------------------------------------

    def complete(self, report: Report, file: ReportFile, completed: datetime) -> bool:
        return self._transition(
            report,
            ReportStatus.COMPLETED,
            {**_file_attributes(file), "completed": _iso(completed)},
            release_lock=False,
            remove=["waitingFor", *_LEASE_ATTRIBUTES],
        )

    def mark_waiting(self, report: Report, first_missing: date) -> bool:
        """Park an IN_PROGRESS report until `first_missing` is published (its run ends and gives
        the lease back); False if it changed."""
        return self._update_if(
            report,
            "SET waitingFor = :day REMOVE runName, runSince",
            "#status = :in_progress AND revision = :revision",
            {":day": first_missing.isoformat(), ":in_progress": ReportStatus.IN_PROGRESS.value},
        )

    def claim_waiting(self, report: Report, lease: RunLease | None) -> bool:
        """Un-park a waiting report for the run `lease` names (None: the run that parked it goes
        on); only one claimer (publication, sweeper, Plan) gets True."""
        values: dict[str, Any] = {":in_progress": ReportStatus.IN_PROGRESS.value}
        update = "REMOVE waitingFor"
        if lease is not None:
            update = "SET runName = :run, runSince = :since REMOVE waitingFor"
            values.update({":run": lease.run, ":since": _iso(lease.since)})
        return self._update_if(
            report,
            update,
            "#status = :in_progress AND revision = :revision AND attribute_exists(waitingFor)",
            values,
        )

    def replace_file(self, report: Report, base_revision: int, file: ReportFile, completed: datetime) -> bool:
        """A regenerated COMPLETED report: revision `base_revision` → `report.revision` with the new
        file, if it is still COMPLETED at `base_revision`."""
        assignments = ", ".join(f"#{name} = :{name}" for name in (*_file_attributes(file), "completed", "revision"))
        values = {f":{name}": value for name, value in _file_attributes(file).items()}
        values.update({":completed": _iso(completed), ":revision": report.revision, ":base": base_revision})
        values[":status_completed"] = ReportStatus.COMPLETED.value
        names = {f"#{name}": name for name in (*_file_attributes(file), "completed", "revision")}
        return self._conditional_update(
            report,
            "SET " + assignments + " REMOVE runName, runSince",
            "#status = :status_completed AND #revision = :base",
            values,
            names,
        )

    def claim_regeneration(self, report: Report, lease: RunLease) -> bool:
        """Reserve the next revision of a COMPLETED report for the regeneration run `lease`
        names, one at a time; the run gives it back when it ends (or the sweeper, if it died)."""
        return self._update_if(
            report,
            "SET runName = :run, runSince = :since",
            "#status = :completed AND revision = :revision AND attribute_not_exists(runName)",
            {":run": lease.run, ":since": _iso(lease.since), ":completed": ReportStatus.COMPLETED.value},
        )

    def release_regeneration(self, report: Report, run: str | None = None) -> bool:
        """Give back a regeneration lease (only run `run`'s, when given)."""
        if run is None:
            return self._update_if(report, "REMOVE runName, runSince", "revision = :revision", {})
        return self._update_if(
            report, "REMOVE runName, runSince", "revision = :revision AND runName = :run", {":run": run}
        )

    def take_over_run(self, report: Report, dead_run: str, lease: RunLease) -> bool:
        """Hand a dead run's IN_PROGRESS report to the run `lease` names (a resume); only one
        sweeper wins."""
        return self._update_if(
            report,
            "SET runName = :run, runSince = :since ADD runResumes :one",
            "#status = :in_progress AND revision = :revision AND runName = :dead",
            {
                ":run": lease.run,
                ":since": _iso(lease.since),
                ":one": 1,
                ":dead": dead_run,
                ":in_progress": ReportStatus.IN_PROGRESS.value,
            },
        )

    def record_versions(self, report: Report, day_versions: dict[date, int]) -> bool:
        """A regeneration found the same numbers: only remember the newer versions."""
        return self._update_if(
            report,
            "SET dayVersions = :versions REMOVE runName, runSince",
            "#status = :completed AND revision = :revision AND sha256 = :sha",
            {
                ":versions": _versions_attribute(day_versions),
                ":completed": ReportStatus.COMPLETED.value,
                ":sha": report.sha256,
            },
        )

    def fail(self, report: Report, errors: list[ReportError]) -> bool:
        return self._transition(
            report,
            ReportStatus.FAILED,
            {"errors": [error.to_json() for error in errors]},
            release_lock=True,
            remove=["waitingFor", *_LEASE_ATTRIBUTES],
        )

    def delete(self, partner_org_id: str, report_id: str) -> Report | None:
        for _ in range(5):  # the report may change state between read and delete; re-read then
            item = self._get_item(partner_org_id, report_id) if not report_id.startswith(LOCK_PREFIX) else None
            if not item:
                return None
            report = _report_from(item)
            actions: list[dict[str, Any]] = [
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": to_item({"partnerOrgId": partner_org_id, "reportId": report_id}),
                        "ConditionExpression": "#status = :status AND revision = :revision",
                        "ExpressionAttributeNames": {"#status": "status"},
                        "ExpressionAttributeValues": to_item(
                            {":status": report.status.value, ":revision": report.revision}
                        ),
                    }
                }
            ]
            if report.status is not ReportStatus.FAILED:
                actions.extend(self._lock_delete(report))
            if report.status is ReportStatus.IN_PROGRESS:
                actions.append(self._counter_update(partner_org_id, -1, None))
            try:
                self._db.transact_write_items(TransactItems=actions)
                return report
            except ClientError as error:
                if not _cancellation_codes(error):
                    raise
        raise RuntimeError(f"report {report_id} kept changing while being deleted")

    # ---- internals ----------------------------------------------------------------------

    def _update_if(self, report: Report, update: str, condition: str, values: dict[str, Any]) -> bool:
        return self._conditional_update(
            report, update, condition, {**values, ":revision": report.revision}, {"#status": "status"}
        )

    def _conditional_update(
        self, report: Report, update: str, condition: str, values: dict[str, Any], names: dict[str, str]
    ) -> bool:
        used_names = {
            name: value for name, value in {"#status": "status", **names}.items() if name in condition + update
        }
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "Key": to_item({"partnerOrgId": report.partner_org_id, "reportId": report.report_id}),
            "UpdateExpression": update,
            "ConditionExpression": condition,
            "ExpressionAttributeValues": to_item(values),
        }
        if used_names:
            arguments["ExpressionAttributeNames"] = used_names
        try:
            self._db.update_item(**arguments)
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def _transition(
        self,
        report: Report,
        status: ReportStatus,
        changes: dict[str, Any],
        release_lock: bool,
        remove: list[str] | None = None,
    ) -> bool:
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":in_progress": ReportStatus.IN_PROGRESS.value,
            ":revision": report.revision,
            ":new_status": status.value,
            ":sort_status": f"{status.value}#{report.report_id}",
            ":listing": _listing(replace(report, status=status)),
        }
        assignments = ["#status = :new_status", "sortStatus = :sort_status", "listing = :listing"]
        for position, (name, value) in enumerate(changes.items()):
            names[f"#f{position}"] = name
            values[f":v{position}"] = value
            assignments.append(f"#f{position} = :v{position}")
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": to_item({"partnerOrgId": report.partner_org_id, "reportId": report.report_id}),
                    "UpdateExpression": "SET "
                    + ", ".join(assignments)
                    + (" REMOVE " + ", ".join(remove) if remove else ""),
                    "ConditionExpression": "#status = :in_progress AND revision = :revision",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": to_item(values),
                }
            },
            self._counter_update(report.partner_org_id, -1, None),
        ]
        if release_lock:
            actions.extend(self._lock_delete(report))
        try:
            self._db.transact_write_items(TransactItems=actions)
            return True
        except ClientError as error:
            if _cancellation_codes(error):
                return False
            raise

    def _lock_delete(self, report: Report) -> list[dict[str, Any]]:
        """The action that removes the report's duplicate lock (none: a point-in-time report
        holds no lock)."""
        key = report.request.duplicate_key()
        if key is None:
            return []
        return [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": to_item({"partnerOrgId": report.partner_org_id, "reportId": LOCK_PREFIX + key}),
                    "ConditionExpression": "lockedReportId = :locked",
                    "ExpressionAttributeValues": to_item({":locked": report.report_id}),
                }
            }
        ]

    def _counter_update(self, partner_org_id: str, delta: int, cap: int | None) -> dict[str, Any]:
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": to_item({"partnerOrgId": partner_org_id, "reportId": COUNTER_SK}),
            "UpdateExpression": "ADD inProgress :delta",
            "ExpressionAttributeValues": to_item({":delta": delta}),
        }
        if cap is not None:
            update["ConditionExpression"] = "attribute_not_exists(inProgress) OR inProgress < :cap"
            update["ExpressionAttributeValues"].update(to_item({":cap": cap}))
        return {"Update": update}

    def _get_item(self, partner_org_id: str, sort_key: str) -> dict[str, Any] | None:
        response = self._db.get_item(
            TableName=self._table,
            Key=to_item({"partnerOrgId": partner_org_id, "reportId": sort_key}),
            ConsistentRead=True,
        )
        return from_item(response["Item"]) if "Item" in response else None

    @staticmethod
    def _lock_item(report: Report, duplicate_key: str) -> dict[str, Any]:
        return {
            "partnerOrgId": report.partner_org_id,
            "reportId": LOCK_PREFIX + duplicate_key,
            "lockedReportId": report.report_id,
        }

    @staticmethod
    def _report_item(report: Report) -> dict[str, Any]:
        request = report.request
        return {
            "partnerOrgId": report.partner_org_id,
            "reportId": report.report_id,
            "type": request.report_type.value,
            "billingStartDate": request.period.start.isoformat(),
            "billingEndDate": request.period.end.isoformat(),
            "subPartnerOrgId": request.sub_partner_org_id,
            "internal": request.internal,
            "status": report.status.value,
            "created": _iso(report.created),
            "createdBy": report.created_by,
            "trackingId": report.tracking_id,
            "deadline": int(report.deadline.timestamp()),
            "revision": report.revision,
            "s3Key": report.s3_key,
            "rowCount": report.row_count,
            "sha256": report.sha256,
            "completed": _iso(report.completed) if report.completed else None,
            "errors": [error.to_json() for error in report.errors] or None,
            "sortStart": f"{request.period.start.isoformat()}#{report.report_id}",
            "sortEnd": f"{request.period.end.isoformat()}#{report.report_id}",
            "sortStatus": f"{report.status.value}#{report.report_id}",
            "dayVersions": _versions_attribute(report.day_versions) if report.day_versions else None,
            "waitingFor": report.waiting_for.isoformat() if report.waiting_for else None,
            "runName": report.run.run if report.run else None,
            "runSince": _iso(report.run.since) if report.run else None,
            "runResumes": report.resumes or None,
            "category": request.category.value,
            "asOf": _iso(request.as_of) if request.as_of else None,
            "listing": _listing(report),
        }


_LEASE_ATTRIBUTES = ("runName", "runSince")
FILTERED_READ = 1000  # items a filtered list reads per Query call


def _listing(report: Report) -> str:
    """A report's list item as one attribute: a list page is read and served as it is stored."""
    return json.dumps(report.summary_json(), separators=(",", ":"))


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


# The filter that the sort index's key serves (its sort attribute starts with the value).
_KEY_FILTERS = {
    SortBy.BILLING_START_DATE: "billingStartDate",
    SortBy.BILLING_END_DATE: "billingEndDate",
    SortBy.STATUS: "status",
}


def _sort_prefix(query: ListQuery) -> str | None:
    field = _KEY_FILTERS.get(query.sort_by)
    value = _filter_values(query).get(field) if field else None
    return None if value is None else f"{value}#"


def _filter_expression(query: ListQuery) -> tuple[list[str], dict[str, str], dict[str, Any]]:
    """The filters the key condition does not serve."""
    served = _KEY_FILTERS.get(query.sort_by)
    filters, names, values = [], {}, {}
    for position, (name, value) in enumerate(_filter_values(query).items()):
        if value is not None and name != served:
            names[f"#n{position}"] = name
            values[f":w{position}"] = value
            filters.append(f"#n{position} = :w{position}")
    return filters, names, values


def _cancellation_codes(error: ClientError) -> list[str]:
    if error.response["Error"]["Code"] != "TransactionCanceledException":
        return []
    reasons = error.response.get("CancellationReasons") or []
    codes = [reason.get("Code", "None") for reason in reasons]
    if not codes:  # some endpoints only put the reasons in the message
        message = error.response["Error"].get("Message", "")
        inside = message[message.find("[") + 1 : message.rfind("]")]
        codes = [part.strip() for part in inside.split(",")] if inside else ["Unknown"]
    return codes


def _file_attributes(file: ReportFile) -> dict[str, Any]:
    return {
        "s3Key": file.s3_key,
        "rowCount": file.row_count,
        "sha256": file.sha256,
        "dayVersions": _versions_attribute(file.day_versions),
    }


def _versions_attribute(day_versions: dict[date, int]) -> dict[str, int]:
    return {day.isoformat(): int(version) for day, version in sorted(day_versions.items())}


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _report_from(item: dict[str, Any]) -> Report:
    request = ReportRequest(
        period=BillingPeriod(date.fromisoformat(item["billingStartDate"]), date.fromisoformat(item["billingEndDate"])),
        report_type=ReportType(item["type"]),
        sub_partner_org_id=item.get("subPartnerOrgId"),
        internal=bool(item.get("internal", False)),
        category=ReportCategory(item.get("category") or ReportCategory.RECONCILIATION.value),
        as_of=_parse_iso(item["asOf"]) if item.get("asOf") else None,
    )
    return Report(
        partner_org_id=item["partnerOrgId"],
        report_id=item["reportId"],
        request=request,
        status=ReportStatus(item["status"]),
        created=_parse_iso(item["created"]),
        created_by=item.get("createdBy", ""),
        tracking_id=item.get("trackingId", ""),
        deadline=datetime.fromtimestamp(int(item["deadline"]), tz=timezone.utc),
        revision=int(item.get("revision", 1)),
        s3_key=item.get("s3Key"),
        row_count=item.get("rowCount"),
        sha256=item.get("sha256"),
        completed=_parse_iso(item["completed"]) if item.get("completed") else None,
        errors=tuple(
            ReportError(ReportErrorCode(int(error["code"])), str(error["description"]))
            for error in item.get("errors") or []
        ),
        day_versions=(
            {date.fromisoformat(day): int(version) for day, version in item["dayVersions"].items()}
            if item.get("dayVersions")
            else None
        ),
        waiting_for=date.fromisoformat(item["waitingFor"]) if item.get("waitingFor") else None,
        run=RunLease(item["runName"], _parse_iso(item["runSince"])) if item.get("runName") else None,
        resumes=int(item.get("runResumes") or 0),
    )
