"""The local AWS of `wbr dev` (chalicelib/local/aws.py: its two moto servers, each behind
chalicelib/local/sigv4.py) checks signatures as AWS does: a presigned link works as handed out
and answers 403 when its path, expiry or a response header was changed, when it expired, or when
a request is not signed at all; a link to a deleted object answers 404 NoSuchKey (not a
credentials fault); the stack's own clients (S3, DynamoDB, SQS) work, and a wrong key is refused."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib.local.aws import LocalAws

BUCKET = "wbr-reports-signatures"
KEY = "reports/acme/one.csv"
OTHER_KEY = "reports/globex/two.csv"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def local_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalAws]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in CREDENTIALS.items():
            patch.setenv(name, value)  # the servers take the key pair of the environment they start in
        aws = LocalAws(Path(tmp_path_factory.mktemp("local-aws")), _free_port(), _free_port())
        aws.start()
    try:
        yield aws
    finally:
        aws.stop()


def _client(aws: LocalAws, service: str, secret: str = "local", key: str = "local"):  # type: ignore[no-untyped-def]
    endpoint = aws.endpoints.dynamodb_url if service == "dynamodb" else aws.endpoints.endpoint_url
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4", retries={"max_attempts": 1}),
    )


@pytest.fixture(scope="module")
def s3(local_aws: LocalAws):  # type: ignore[no-untyped-def]
    client = _client(local_aws, "s3")
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key=KEY, Body=b"acme,1\n")
    client.put_object(Bucket=BUCKET, Key=OTHER_KEY, Body=b"globex,2\n")
    return client


def _presign(s3, key: str = KEY, expires: int = 900) -> str:  # type: ignore[no-untyped-def]
    return s3.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": BUCKET,
            "Key": key,
            "ResponseContentDisposition": 'attachment; filename="one.csv"',
            "ResponseContentType": "text/csv; charset=utf-8",
        },
        ExpiresIn=expires,
    )


def _get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _code(body: bytes) -> str:
    return body.split(b"<Code>", 1)[1].split(b"</Code>", 1)[0].decode() if b"<Code>" in body else ""


def test_a_presigned_link_works_as_handed_out(s3) -> None:  # type: ignore[no-untyped-def]
    status, body, headers = _get(_presign(s3))
    assert status == 200 and body == b"acme,1\n"
    assert headers["Content-Disposition"] == 'attachment; filename="one.csv"'


def test_a_link_whose_path_was_changed_to_another_key_is_refused(s3) -> None:  # type: ignore[no-untyped-def]
    url = _presign(s3)
    changed = url.replace("/acme/one.csv", "/globex/two.csv")
    assert changed != url
    status, body, _ = _get(changed)
    assert status == 403 and _code(body) == "SignatureDoesNotMatch" and b"globex" not in body


@pytest.mark.parametrize(
    "changes",
    [
        {"X-Amz-Expires": "604800"},
        {"response-content-disposition": 'attachment; filename="other.csv"'},
        {"response-content-type": "text/html"},
        {"response-content-encoding": "gzip"},  # a response header the link did not carry
        {"X-Amz-Date": "20991231T000000Z"},
    ],
    ids=lambda changes: next(iter(changes)),
)
def test_a_link_with_a_changed_expiry_or_response_header_is_refused(s3, changes) -> None:  # type: ignore[no-untyped-def]
    status, body, _ = _get(_with_query(_presign(s3), **changes))
    assert status == 403 and _code(body) == "SignatureDoesNotMatch", body


def test_an_expired_link_is_refused(s3) -> None:  # type: ignore[no-untyped-def]
    url = _presign(s3, expires=1)
    time.sleep(2.1)
    status, body, _ = _get(url)
    assert status == 403 and _code(body) == "AccessDenied" and b"Request has expired" in body


def test_unsigned_requests_are_refused(local_aws: LocalAws, s3) -> None:  # type: ignore[no-untyped-def]
    base = local_aws.endpoints.endpoint_url
    for url in (f"{base}/{BUCKET}", f"{base}/{BUCKET}/{KEY}", f"{base}/", f"{base}/moto-api/data.json"):
        status, body, _ = _get(url)
        assert status == 403 and _code(body) == "AccessDenied", url
        assert b"acme" not in body and b"globex" not in body
    signature_dropped = _with_query(_presign(s3), **{"X-Amz-Signature": ""})
    assert _get(signature_dropped)[0] == 403


def test_a_link_to_a_deleted_object_says_so_not_a_credentials_fault(s3) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(Bucket=BUCKET, Key="reports/acme/deleted.csv", Body=b"x\n")
    url = _presign(s3, key="reports/acme/deleted.csv")
    assert _get(url)[0] == 200
    s3.delete_object(Bucket=BUCKET, Key="reports/acme/deleted.csv")
    status, body, _ = _get(url)
    assert status == 404 and _code(body) == "NoSuchKey", body
    assert b"Secret Access Key" not in body


def test_the_stacks_own_clients_work_and_a_wrong_key_is_refused(local_aws: LocalAws, s3) -> None:  # type: ignore[no-untyped-def]
    assert s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read() == b"acme,1\n"
    assert {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix="reports/")["Contents"]} >= {KEY}
    dynamodb = _client(local_aws, "dynamodb")
    dynamodb.create_table(
        TableName="signatures",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="signatures", Item={"pk": {"S": "a"}})
    assert dynamodb.get_item(TableName="signatures", Key={"pk": {"S": "a"}})["Item"] == {"pk": {"S": "a"}}
    sqs = _client(local_aws, "sqs")
    queue = sqs.create_queue(QueueName="signatures")["QueueUrl"]
    sqs.send_message(QueueUrl=queue, MessageBody="hello")
    assert sqs.receive_message(QueueUrl=queue)["Messages"][0]["Body"] == "hello"
    for service, call in (
        ("s3", lambda client: client.get_object(Bucket=BUCKET, Key=KEY)),
        ("dynamodb", lambda client: client.get_item(TableName="signatures", Key={"pk": {"S": "a"}})),
        ("sqs", lambda client: client.receive_message(QueueUrl=queue)),
    ):
        with pytest.raises(ClientError) as wrong_secret:
            call(_client(local_aws, service, secret="not-the-secret"))
        assert wrong_secret.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403, service
        with pytest.raises(ClientError) as unknown_key:
            call(_client(local_aws, service, key="someone-else"))
        assert unknown_key.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403, service
