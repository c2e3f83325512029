"""Creates the tables and buckets the service needs, from the adapters' own definitions.

Used by the local stack and the tests; in AWS the same resources come from infra/.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters import dynamo_directory, dynamo_report_store, usage_calendar
from chalicelib.config import Settings


def table_definitions(settings: Settings) -> list[dict[str, Any]]:
    return [
        dynamo_report_store.table_definition(settings.reports_table),
        usage_calendar.table_definition(settings.usage_days_table),
        dynamo_directory.table_definition(settings.directory_table),
    ]


def ensure_event_sources(settings: Settings, sqs: Any, s3: Any) -> dict[str, str]:
    """The local stack's queues (provisioning events; the lake bucket's `incoming/`
    notifications, which the bucket is configured to send there); their URLs by name."""
    urls = {}
    for name in (settings.events_queue, settings.incoming_notifications_queue):
        urls[name] = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "10"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=urls[settings.incoming_notifications_queue], AttributeNames=["QueueArn"])
    s3.put_bucket_notification_configuration(
        Bucket=settings.lake_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": arn["Attributes"]["QueueArn"],
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}},
                }
            ]
        },
    )
    return urls


def ensure_resources(settings: Settings, dynamodb: Any, s3: Any) -> None:
    """Create every table and bucket that does not exist yet (idempotent)."""
    existing = set(dynamodb.list_tables().get("TableNames", []))
    for definition in table_definitions(settings):
        if definition["TableName"] not in existing:
            dynamodb.create_table(**definition)
            dynamodb.get_waiter("table_exists").wait(TableName=definition["TableName"])
    for bucket in (settings.lake_bucket, settings.reports_bucket):
        try:
            s3.head_bucket(Bucket=bucket)
            continue
        except ClientError:
            pass
        arguments: dict[str, Any] = {"Bucket": bucket}
        if settings.region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": settings.region}
        s3.create_bucket(**arguments)
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
        )
