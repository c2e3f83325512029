"""Which usage days are published, and at which lake version (DynamoDB table `usage_days`).

Besides one item per published day, the table holds its bookkeeping under keys starting with
`#`: the latest published day, rating claims, the data epoch (the first day with events) and
the restatement marker. Its stream carries the publications and the marker to their handlers
(ARCHITECTURE.md §6): `message_of_stream_record` types them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime, timezone
from typing import Any

from chalicelib.domain.messages import DayPublished, Message, RestatementRequested

from .dynamo_codec import from_item, to_item
from .dynamo_conditions import conditionally
from .dynamo_tables import string_keyed_table

_LATEST = "#latest"  # the item that remembers the latest published day
_EPOCH = "#epoch"  # the first day any event occurred on (earlier days are published empty)
_RESTATE = "#restate"  # late events landed: re-rate from `fromDay` (one marker, moved earlier)


def table_definition(table_name: str) -> dict[str, Any]:
    return {
        **string_keyed_table(table_name, "usageDate"),
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def message_of_stream_record(record: dict[str, Any]) -> Message | None:
    """What a `usage_days` stream record announces: a day published (or restated), a restatement
    requested; None for the other bookkeeping items and for removals."""
    if record.get("eventName") not in ("INSERT", "MODIFY"):
        return None
    image = from_item(record.get("dynamodb", {}).get("NewImage") or {})
    key = str(image.get("usageDate", ""))
    if key == _RESTATE and "fromDay" in image:
        return RestatementRequested(date.fromisoformat(image["fromDay"]), str(image.get("token", "")))
    if not key or key.startswith("#") or "version" not in image:
        return None
    return DayPublished(date.fromisoformat(key), int(image["version"]))


class DynamoUsageCalendar:
    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._db = dynamodb
        self._table = table_name

    def published_versions(self, days: Iterable[date]) -> dict[date, int]:
        return {day: version for day, (version, _) in self.published(days).items()}

    def published(self, days: Iterable[date]) -> dict[date, tuple[int, int]]:
        """(version, usage rows written) of each day of `days` that is published."""
        keys = [day.isoformat() for day in days]
        versions: dict[date, tuple[int, int]] = {}
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
                    rows = int(values.get("rowCount", -1))  # -1: published before counts were kept
                    versions[date.fromisoformat(values["usageDate"])] = (int(values["version"]), rows)
                request = response.get("UnprocessedKeys") or {}
        return versions

    def latest_published_day(self) -> date | None:
        response = self._db.get_item(TableName=self._table, Key=to_item({"usageDate": _LATEST}), ConsistentRead=True)
        if "Item" not in response:
            return None
        return date.fromisoformat(from_item(response["Item"])["latestDay"])

    def claim(self, day: date, version: int) -> bool:
        """Reserve `version` of `day` for one rating run; False if another run has it."""
        return conditionally(
            self._db.put_item,
            TableName=self._table,
            Item=to_item(
                {
                    "usageDate": f"#claim#{day.isoformat()}#{version}",
                    "claimedAt": datetime.now(timezone.utc).isoformat(),
                }
            ),
            ConditionExpression="attribute_not_exists(usageDate)",
        )

    def publish(self, day: date, version: int, row_count: int) -> bool:
        """Publish `day` at `version` unless a newer version is already published."""
        published = conditionally(
            self._db.put_item,
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
        if not published:
            return False
        conditionally(  # a later day may be the latest already: then it stays
            self._db.put_item,
            TableName=self._table,
            Item=to_item({"usageDate": _LATEST, "latestDay": day.isoformat()}),
            ConditionExpression="attribute_not_exists(latestDay) OR latestDay < :d",
            ExpressionAttributeValues=to_item({":d": day.isoformat()}),
        )
        return True

    # ---- the data epoch -------------------------------------------------------------------

    def data_epoch(self) -> date | None:
        """The first day any event occurred on; days before it have no usage (published empty)."""
        response = self._db.get_item(TableName=self._table, Key=to_item({"usageDate": _EPOCH}), ConsistentRead=True)
        return date.fromisoformat(from_item(response["Item"])["firstDay"]) if "Item" in response else None

    def extend_epoch(self, first_day: date) -> bool:
        """Events landed for `first_day`: move the epoch back to it if it is earlier."""
        return self._lower(_EPOCH, "firstDay", first_day, {})

    # ---- the restatement marker -----------------------------------------------------------

    def request_restatement(self, from_day: date) -> bool:
        """Record durably that days from `from_day` on must be re-rated (ingestion never re-rates
        in-line). A pending marker from an earlier day already covers it: False."""
        return self._lower(
            _RESTATE,
            "fromDay",
            from_day,
            {"token": uuid.uuid4().hex, "requestedAt": datetime.now(timezone.utc).isoformat()},
        )

    def pending_restatement(self) -> RestatementRequested | None:
        response = self._db.get_item(TableName=self._table, Key=to_item({"usageDate": _RESTATE}), ConsistentRead=True)
        if "Item" not in response:
            return None
        item = from_item(response["Item"])
        return RestatementRequested(date.fromisoformat(item["fromDay"]), str(item["token"]))

    def advance_restatement(self, marker: RestatementRequested, next_day: date | None) -> bool:
        """A rating run re-rated `marker.from_day` up to `next_day` (exclusive; None: through the
        latest day). Moves the marker on, or removes it, unless a newer request moved it."""
        condition = {"ConditionExpression": "#token = :token", "ExpressionAttributeNames": {"#token": "token"}}
        if next_day is None:
            return conditionally(
                self._db.delete_item,
                TableName=self._table,
                Key=to_item({"usageDate": _RESTATE}),
                ExpressionAttributeValues=to_item({":token": marker.token}),
                **condition,
            )
        return conditionally(
            self._db.update_item,
            TableName=self._table,
            Key=to_item({"usageDate": _RESTATE}),
            UpdateExpression="SET fromDay = :next, #token = :new",
            ExpressionAttributeValues=to_item(
                {":token": marker.token, ":next": next_day.isoformat(), ":new": uuid.uuid4().hex}
            ),
            **condition,
        )

    def _lower(self, key: str, attribute: str, day: date, extra: dict[str, Any]) -> bool:
        """Set `attribute` of item `key` to `day` if absent or later (conditional, so concurrent
        writers keep the earliest)."""
        names = {f"#{name}": name for name in (attribute, *extra)}
        assignments = ", ".join(f"#{name} = :{name}" for name in (attribute, *extra))
        return conditionally(
            self._db.update_item,
            TableName=self._table,
            Key=to_item({"usageDate": key}),
            UpdateExpression=f"SET {assignments}",
            ConditionExpression=f"attribute_not_exists(#{attribute}) OR #{attribute} > :{attribute}",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=to_item(
                {f":{attribute}": day.isoformat(), **{f":{k}": v for k, v in extra.items()}}
            ),
        )
