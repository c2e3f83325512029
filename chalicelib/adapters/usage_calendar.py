"""Which usage days are published, and at which lake version (DynamoDB table `usage_days`).

Besides one item per published day, the table holds its bookkeeping under keys starting with
`#`: the latest published day, rating claims, the data epoch (the first day with events) and
the restatement marker. Its stream carries the publications and the marker to their handlers
(ARCHITECTURE.md §6): `message_of_stream_record` types them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timezone
from typing import Any

from chalicelib.domain.calendar_view import CalendarView
from chalicelib.domain.messages import DayPublished, Message, RestatementRequested
from chalicelib.domain.restatement import Obligation, RestatementMarker, RestatementPass

from .dynamo_codec import from_item, to_item
from .dynamo_conditions import conditionally
from .dynamo_tables import string_keyed_table

_LATEST = "#latest"  # the item that remembers the latest published day
_EPOCH = "#epoch"  # the first day any event occurred on (earlier days are published empty)
_RESTATE = "#restate"  # late events landed: the obligations to re-rate (domain/restatement.py)
_PASS = "#restating"  # the latest restatement pass's progress (days done / to do)
_LANDINGS = "#landings"  # events being landed whose ingest has not asked for a restatement yet
_CLAIMED = "#claimed"  # the latest day any rating run claimed (it reads events only after claiming)


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
        return {day: (version, rows) for day, (version, rows, _) in self.publications(days).items()}

    def publications(self, days: Iterable[date]) -> dict[date, tuple[int, int, str | None]]:
        """(version, usage rows written, when published: ISO-8601) of each published day of `days`."""
        return self.view(days).publications

    def view(self, days: Iterable[date]) -> CalendarView:
        """The publications of `days`, the latest published day and the data epoch, in one
        batch read (the read API asks for all three on every request)."""
        keys = [day.isoformat() for day in days] + [_LATEST, _EPOCH]
        versions: dict[date, tuple[int, int, str | None]] = {}
        latest: date | None = None
        epoch: date | None = None
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
                    if values["usageDate"] == _LATEST:
                        latest = date.fromisoformat(str(values["latestDay"]))
                        continue
                    if values["usageDate"] == _EPOCH:
                        epoch = date.fromisoformat(str(values["firstDay"]))
                        continue
                    rows = int(values.get("rowCount", -1))  # -1: published before counts were kept
                    published_at = values.get("publishedAt")
                    versions[date.fromisoformat(values["usageDate"])] = (
                        int(values["version"]),
                        rows,
                        str(published_at) if published_at else None,
                    )
                request = response.get("UnprocessedKeys") or {}
        return CalendarView(versions, latest, epoch)

    def latest_published_day(self) -> date | None:
        response = self._db.get_item(TableName=self._table, Key=to_item({"usageDate": _LATEST}), ConsistentRead=True)
        if "Item" not in response:
            return None
        return date.fromisoformat(from_item(response["Item"])["latestDay"])

    def claim(self, day: date, version: int) -> bool:
        """Reserve `version` of `day` for one rating run; False if another run has it. The run
        reads the day's events only after this: an ingest that finds the day claimed (or
        published) after landing asks for a restatement, else the day's rating reads its events."""
        claimed = conditionally(
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
        if claimed:
            self._raise(_CLAIMED, "latestDay", day)
        return claimed

    def latest_claimed_day(self) -> date | None:
        """The latest day a rating run claimed (published or being rated), at least the latest
        published day (calendars from before claims were recorded have only that)."""
        response = self._db.batch_get_item(
            RequestItems={
                self._table: {
                    "Keys": [to_item({"usageDate": _CLAIMED}), to_item({"usageDate": _LATEST})],
                    "ConsistentRead": True,
                }
            }
        )
        days = [
            date.fromisoformat(str(values.get("latestDay")))
            for values in map(from_item, response["Responses"].get(self._table, []))
            if values.get("latestDay")
        ]
        return max(days) if days else None

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

    # ---- the restatement marker (its rule: domain/restatement.py) ----------------------------

    def restatement_marker(self) -> RestatementMarker:
        return self._read_marker()[0]

    def pending_restatement(self) -> RestatementRequested | None:
        marker = self.restatement_marker()
        if not marker.pending:
            return None
        return RestatementRequested(marker.from_day, str(marker.seq))

    def request_restatement(self, from_day: date) -> int:
        """Record durably that days from `from_day` on must be re-rated (ingestion never re-rates
        in-line): every request is an obligation of its own, even for a day already pending,
        so a pass that started before it cannot clear it. Its request number."""
        marker = self._change_marker(lambda marker: marker.requested(from_day))
        return marker.seq

    def settle_restatement(self, snapshot: int, through: date, finished: bool) -> RestatementMarker:
        """A pass that read the marker at `snapshot` re-rated through `through` (`finished`: through
        the latest rated day): settle what it saw; requests it did not see stay."""
        return self._change_marker(lambda marker: marker.passed(snapshot, through, finished))

    def _read_marker(self) -> tuple[RestatementMarker, dict[str, Any] | None]:
        response = self._db.get_item(TableName=self._table, Key=to_item({"usageDate": _RESTATE}), ConsistentRead=True)
        if "Item" not in response:
            return RestatementMarker(), None
        item = from_item(response["Item"])
        if "obligations" not in item:  # a marker written before obligations: one, seen by no pass yet
            return RestatementMarker(0, (Obligation(0, date.fromisoformat(item["fromDay"])),)), item
        obligations = tuple(
            Obligation(int(seq), date.fromisoformat(day))
            for seq, day in (entry.split("@") for entry in item["obligations"])
        )
        return RestatementMarker(int(item["seq"]), obligations), item

    def _change_marker(self, change: Callable[[RestatementMarker], RestatementMarker]) -> RestatementMarker:
        """Compare and set: read the marker, apply the domain's rule, write it back only if no
        other writer changed it meanwhile (else read again)."""
        while True:
            marker, item = self._read_marker()
            changed = change(marker)
            if item is None:
                condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(usageDate)"}
            elif "seq" not in item:
                condition = {
                    "ConditionExpression": "attribute_not_exists(#seq) AND #token = :token",
                    "ExpressionAttributeNames": {"#seq": "seq", "#token": "token"},
                    "ExpressionAttributeValues": to_item({":token": item.get("token", "")}),
                }
            else:
                condition = {
                    "ConditionExpression": "#seq = :seq",
                    "ExpressionAttributeNames": {"#seq": "seq"},
                    "ExpressionAttributeValues": to_item({":seq": marker.seq}),
                }
            if not changed.pending:
                if item is None or conditionally(
                    self._db.delete_item, TableName=self._table, Key=to_item({"usageDate": _RESTATE}), **condition
                ):
                    return changed
                continue
            written = to_item(
                {
                    "usageDate": _RESTATE,
                    "fromDay": changed.from_day.isoformat(),  # where the next pass starts (its stream record)
                    "token": str(changed.seq),
                    "seq": changed.seq,
                    "obligations": [f"{o.seq}@{o.from_day.isoformat()}" for o in changed.obligations],
                    "changedAt": datetime.now(timezone.utc).isoformat(),
                }
            )
            if conditionally(self._db.put_item, TableName=self._table, Item=written, **condition):
                return changed

    # ---- restatement passes: where the running one is (for operators) -------------------------

    def record_restatement_pass(self, progress: RestatementPass) -> None:
        self._db.put_item(
            TableName=self._table,
            Item=to_item(
                {
                    "usageDate": _PASS,
                    "passId": progress.pass_id,
                    "snapshot": progress.snapshot,
                    "fromDay": progress.from_day.isoformat(),
                    "through": progress.through.isoformat(),
                    "daysDone": progress.days_done,
                    "daysTotal": progress.days_total,
                    "startedAt": progress.started_at.isoformat(),
                    "updatedAt": progress.updated_at.isoformat(),
                    "finished": progress.finished,
                }
            ),
        )

    def restatement_pass(self) -> RestatementPass | None:
        """The latest restatement pass to report progress (running, or the last one finished)."""
        response = self._db.get_item(TableName=self._table, Key=to_item({"usageDate": _PASS}), ConsistentRead=True)
        if "Item" not in response:
            return None
        item = from_item(response["Item"])
        return RestatementPass(
            pass_id=item["passId"],
            snapshot=int(item["snapshot"]),
            from_day=date.fromisoformat(item["fromDay"]),
            through=date.fromisoformat(item["through"]),
            days_done=int(item["daysDone"]),
            days_total=int(item["daysTotal"]),
            started_at=datetime.fromisoformat(item["startedAt"]),
            updated_at=datetime.fromisoformat(item["updatedAt"]),
            finished=bool(item["finished"]),
        )

    # ---- landings not yet asked for (an ingest that died between landing and asking) ---------

    def announce_landing(self, landing_id: str, first_day: date) -> None:
        """Before events for `first_day` and later land: if the ingest dies before it asks for a
        restatement, `stale_landings` finds this and the sweep asks for it. (One item holds every
        landing under way: a map of id → "first day@when".)"""
        self._db.update_item(
            TableName=self._table,
            Key=to_item({"usageDate": _LANDINGS}),
            UpdateExpression="SET landings = if_not_exists(landings, :empty)",
            ExpressionAttributeValues={":empty": {"M": {}}},
        )
        self._db.update_item(
            TableName=self._table,
            Key=to_item({"usageDate": _LANDINGS}),
            UpdateExpression="SET landings.#id = :landing",
            ExpressionAttributeNames={"#id": landing_id},
            ExpressionAttributeValues=to_item(
                {":landing": f"{first_day.isoformat()}@{datetime.now(timezone.utc).isoformat()}"}
            ),
        )

    def landings_asked(self, landing_ids: Iterable[str]) -> None:
        """The ingest asked for its restatement: forget its landings."""
        ids = sorted(set(landing_ids))
        for start in range(0, len(ids), 50):
            names = {f"#l{index}": landing_id for index, landing_id in enumerate(ids[start : start + 50])}
            conditionally(
                self._db.update_item,
                TableName=self._table,
                Key=to_item({"usageDate": _LANDINGS}),
                UpdateExpression="REMOVE " + ", ".join(f"landings.{name}" for name in names),
                ConditionExpression="attribute_exists(landings)",
                ExpressionAttributeNames=names,
            )

    def stale_landings(self, older_than: datetime) -> dict[str, date]:
        """Landings announced before `older_than` whose ingest never asked: id → first day."""
        response = self._db.get_item(TableName=self._table, Key=to_item({"usageDate": _LANDINGS}), ConsistentRead=True)
        landings = from_item(response["Item"]).get("landings", {}) if "Item" in response else {}
        found = {}
        for landing_id, value in landings.items():
            first_day, at = str(value).split("@", 1)
            if datetime.fromisoformat(at) < older_than:
                found[landing_id] = date.fromisoformat(first_day)
        return found

    def _raise(self, key: str, attribute: str, day: date) -> bool:
        """Set `attribute` of item `key` to `day` if absent or earlier (concurrent writers keep
        the latest)."""
        return conditionally(
            self._db.update_item,
            TableName=self._table,
            Key=to_item({"usageDate": key}),
            UpdateExpression="SET #day = :day",
            ConditionExpression="attribute_not_exists(#day) OR #day < :day",
            ExpressionAttributeNames={"#day": attribute},
            ExpressionAttributeValues=to_item({":day": day.isoformat()}),
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
