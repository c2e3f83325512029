"""The local AWS's state on disk (chalicelib/local/persistence.py, dynamodb_state.py and
objects_state.py): the format (sealed files, a journal whose cut-short tail is dropped and whose
damage is reported), and moto's DynamoDB, S3 and SQS state written by one server's requests and
loaded by the next one's, the same."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client

from chalicelib.local.dynamodb_state import DynamoDBState
from chalicelib.local.objects_state import ObjectsState
from chalicelib.local.persistence import DamagedState, Journal, read_sealed, write_sealed


def _signed(service: str) -> dict[str, str]:
    return {
        "Authorization": f"AWS4-HMAC-SHA256 Credential=local/20000101/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host, Signature=0"
    }


class Server:
    """moto's server app in process, behind the persistence of one kind, as local_aws.serve wires it."""

    def __init__(self, folder: Path, kind: str) -> None:
        moto_app = DomainDispatcherApplication(create_backend_app)
        if kind == "dynamodb":
            self.state: Any = DynamoDBState(folder, snapshot_every=5)
            self.loaded = self.state.load(moto_app)
        else:
            self.state = ObjectsState(folder)
            self.loaded = self.state.load()
        self.client = Client(self.state.app(moto_app))

    def dynamodb(self, operation: str, body: dict[str, Any], service: str = "DynamoDB_20120810") -> Any:
        headers = {"X-Amz-Target": f"{service}.{operation}", "Content-Type": "application/x-amz-json-1.0"}
        response = self.client.post("/", data=json.dumps(body), headers={**headers, **_signed("dynamodb")})
        return response.status_code, json.loads(response.get_data() or b"{}")

    def sqs(self, operation: str, body: dict[str, Any]) -> Any:
        headers = {"X-Amz-Target": f"AmazonSQS.{operation}", "Content-Type": "application/x-amz-json-1.0"}
        response = self.client.post("/", data=json.dumps(body), headers={**headers, **_signed("sqs")})
        return json.loads(response.get_data() or b"{}")


@pytest.fixture
def fresh_moto() -> Iterator[Any]:
    """A new, empty moto for each server start (as a new process has)."""

    def restart() -> None:
        mocked["mock"].stop()
        mocked["mock"] = mock_aws()
        mocked["mock"].start()

    mocked = {"mock": mock_aws()}
    mocked["mock"].start()
    try:
        yield restart
    finally:
        mocked["mock"].stop()


def test_a_sealed_file_is_read_back_and_any_change_to_it_is_damage(tmp_path: Path) -> None:
    path = tmp_path / "state"
    write_sealed(path, b"payload")
    assert read_sealed(path) == b"payload"
    path.write_bytes(path.read_bytes()[:-2] + b"xx")
    with pytest.raises(DamagedState) as damaged:
        read_sealed(path)
    assert "does not match its checksum" in str(damaged.value) and "wbr dev --fresh" in str(damaged.value)


def test_a_journal_drops_only_a_last_record_cut_short_and_reports_a_damaged_one(tmp_path: Path) -> None:
    path = tmp_path / "journal"
    journal = Journal(path)
    for payload in (b"one", b"two", b"three"):
        journal.append(payload)
    journal.close()
    whole = path.read_bytes()
    assert Journal.read(path) == ([b"one", b"two", b"three"], len(whole))
    path.write_bytes(whole[:-2])  # a crash in the middle of the last write
    records, end = Journal.read(path)
    assert records == [b"one", b"two"] and end == len(whole) - 13
    damaged = bytearray(whole)
    damaged[9] ^= 0x01  # inside the first record's payload
    path.write_bytes(bytes(damaged))
    with pytest.raises(DamagedState, match="record 1"):
        Journal.read(path)


TABLE = {
    "TableName": "t",
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
    "BillingMode": "PAY_PER_REQUEST",
    "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
}


def _stream(server: Server) -> tuple[str, list[dict[str, Any]]]:
    _, table = server.dynamodb("DescribeTable", {"TableName": "t"})
    arn = table["Table"]["LatestStreamArn"]
    streams = "DynamoDBStreams_20120810"
    _, description = server.dynamodb("DescribeStream", {"StreamArn": arn}, streams)
    shard = description["StreamDescription"]["Shards"][0]["ShardId"]
    _, iterator = server.dynamodb(
        "GetShardIterator", {"StreamArn": arn, "ShardId": shard, "ShardIteratorType": "TRIM_HORIZON"}, streams
    )
    _, records = server.dynamodb("GetRecords", {"ShardIterator": iterator["ShardIterator"]}, streams)
    return arn, [
        {key: record[key] for key in ("eventName",)} | {"dynamodb": {k: v for k, v in record["dynamodb"].items()}}
        for record in records["Records"]
    ]


