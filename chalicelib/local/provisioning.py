"""Creates the tables and buckets the service needs, from the adapters' own definitions.

Used by the local stack and the tests; in AWS the same resources come from infra/.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters import (
    dynamo_directory,
    dynamo_report_store,
    dynamo_schedule_store,
    dynamo_webhook_store,
    usage_calendar,
)
from chalicelib.adapters.aws import make_client
from chalicelib.config import Settings

# The reports table's stream feeds the webhooks (api/events.py `on_report_settled`); infra/
# template.json gives the deployed table the same.
REPORTS_STREAM = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}


def table_definitions(settings: Settings) -> list[dict[str, Any]]:
    return [
        {**dynamo_report_store.table_definition(settings.reports_table), "StreamSpecification": REPORTS_STREAM},
        usage_calendar.table_definition(settings.usage_days_table),
        dynamo_directory.table_definition(settings.directory_table),
        dynamo_webhook_store.table_definition(settings.webhooks_table),
        dynamo_schedule_store.table_definition(settings.schedules_table),
    ]


def ensure_webhook_resources(settings: Settings, sqs: Any, events: Any) -> str:
    """The webhook deliveries queue and the event bus (idempotent); the queue's URL."""
    url = sqs.create_queue(QueueName=settings.webhook_deliveries_queue, Attributes={"VisibilityTimeout": "10"})
    if settings.event_bus not in {bus["Name"] for bus in events.list_event_buses().get("EventBuses", [])}:
        events.create_event_bus(Name=settings.event_bus)
    return str(url["QueueUrl"])


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


def _add_missing_global_indexes(dynamodb: Any, definition: dict[str, Any], table: dict[str, Any]) -> None:
    """Create the global secondary indexes `definition` has and the existing `table` lacks (one
    per UpdateTable call, as DynamoDB requires)."""
    present = {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])}
    attributes = {attribute["AttributeName"]: attribute for attribute in definition["AttributeDefinitions"]}
    for index in definition.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] in present:
            continue
        keys = [key["AttributeName"] for key in index["KeySchema"]]
        dynamodb.update_table(
            TableName=definition["TableName"],
            AttributeDefinitions=[attributes[name] for name in keys],
            GlobalSecondaryIndexUpdates=[{"Create": index}],
        )


def ensure_resources(settings: Settings, dynamodb: Any, s3: Any, sqs: Any = None, events: Any = None) -> None:
    """Create every table, bucket, the webhook deliveries queue and the event bus that do not
    exist yet (idempotent); a table kept from before its stream or one of its global secondary
    indexes was defined gets it."""
    existing = set(dynamodb.list_tables().get("TableNames", []))
    for definition in table_definitions(settings):
        if definition["TableName"] not in existing:
            dynamodb.create_table(**definition)
            dynamodb.get_waiter("table_exists").wait(TableName=definition["TableName"])
            continue
        table = dynamodb.describe_table(TableName=definition["TableName"])["Table"]
        if "StreamSpecification" in definition and not table.get("StreamSpecification", {}).get("StreamEnabled"):
            dynamodb.update_table(
                TableName=definition["TableName"], StreamSpecification=definition["StreamSpecification"]
            )
        _add_missing_global_indexes(dynamodb, definition, table)
    ensure_webhook_resources(settings, sqs or make_client("sqs", settings), events or make_client("events", settings))
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
