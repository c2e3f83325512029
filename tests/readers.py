"""Readers of what the service stored, for the tests' assertions (the service never reads these
back): an S3 object's text, whether an object exists, the usage rows of the lake's day objects.

Each reads with the container's own S3 client (so a fault plan on it applies) and no service
code: the reports bucket unless told another.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botocore.exceptions import ClientError

from chalicelib.adapters.usage_lake_layout import MANIFEST, USAGE_SCHEMA, day_prefix


def object_bytes(container: Any, key: str, bucket: str | None = None) -> bytes:
    bucket = bucket or container.settings.reports_bucket
    return container.s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def object_text(container: Any, key: str, bucket: str | None = None) -> str:
    """The object's body as UTF-8 text."""
    return object_bytes(container, key, bucket).decode("utf-8")


def object_exists(container: Any, key: str, bucket: str | None = None) -> bool:
    try:
        container.s3.head_object(Bucket=bucket or container.settings.reports_bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def usage_rows(container: Any, day_versions: Mapping[date, int], partner_org_ids: Iterable[str]) -> pa.Table:
    """The lake's usage rows of the days at their versions (every Parquet object under each day
    version's prefix, in day order) of the partners, with units > 0, read whole by pyarrow."""
    bucket, s3 = container.settings.lake_bucket, container.s3
    wanted = pc.field("partner_org_id").isin(sorted(set(partner_org_ids))) & (pc.field("units") > 0)
    tables = []
    for day, version in sorted(day_versions.items()):
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=day_prefix(day, version) + MANIFEST)["Body"].read())
        keys = sorted(partition["key"] for partition in manifest["partitions"])  # some of an earlier version
        for key in keys:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            table = pq.read_table(pa.BufferReader(body)).select(USAGE_SCHEMA.names).cast(USAGE_SCHEMA)
            tables.append(table.filter(wanted))
    return pa.concat_tables(tables) if tables else USAGE_SCHEMA.empty_table()
