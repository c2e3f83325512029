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
