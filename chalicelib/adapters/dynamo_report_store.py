"""Report metadata in DynamoDB (ARCHITECTURE.md §7): the report store's operations.

The table (keys, indexes, list queries) is `dynamo_report_table`, the items `dynamo_report_codec`.
Each operation is a transition of domain/lifecycle.py: the lock and counter actions written
with the report, and the statuses an operation applies to, are the ones it declares.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain.lifecycle import (
    Transition,
    only_source,
    source_statuses,
    target_status,
    touches_only_the_report,
)
from chalicelib.domain.listing import ListQuery
from chalicelib.domain.messages import RunLease
from chalicelib.domain.reports import Report, ReportError, ReportStatus
from chalicelib.services.ports import DuplicateReport, InProgressLimitReached, ReportFile

from . import dynamo_report_table as table
from .dynamo_codec import from_item, to_item
from .dynamo_conditions import ACTION_CONDITION_FAILED, cancellation_codes, conditionally, transacted
from .dynamo_report_codec import (
    LEASE_ATTRIBUTES,
    file_attributes,
    iso,
    listing,
    report_from,
    report_item,
    sort_status,
    versions_attribute,
)
from .dynamo_report_locks import lock_delete, move_actions

# Re-exported: infra/template.json names "chalicelib.adapters.dynamo_report_store.table_definition",
# and tests import the keys and indexes from here.
from .dynamo_report_table import COUNTER_SK, LOCK_PREFIX, SORT_INDEXES, table_definition

__all__ = ["COUNTER_SK", "LOCK_PREFIX", "SORT_INDEXES", "DynamoReportStore", "table_definition"]

_REMOVE_LEASE = "REMOVE " + ", ".join(LEASE_ATTRIBUTES)
# What completing or failing removes from the report: the run's lease, and any wait.
_ENDED = ("waitingFor", *LEASE_ATTRIBUTES)


class DynamoReportStore:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    # ---- create -------------------------------------------------------------------------

    def create(self, report: Report, max_in_progress: int) -> None:
        """Put the report with its lock and counter actions (lifecycle: none → IN_PROGRESS, the
        lock taken if no report holds it, +1 under the cap) in one transaction."""
        status = target_status(Transition.CREATE, None)
        if status is None or report.status is not status:
            raise ValueError(f"a new report is {status}, not {report.status.value}")
        effects = move_actions(self._table, report, None, status, cap=max_in_progress)
        try:
            self._db.transact_write_items(
                TransactItems=[*effects.values(), table.put_new(self._table, report_item(report))]
            )
        except ClientError as error:
            codes = cancellation_codes(error)
            refused = {name for name, code in zip(effects, codes, strict=False) if code == ACTION_CONDITION_FAILED}
            key = report.request.duplicate_key()
            if "lock" in refused and key is not None:
                lock = self._get_item(report.partner_org_id, LOCK_PREFIX + key)
                raise DuplicateReport(lock["lockedReportId"] if lock else "", key) from None
            if "counter" in refused:
                raise InProgressLimitReached() from None
            raise

    def release_stale_lock(self, partner_org_id: str, duplicate_key: str, report_id: str) -> bool:
        """Remove a lock that still names `report_id`, a report that no longer holds it
        (lifecycle.duplicate_answer is NEW: FAILED or gone; the counter is not its business)."""
        return conditionally(self._db.delete_item, **lock_delete(self._table, partner_org_id, duplicate_key, report_id))

    # ---- read ---------------------------------------------------------------------------

    def get(self, partner_org_id: str, report_id: str) -> Report | None:
        if not table.is_report_key(report_id):
            return None
        item = self._get_item(partner_org_id, report_id)
        return report_from(item) if item else None

    def sort_value(self, item: dict[str, Any], query: ListQuery) -> str:
        """The sort attribute of a listed item (`Report.summary_json()` form) under `query`."""
        return table.sort_value(item, query)

    def list(
        self, partner_org_id: str, query: ListQuery, after: tuple[str, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """Up to `limit` list items (`Report.summary_json()`, stored beside each report as one
        `listing` attribute: the page is read as it is served) in the query's order, after
        `after`: Queries on the index of the sort (dynamo_report_table.list_arguments)."""
        arguments = table.list_arguments(self._table, partner_org_id, query, after, limit)
        limit_left = arguments["Limit"] == limit
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

    def overdue(self, now: datetime) -> builtins.list[Report]:
        """Reports of every partner still IN_PROGRESS after their deadline (the sweeper's query)."""
        return self._scan(
            "#status = :in_progress AND deadline < :now",
            {":in_progress": ReportStatus.IN_PROGRESS.value, ":now": int(now.timestamp())},
        )

    def waiting(self) -> builtins.list[Report]:
        """IN_PROGRESS reports of every partner parked until some day is published."""
        return self._scan(
            "#status = :in_progress AND attribute_exists(waitingFor)",
            {":in_progress": ReportStatus.IN_PROGRESS.value},
        )

    def leased(self) -> builtins.list[Report]:
        """Reports of every partner that a run holds (the sweeper checks that the run lives)."""
        return self._scan(
            "attribute_exists(runName) AND attribute_not_exists(waitingFor) AND #status <> :failed",
            {":failed": ReportStatus.FAILED.value},
        )

    def completed_covering(self, day: date | None) -> builtins.list[Report]:
        """COMPLETED reports of every partner whose period contains `day` (None: all of them)."""
        if day is None:
            return self._scan("#status = :completed", {":completed": ReportStatus.COMPLETED.value})
        return self._scan(
            "#status = :completed AND billingStartDate <= :day AND billingEndDate >= :day",
            {":completed": ReportStatus.COMPLETED.value, ":day": day.isoformat()},
        )

    def _scan(self, condition: str, values: dict[str, Any]) -> builtins.list[Report]:
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
            reports.extend(report_from(from_item(item)) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return reports
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ---- transitions that move the lock or the counter (dynamo_report_locks) -------------

    def complete(self, report: Report, file: ReportFile, completed: datetime) -> bool:
        return self._transition(report, Transition.COMPLETE, {**file_attributes(file), "completed": iso(completed)})

    def fail(self, report: Report, errors: builtins.list[ReportError]) -> bool:
        return self._transition(report, Transition.FAIL, {"errors": [error.to_json() for error in errors]})

    def delete(self, partner_org_id: str, report_id: str) -> Report | None:
        for _ in range(5):  # the report may change state between read and delete; re-read then
            item = self._get_item(partner_org_id, report_id) if table.is_report_key(report_id) else None
            if not item:
                return None
            report = report_from(item)
            remove = {
                "Delete": {
                    "TableName": self._table,
                    "Key": table.item_key(partner_org_id, report_id),
                    "ConditionExpression": "#status = :status AND revision = :revision",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": to_item(
                        {":status": report.status.value, ":revision": report.revision}
                    ),
                }
            }
            effects = move_actions(
                self._table, report, report.status, target_status(Transition.DELETE, report.status), None
            )
            if transacted(self._db.transact_write_items, TransactItems=[remove, *effects.values()]):
                return report
        raise RuntimeError(f"report {report_id} kept changing while being deleted")

    def _transition(self, report: Report, transition: Transition, changes: dict[str, Any]) -> bool:
        """`transition` of a report at its revision in the one status it applies to: the new
        status and `changes` set, the run's lease (and any wait) removed, with the lock and
        counter actions of the move, in one transaction."""
        source = only_source(transition)
        status = target_status(transition, source)
        if status is None:
            raise ValueError(f"{transition.value} removes the report: not a status change")
        names = {"#status": "status"}
        values: dict[str, Any] = {
            ":from": source.value,
            ":revision": report.revision,
            ":new_status": status.value,
            ":sort_status": sort_status(status, report.report_id),
            ":listing": listing(replace(report, status=status)),
        }
        assignments = ["#status = :new_status", "sortStatus = :sort_status", "listing = :listing"]
        for position, (name, value) in enumerate(changes.items()):
            names[f"#f{position}"] = name
            values[f":v{position}"] = value
            assignments.append(f"#f{position} = :v{position}")
        update = {
            "Update": {
                "TableName": self._table,
                "Key": table.item_key(report.partner_org_id, report.report_id),
                "UpdateExpression": "SET " + ", ".join(assignments) + " REMOVE " + ", ".join(_ENDED),
                "ConditionExpression": "#status = :from AND revision = :revision",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_item(values),
            }
        }
        effects = move_actions(self._table, report, source, status, None)
        return transacted(self._db.transact_write_items, TransactItems=[update, *effects.values()])

    # ---- transitions of the report alone ------------------------------------------------

    def mark_waiting(self, report: Report, first_missing: date) -> bool:
        """Park an IN_PROGRESS report until `first_missing` is published (its run ends and gives
        the lease back); False if it changed."""
        return self._update_if(
            report,
            Transition.MARK_WAITING,
            f"SET waitingFor = :day {_REMOVE_LEASE}",
            {":day": first_missing.isoformat()},
        )

    def claim_waiting(self, report: Report, lease: RunLease | None) -> bool:
        """Un-park a waiting report for the run `lease` names (None: the run that parked it goes
        on); only one claimer (publication, sweeper, Plan) gets True."""
        values: dict[str, Any] = {}
        update = "REMOVE waitingFor"
        if lease is not None:
            update = "SET runName = :run, runSince = :since REMOVE waitingFor"
            values.update({":run": lease.run, ":since": iso(lease.since)})
        return self._update_if(report, Transition.CLAIM_WAITING, update, values, "attribute_exists(waitingFor)")

    def replace_file(self, report: Report, base_revision: int, file: ReportFile, completed: datetime) -> bool:
        """A regenerated COMPLETED report: revision `base_revision` → `report.revision` with the new
        file, if it is still COMPLETED at `base_revision`."""
        changes = {**file_attributes(file), "completed": iso(completed), "revision": report.revision}
        assignments = ", ".join(f"#{name} = :{name}" for name in changes)
        return self._update_if(
            report,
            Transition.REPLACE_FILE,
            f"SET {assignments} {_REMOVE_LEASE}",
            {f":{name}": value for name, value in changes.items()},
            names={f"#{name}": name for name in changes},
            at_revision=base_revision,
        )

    def claim_regeneration(self, report: Report, lease: RunLease) -> bool:
        """Reserve the next revision of a COMPLETED report for the regeneration run `lease`
        names, one at a time; the run gives it back when it ends (or the sweeper, if it died)."""
        return self._update_if(
            report,
            Transition.CLAIM_REGENERATION,
            "SET runName = :run, runSince = :since",
            {":run": lease.run, ":since": iso(lease.since)},
            "attribute_not_exists(runName)",
        )

    def release_regeneration(self, report: Report, run: str | None = None) -> bool:
        """Give back a regeneration lease (only run `run`'s, when given)."""
        if run is None:
            return self._update_if(report, Transition.RELEASE_REGENERATION, _REMOVE_LEASE, {})
        return self._update_if(report, Transition.RELEASE_REGENERATION, _REMOVE_LEASE, {":run": run}, "runName = :run")

    def take_over_run(self, report: Report, dead_run: str, lease: RunLease) -> bool:
        """Hand a dead run's IN_PROGRESS report to the run `lease` names (a resume); only one
        sweeper wins."""
        return self._update_if(
            report,
            Transition.TAKE_OVER_RUN,
            "SET runName = :run, runSince = :since ADD runResumes :one",
            {":run": lease.run, ":since": iso(lease.since), ":one": 1, ":dead": dead_run},
            "runName = :dead",
        )

    def record_versions(self, report: Report, day_versions: dict[date, int]) -> bool:
        """A regeneration found the same numbers: only remember the newer versions."""
        return self._update_if(
            report,
            Transition.RECORD_VERSIONS,
            f"SET dayVersions = :versions {_REMOVE_LEASE}",
            {":versions": versions_attribute(day_versions), ":sha": report.sha256},
            "sha256 = :sha",
        )

    def _update_if(
        self,
        report: Report,
        transition: Transition,
        update: str,
        values: dict[str, Any],
        condition: str | None = None,
        names: dict[str, str] | None = None,
        at_revision: int | None = None,
    ) -> bool:
        """Update the report alone (`transition` moves neither lock nor counter) if it is in a
        status `transition` applies to, at `at_revision` (default: its revision) and `condition`
        holds; False if not."""
        if not touches_only_the_report(transition):
            raise ValueError(f"{transition.value} moves the lock or the counter: not a single-item update")
        values = {**values, ":at": report.revision if at_revision is None else at_revision}
        conditions = ["revision = :at", *([condition] if condition else [])]
        names = dict(names or {})
        if set(source_statuses(transition)) != set(ReportStatus):  # else: whatever its status
            values[":from"] = only_source(transition).value
            names["#status"] = "status"
            conditions.insert(0, "#status = :from")
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "Key": table.item_key(report.partner_org_id, report.report_id),
            "UpdateExpression": update,
            "ConditionExpression": " AND ".join(conditions),
            "ExpressionAttributeValues": to_item(values),
        }
        if names:
            arguments["ExpressionAttributeNames"] = names
        return conditionally(self._db.update_item, **arguments)

    def _get_item(self, partner_org_id: str, sort_key: str) -> dict[str, Any] | None:
        response = self._db.get_item(
            TableName=self._table, Key=table.item_key(partner_org_id, sort_key), ConsistentRead=True
        )
        return from_item(response["Item"]) if "Item" in response else None
