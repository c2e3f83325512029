"""Schedules in DynamoDB (table `schedules`, DESIGN §13): one partition per partner
(`partnerOrgId`), and under `itemKey`:

    SCHEDULE#<scheduleId>                 a schedule (its report fields as given, in JSON)
    #count                                the partner's number of schedules (the cap)
    RUN#<scheduleId>#<YYYY-MM>            the schedule's run of a month: the report made or adopted
    REPORT#<reportId>#<scheduleId>#<YYYY-MM>   the same run, found from its report

A run is written once, conditionally, with its report index in one transaction: a second
publication, a retry or a concurrent worker finds it there."""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain.months import Month
from chalicelib.domain.schedules import Schedule, ScheduleRun, parse_month
from chalicelib.domain.timestamps import iso_millis, parse_iso
from chalicelib.services.schedule_ports import ScheduleLimitReached

from .dynamo_codec import from_item, to_item
from .dynamo_conditions import ACTION_CONDITION_FAILED, cancellation_codes, conditionally, transacted
from .dynamo_tables import counter_update, string_keyed_table

COUNT_KEY = "#count"
SCHEDULE_PREFIX = "SCHEDULE#"
RUN_PREFIX = "RUN#"
REPORT_PREFIX = "REPORT#"


def table_definition(table_name: str) -> dict[str, Any]:
    """CreateTable arguments: the one definition used by the local stack, tests and infra."""
    return string_keyed_table(table_name, "partnerOrgId", "itemKey")


def schedule_item(schedule: Schedule) -> dict[str, Any]:
    return {
        "partnerOrgId": schedule.partner_org_id,
        "itemKey": SCHEDULE_PREFIX + schedule.schedule_id,
        "scheduleId": schedule.schedule_id,
        "report": json.dumps(dict(schedule.report_fields), separators=(",", ":"), sort_keys=True),
        "firstMonth": str(schedule.first_month),
        "created": iso_millis(schedule.created),
        "createdBy": schedule.created_by,
        "s3Bucket": schedule.s3_bucket,
        "s3Prefix": schedule.s3_prefix if schedule.s3_bucket else None,
    }


def schedule_from(item: Mapping[str, Any]) -> Schedule:
    return Schedule(
        partner_org_id=item["partnerOrgId"],
        schedule_id=item["scheduleId"],
        report_fields=json.loads(item["report"]),
        first_month=parse_month("firstMonth", item["firstMonth"]),
        created=parse_iso(item["created"]),
        created_by=item.get("createdBy", ""),
        s3_bucket=item.get("s3Bucket"),
        s3_prefix=item.get("s3Prefix", ""),
    )


def run_from(item: Mapping[str, Any]) -> ScheduleRun:
    return ScheduleRun(
        partner_org_id=item["partnerOrgId"],
        schedule_id=item["scheduleId"],
        month=parse_month("month", item["month"]),
        report_id=item.get("reportId"),
        at=parse_iso(item["at"]),
        problem=item.get("problem"),
        delivered_revision=int(item.get("deliveredRevision", 0)),
    )


def _run_key(schedule_id: str, month: Month) -> str:
    return f"{RUN_PREFIX}{schedule_id}#{month}"


