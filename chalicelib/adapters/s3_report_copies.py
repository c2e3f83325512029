"""A schedule's report copied into the partner's own bucket (DESIGN §13).

A server-side copy out of the reports bucket. On AWS the partner's bucket policy grants the
service's role `s3:PutObject` (and `s3:PutObjectTagging`) under its prefix, on the condition
that the object is tagged with its own org id (`wbr-partner-org-id`): the service always tags
a copy with the partner whose schedule asked for it, so a schedule naming someone else's bucket
is refused by that bucket (docs/API.md "Standing monthly reports" shows the policy)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

PARTNER_TAG = "wbr-partner-org-id"


class S3ReportCopier:
    def __init__(self, s3: Any, reports_bucket: str) -> None:
        self._s3 = s3
        self._reports_bucket = reports_bucket

    def copy(self, source_key: str, bucket: str, key: str, partner_org_id: str) -> str | None:
        try:
            self._s3.copy_object(
                Bucket=bucket,
                Key=key,
                CopySource={"Bucket": self._reports_bucket, "Key": source_key},
                MetadataDirective="COPY",
                TaggingDirective="REPLACE",
                Tagging=f"{PARTNER_TAG}={quote(partner_org_id, safe='')}",
                ServerSideEncryption="AES256",
            )
        except ClientError as error:
            details = error.response.get("Error", {})
            return f"{details.get('Code', 'Error')}: {details.get('Message', '')}".strip()[:300]
        except BotoCoreError as error:
            return type(error).__name__
        return None