def _items(server: Server) -> list[dict[str, Any]]:
    _, scanned = server.dynamodb("Scan", {"TableName": "t"})
    return sorted(scanned["Items"], key=lambda item: item["pk"]["S"])


def test_dynamodb_is_the_same_after_a_crash_a_clean_stop_and_a_refused_transaction(tmp_path, fresh_moto) -> None:
    server = Server(tmp_path, "dynamodb")
    assert server.dynamodb("CreateTable", TABLE)[0] == 200
    for number in range(7):  # past snapshot_every: a snapshot, then a journal after it
        server.dynamodb("PutItem", {"TableName": "t", "Item": {"pk": {"S": f"k{number}"}, "n": {"N": str(number)}}})
    refused = server.dynamodb(
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "t", "Item": {"pk": {"S": "phantom"}}}},
                {
                    "Put": {
                        "TableName": "t",
                        "Item": {"pk": {"S": "k1"}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        },
    )
    assert refused[0] == 400
    server.dynamodb("DeleteItem", {"TableName": "t", "Key": {"pk": {"S": "k0"}}})
    items, (arn, records) = _items(server), _stream(server)
    assert "phantom" not in {item["pk"]["S"] for item in items} and len(records) == 8

    fresh_moto()  # kill -9: no snapshot at the end
    crashed = Server(tmp_path, "dynamodb")
    assert crashed.loaded["replayed"] > 0
    assert _items(crashed) == items and _stream(crashed) == (arn, records)  # same label, same sequence numbers
    crashed.dynamodb("PutItem", {"TableName": "t", "Item": {"pk": {"S": "after"}}})
    crashed.state.close()  # a clean stop: a snapshot, an empty journal

    fresh_moto()
    stopped = Server(tmp_path, "dynamodb")
    assert stopped.loaded["replayed"] == 0
    assert [item["pk"]["S"] for item in _items(stopped)][-1] == "k6" and len(_items(stopped)) == len(items) + 1
    assert _stream(stopped)[1][-1]["dynamodb"]["Keys"] == {"pk": {"S": "after"}}


def test_a_damaged_snapshot_stops_the_load_with_what_to_do(tmp_path, fresh_moto) -> None:
    server = Server(tmp_path, "dynamodb")
    server.dynamodb("CreateTable", TABLE)
    server.state.close()
    snapshot = tmp_path / "dynamodb.snapshot"
    snapshot.write_bytes(snapshot.read_bytes()[:-1])
    fresh_moto()
    with pytest.raises(DamagedState) as damaged:
        Server(tmp_path, "dynamodb")
    message = str(damaged.value)
    assert str(snapshot) in message and "Nothing was changed" in message and "wbr dev --fresh" in message


def test_s3_objects_and_sqs_messages_are_the_same_after_a_crash(tmp_path, fresh_moto) -> None:
    server = Server(tmp_path, "objects")
    s3 = _signed("s3")
    assert server.client.put("/bucket-one", headers=s3).status_code == 200
    put = server.client.put("/bucket-one/a/b.csv", data=b"x,y\n", headers={**s3, "Content-Type": "text/csv"})
    assert put.status_code == 200
    server.client.put("/bucket-one/gone", data=b"1", headers=s3)
    assert server.client.delete("/bucket-one/gone", headers=s3).status_code == 204
    url = server.sqs("CreateQueue", {"QueueName": "q", "Attributes": {"VisibilityTimeout": "10"}})["QueueUrl"]
    for body in ("first", "second", "third"):
        server.sqs("SendMessage", {"QueueUrl": url, "MessageBody": body})
    received = server.sqs("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 1})["Messages"][0]
    server.sqs("DeleteMessage", {"QueueUrl": url, "ReceiptHandle": received["ReceiptHandle"]})
    server.sqs("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 1})  # in flight at the crash

    fresh_moto()
    restarted = Server(tmp_path, "objects")
    assert restarted.loaded == {"buckets": 1, "objects": 1, "queues": 1, "messages": 2}
    got = restarted.client.get("/bucket-one/a/b.csv", headers=s3)
    assert got.get_data() == b"x,y\n" and got.headers["Content-Type"] == "text/csv"
    assert got.headers["ETag"] == put.headers["ETag"]
    assert restarted.client.get("/bucket-one/gone", headers=s3).status_code == 404
    messages = restarted.sqs("ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10})["Messages"]
    assert sorted(message["Body"] for message in messages) == ["second", "third"]  # the in-flight one is back