class DynamoScheduleStore:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    def _key(self, partner_org_id: str, item_key: str) -> dict[str, Any]:
        return to_item({"partnerOrgId": partner_org_id, "itemKey": item_key})

    def _count(self, partner_org_id: str, delta: int, cap: int | None) -> dict[str, Any]:
        return counter_update(self._table, self._key(partner_org_id, COUNT_KEY), "schedules", delta, cap)

    # ---- schedules ----------------------------------------------------------------------

    def create(self, schedule: Schedule, max_per_partner: int) -> None:
        put = {
            "Put": {
                "TableName": self._table,
                "Item": to_item(schedule_item(schedule)),
                "ConditionExpression": "attribute_not_exists(itemKey)",
            }
        }
        try:
            self._db.transact_write_items(TransactItems=[self._count(schedule.partner_org_id, 1, max_per_partner), put])
        except ClientError as error:
            codes = cancellation_codes(error)
            if codes and codes[0] == ACTION_CONDITION_FAILED:
                raise ScheduleLimitReached() from None
            raise

    def get(self, partner_org_id: str, schedule_id: str) -> Schedule | None:
        item = self._get(partner_org_id, SCHEDULE_PREFIX + schedule_id)
        return schedule_from(item) if item else None

    def list(self, partner_org_id: str, after: str | None, limit: int) -> builtins.list[Schedule]:
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "partnerOrgId = :partner AND begins_with(itemKey, :prefix)",
            "ExpressionAttributeValues": to_item({":partner": partner_org_id, ":prefix": SCHEDULE_PREFIX}),
            "ConsistentRead": True,
            "Limit": limit,
        }
        if after is not None:
            arguments["ExclusiveStartKey"] = self._key(partner_org_id, SCHEDULE_PREFIX + after)
        schedules: list[Schedule] = []
        while len(schedules) < limit:
            page = self._db.query(**arguments)
            schedules.extend(schedule_from(from_item(item)) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return schedules[:limit]

    def every(self) -> builtins.list[Schedule]:
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(itemKey, :prefix)",
            "ExpressionAttributeValues": to_item({":prefix": SCHEDULE_PREFIX}),
            "ConsistentRead": True,
        }
        schedules: list[Schedule] = []
        while True:
            page = self._db.scan(**arguments)
            schedules.extend(schedule_from(from_item(item)) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return sorted(schedules, key=lambda schedule: (schedule.partner_org_id, schedule.schedule_id))
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def delete(self, partner_org_id: str, schedule_id: str) -> bool:
        remove = {
            "Delete": {
                "TableName": self._table,
                "Key": self._key(partner_org_id, SCHEDULE_PREFIX + schedule_id),
                "ConditionExpression": "attribute_exists(itemKey)",
            }
        }
        return transacted(self._db.transact_write_items, TransactItems=[remove, self._count(partner_org_id, -1, None)])

    # ---- runs ---------------------------------------------------------------------------

    def run(self, partner_org_id: str, schedule_id: str, month: Month) -> ScheduleRun | None:
        item = self._get(partner_org_id, _run_key(schedule_id, month))
        return run_from(item) if item else None

    def record_run(self, run: ScheduleRun) -> bool:
        values = {
            "partnerOrgId": run.partner_org_id,
            "itemKey": _run_key(run.schedule_id, run.month),
            "scheduleId": run.schedule_id,
            "month": str(run.month),
            "reportId": run.report_id,
            "problem": run.problem,
            "at": iso_millis(run.at),
            "deliveredRevision": run.delivered_revision,
        }
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": to_item(values),
                    "ConditionExpression": "attribute_not_exists(itemKey)",
                }
            }
        ]
        if run.report_id:
            index = {**values, "itemKey": f"{REPORT_PREFIX}{run.report_id}#{run.schedule_id}#{run.month}"}
            actions.append({"Put": {"TableName": self._table, "Item": to_item(index)}})
        return transacted(self._db.transact_write_items, TransactItems=actions)

    def runs_of_report(self, partner_org_id: str, report_id: str) -> builtins.list[ScheduleRun]:
        page = self._db.query(
            TableName=self._table,
            KeyConditionExpression="partnerOrgId = :partner AND begins_with(itemKey, :prefix)",
            ExpressionAttributeValues=to_item({":partner": partner_org_id, ":prefix": f"{REPORT_PREFIX}{report_id}#"}),
            ConsistentRead=True,
        )
        runs = []
        for item in page.get("Items", []):
            values = from_item(item)
            run = self.run(partner_org_id, values["scheduleId"], parse_month("month", values["month"]))
            if run is not None and run.report_id == report_id:
                runs.append(run)
        return runs

    def mark_delivered(self, run: ScheduleRun, revision: int) -> bool:
        return conditionally(
            self._db.update_item,
            TableName=self._table,
            Key=self._key(run.partner_org_id, _run_key(run.schedule_id, run.month)),
            UpdateExpression="SET deliveredRevision = :revision",
            ConditionExpression="attribute_exists(itemKey) AND deliveredRevision < :revision",
            ExpressionAttributeValues=to_item({":revision": revision}),
        )

    def _get(self, partner_org_id: str, item_key: str) -> dict[str, Any] | None:
        response = self._db.get_item(
            TableName=self._table, Key=self._key(partner_org_id, item_key), ConsistentRead=True
        )
        return from_item(response["Item"]) if "Item" in response else None
