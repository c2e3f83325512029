"""Which usage days are published, and at which lake version (DynamoDB table `usage_days`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from .dynamo_codec import from_item, to_item

_LATEST = "#latest"  # the item that remembers the latest published day


def table_definition(table_name: str) -> dict[str, Any]:
    return {
        "TableName": table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "usageDate", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "usageDate", "KeyType": "HASH"}],
    }


class DynamoUsageCalendar:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    def published_versions(self, days: Iterable[date]) -> dict[date, int]:
        keys = [day.isoformat() for day in days]
        versions: dict[date, int] = {}
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {
                self._table: {
                    "Keys": [to_item({"usageDate": key}) for key in keys[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            while request:
                response = self._db.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self._table, []):
                    values = from_item(item)
                    versions[date.fromisoformat(values["usageDate"])] = int(values["version"])
                request = response.get("UnprocessedKeys") or {}
        return versions

    def latest_published_day(self) -> date | None:
        response = self._db.get_item(TableName=self._table, Key=to_item({"usageDate": _LATEST}), ConsistentRead=True)
        if "Item" not in response:
            return None
        return date.fromisoformat(from_item(response["Item"])["latestDay"])

    def claim(self, day: date, version: int) -> bool:
        """Reserve `version` of `day` for one rating run; False if another run has it."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "usageDate": f"#claim#{day.isoformat()}#{version}",
                        "claimedAt": datetime.now(timezone.utc).isoformat(),
                    }
                ),
                ConditionExpression="attribute_not_exists(usageDate)",
            )
            return True
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise

    def publish(self, day: date, version: int, row_count: int) -> bool:
        """Publish `day` at `version` unless a newer version is already published."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item=to_item(
                    {
                        "usageDate": day.isoformat(),
                        "version": version,
                        "rowCount": row_count,
                        "publishedAt": datetime.now(timezone.utc).isoformat(),
                    }
                ),
                ConditionExpression="attribute_not_exists(version) OR version < :v",
                ExpressionAttributeValues=to_item({":v": version}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        try:
            self._db.put_item(
                TableName=self._table,
                Item=to_item({"usageDate": _LATEST, "latestDay": day.isoformat()}),
                ConditionExpression="attribute_not_exists(latestDay) OR latestDay < :d",
                ExpressionAttributeValues=to_item({":d": day.isoformat()}),
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        return True
