"""The local stream readers (chalicelib.local.streams.py) against moto, patched as the local stack
patches it (local/dynamodb.py): never deaf after moto rolls a refused transaction back, never
handing a refused write's record, going on from a kept position after a restart, and stalled,
loudly, when the stream no longer holds their position."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.local.streams import OK, STALLED, Health, StreamPositions, StreamReader


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    monkeypatch.setenv("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")  # moto routes the regional endpoint
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="t",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield dynamodb, boto3.client("dynamodbstreams", region_name="us-east-1")


def _arn(dynamodb: Any) -> str:
    return str(dynamodb.describe_table(TableName="t")["Table"]["LatestStreamArn"])


def _put(dynamodb: Any, *keys: str) -> None:
    for key in keys:
        dynamodb.put_item(TableName="t", Item={"pk": {"S": key}})


def _refused(dynamodb: Any) -> None:
    """A duplicate create's shape: a write, then a condition that fails: moto rolls back."""
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "refused"}}}},
                {
                    "Put": {
                        "TableName": "t",
                        "Item": {"pk": {"S": "a"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )


def _keys(records: list[dict[str, Any]]) -> list[str]:
    return [record["dynamodb"]["Keys"]["pk"]["S"] for record in records]


def _drain(reader: StreamReader) -> list[str]:
    delivered = []
    while records := reader.read(2):
        delivered += _keys(records)
        reader.commit(records)
    return delivered


def test_a_reader_goes_on_after_refused_transactions_and_never_hands_a_refused_write(aws) -> None:
    dynamodb, streams = aws
    reader = StreamReader(streams, _arn(dynamodb))
    _put(dynamodb, "a")
    assert _drain(reader) == ["a"]
    chained = streams.get_shard_iterator(
        StreamArn=_arn(dynamodb),
        ShardId=streams.describe_stream(StreamArn=_arn(dynamodb))["StreamDescription"]["Shards"][0]["ShardId"],
        ShardIteratorType="LATEST",
    )["ShardIterator"]
    _refused(dynamodb)
    _put(dynamodb, "b", "c")
    _refused(dynamodb)
    _put(dynamodb, "d")
    assert _drain(reader) == ["b", "c", "d"]
    # an iterator handed out before the rollbacks (what the old poller chained) is not deaf either
    assert _keys(streams.get_records(ShardIterator=chained)["Records"]) == ["b", "c", "d"]


def test_a_restarted_reader_goes_on_from_its_kept_position(aws, tmp_path: Path) -> None:
    dynamodb, streams = aws
    path = tmp_path / "streams.json"
    _put(dynamodb, "a", "b", "c")
    assert _drain(StreamReader(streams, _arn(dynamodb), StreamPositions(path))) == ["a", "b", "c"]
    _put(dynamodb, "d")
    restarted = StreamReader(streams, _arn(dynamodb), StreamPositions(path), Health(tmp_path / "health.json"))
    assert _drain(restarted) == ["d"]
    assert json.loads((tmp_path / "health.json").read_text())["sources"]["stream t"]["status"] == OK


def test_a_reader_whose_position_the_stream_no_longer_holds_stops_and_says_so(aws, tmp_path, capsys) -> None:
    dynamodb, streams = aws
    path = tmp_path / "streams.json"
    _put(dynamodb, "a", "b")
    _drain(StreamReader(streams, _arn(dynamodb), StreamPositions(path)))
    kept = json.loads(path.read_text())
    kept["t"][0]["digest"] = "0" * 32  # the record at the position is not the one delivered
    path.write_text(json.dumps(kept))
    _put(dynamodb, "c")
    health = Health(tmp_path / "health.json")
    stalled = StreamReader(streams, _arn(dynamodb), StreamPositions(path), health, "local-stream-reports")
    assert stalled.read(10) == [] and stalled.read(10) == []
    status = health.status()["local-stream-reports"]
    assert status["status"] == STALLED and "is not the one this reader delivered" in status["detail"]
    assert "wbr dev --fresh" in status["remedy"] and not health.healthy()
    assert "local-stream-reports CANNOT GO ON" in capsys.readouterr().err
    on_disk = json.loads((tmp_path / "health.json").read_text())["sources"]["local-stream-reports"]
    assert on_disk["status"] == STALLED


def test_damaged_positions_are_reported_not_forgotten(tmp_path: Path) -> None:
    from chalicelib.local.persistence import DamagedState

    path = tmp_path / "streams.json"
    path.write_text('{"t": [{"shard_id": ')
    with pytest.raises(DamagedState, match="positions cannot be read"):
        StreamPositions(path)


def test_a_refused_transaction_loses_no_other_threads_write(aws: tuple[Any, Any]) -> None:
    """moto cancels a refused transaction by putting back the table as it was when the
    transaction began: without the local stack's one-operation-at-a-time lock, a write another
    thread made meanwhile (a report worker marking its report COMPLETED while a duplicate create
    is refused) vanished, or kept its item and lost its stream record. Seen as a webhook never
    sent in tests/integration/test_schedules.py under CI's load."""
    import sys
    import threading

    dynamodb, streams = aws
    _put(dynamodb, "a")
    writes = 300

    def refuse() -> None:
        for _ in range(writes):
            _refused(dynamodb)

    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # the threads take turns often: the window is small, not absent
    try:
        refuser = threading.Thread(target=refuse)
        refuser.start()
        for index in range(writes):
            dynamodb.put_item(TableName="t", Item={"pk": {"S": f"w{index}"}})
        refuser.join()
    finally:
        sys.setswitchinterval(switching)

    stored = dynamodb.scan(TableName="t", ConsistentRead=True)["Items"]
    assert sorted(item["pk"]["S"] for item in stored) == sorted(["a", *(f"w{index}" for index in range(writes))])
    reader = StreamReader(streams, _arn(dynamodb))
    read = []
    while records := reader.read(100):
        read += _keys(records)
        reader.commit(records)
    assert sorted(read) == sorted(["a", *(f"w{index}" for index in range(writes))])
