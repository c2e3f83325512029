"""Report files in S3: private, encrypted, presigned for download (ARCHITECTURE.md §3, §7)."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.adapters.aws import is_missing_object

# S3 multipart parts must be at least 5 MiB (except the last).
MULTIPART_CHUNK_BYTES = 8 * 1024 * 1024
# S3's bounds on a part of a multipart upload (but the last): parts in them are copied in S3.
COPY_PART_MIN_BYTES = 5 * 1024 * 1024
COPY_PART_MAX_BYTES = 5 * 1024 * 1024 * 1024
_COPY_THREADS = 8
_ENCRYPTION = {"ServerSideEncryption": "AES256"}


class S3BlobStore:
    def __init__(self, s3: Any, bucket: str, presign_s3: Any | None = None) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._presign_s3 = presign_s3 or s3

    @property
    def bucket(self) -> str:
        return self._bucket

    def put_text(self, key: str, text: str) -> None:
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=text.encode("utf-8"), **_ENCRYPTION)

    def read_text(self, key: str) -> str:
        """A small object as text (the local runner reads a shard list as a Distributed Map's
        ItemReader does)."""
        return self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read().decode("utf-8")

    def delete(self, keys: Iterable[str]) -> None:
        batch = [{"Key": key} for key in keys]
        for start in range(0, len(batch), 1000):
            self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": batch[start : start + 1000], "Quiet": True})

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=prefix):
            keys.extend(entry["Key"] for entry in page.get("Contents", []))
        return keys

    def copy(self, source_key: str, target_key: str) -> None:
        """Server-side copy (one report part that already is the whole file)."""
        self._s3.copy_object(
            Bucket=self._bucket,
            Key=target_key,
            CopySource={"Bucket": self._bucket, "Key": source_key},
            MetadataDirective="REPLACE",
            ContentType="text/csv",
            **_ENCRYPTION,
        )

    def concatenate(
        self, target_key: str, header: bytes, part_keys: list[str], part_sizes: Sequence[int | None] = ()
    ) -> tuple[int, str]:
        """Header + parts as one object: copied part by part inside S3 (UploadPartCopy, in
        parallel) while the parts are read once to hash them, when there is no header and the
        parts' sizes (`part_sizes`) are within S3's part bounds; else streamed through here
        (multipart once large), hashing as it goes."""
        if (
            not header
            and len(part_keys) > 1
            and len(part_sizes) == len(part_keys)
            and all(size is not None and COPY_PART_MIN_BYTES <= size <= COPY_PART_MAX_BYTES for size in part_sizes[:-1])
            and (part_sizes[-1] or 0) <= COPY_PART_MAX_BYTES
        ):
            return self._copy_parts(target_key, part_keys)
        return self._stream_parts(target_key, header, part_keys)

    def _copy_parts(self, target_key: str, part_keys: list[str]) -> tuple[int, str]:
        upload_id = self._s3.create_multipart_upload(
            Bucket=self._bucket, Key=target_key, ContentType="text/csv", **_ENCRYPTION
        )["UploadId"]

        def copy(numbered: tuple[int, str]) -> dict[str, Any]:
            number, part_key = numbered
            response = self._s3.upload_part_copy(
                Bucket=self._bucket, Key=target_key, UploadId=upload_id, PartNumber=number,
                CopySource={"Bucket": self._bucket, "Key": part_key},
            )
            return {"ETag": response["CopyPartResult"]["ETag"], "PartNumber": number}

        try:
            with ThreadPoolExecutor(max_workers=_COPY_THREADS) as pool:
                copied = pool.map(copy, enumerate(part_keys, start=1))
                digest, total = hashlib.sha256(), 0
                for part_key in part_keys:  # meanwhile: the bytes once, in order, for the file's hash
                    body = self._s3.get_object(Bucket=self._bucket, Key=part_key)["Body"]
                    for chunk in body.iter_chunks(1024 * 1024):
                        digest.update(chunk)
                        total += len(chunk)
                parts = list(copied)
            self._s3.complete_multipart_upload(
                Bucket=self._bucket, Key=target_key, UploadId=upload_id, MultipartUpload={"Parts": parts}
            )
        except Exception:
            self._s3.abort_multipart_upload(Bucket=self._bucket, Key=target_key, UploadId=upload_id)
            raise
        return total, digest.hexdigest()

    def _stream_parts(self, target_key: str, header: bytes, part_keys: list[str]) -> tuple[int, str]:
        digest = hashlib.sha256()
        buffer = bytearray(header)
        digest.update(header)
        total = len(header)
        upload_id: str | None = None
        uploaded: list[dict[str, Any]] = []
        try:
            for part_key in part_keys:
                body = self._s3.get_object(Bucket=self._bucket, Key=part_key)["Body"]
                for chunk in iter(functools.partial(body.read, 1024 * 1024), b""):
                    digest.update(chunk)
                    total += len(chunk)
                    buffer.extend(chunk)
                    if len(buffer) >= MULTIPART_CHUNK_BYTES:
                        if upload_id is None:
                            upload_id = self._s3.create_multipart_upload(
                                Bucket=self._bucket, Key=target_key, ContentType="text/csv", **_ENCRYPTION
                            )["UploadId"]
                        uploaded.append(self._upload_part(target_key, upload_id, len(uploaded) + 1, bytes(buffer)))
                        buffer.clear()
            if upload_id is None:
                self._s3.put_object(
                    Bucket=self._bucket, Key=target_key, Body=bytes(buffer), ContentType="text/csv", **_ENCRYPTION
                )
            else:
                if buffer:
                    uploaded.append(self._upload_part(target_key, upload_id, len(uploaded) + 1, bytes(buffer)))
                self._s3.complete_multipart_upload(
                    Bucket=self._bucket, Key=target_key, UploadId=upload_id, MultipartUpload={"Parts": uploaded}
                )
        except Exception:
            if upload_id is not None:
                self._s3.abort_multipart_upload(Bucket=self._bucket, Key=target_key, UploadId=upload_id)
            raise
        return total, digest.hexdigest()

    def _upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        response = self._s3.upload_part(Bucket=self._bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body)
        return {"ETag": response["ETag"], "PartNumber": number}

    def download(self, key: str, path: Path) -> None:
        """The object's bytes into a local file (a missing object raises KeyError)."""
        try:
            self._s3.download_file(self._bucket, key, str(path))
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                raise KeyError(key) from None
            raise

    def upload(self, path: Path, key: str, content_type: str) -> tuple[int, str]:
        """A local file as the object `key`; returns its size and sha256."""
        digest = hashlib.sha256()
        with path.open("rb") as file:
            for chunk in iter(functools.partial(file.read, 1024 * 1024), b""):
                digest.update(chunk)
        self._s3.upload_file(str(path), self._bucket, key, ExtraArgs={"ContentType": content_type, **_ENCRYPTION})
        return path.stat().st_size, digest.hexdigest()

    def size_of(self, key: str) -> int | None:
        """The object's size in bytes; None when there is no such object."""
        try:
            return int(self._s3.head_object(Bucket=self._bucket, Key=key)["ContentLength"])
        except ClientError as error:
            if is_missing_object(error):
                return None
            raise

    def presign_download(
        self, key: str, filename: str, ttl_seconds: int, content_type: str = "text/csv; charset=utf-8"
    ) -> str:
        return self._presign_s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._bucket,
                "Key": key,
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
                "ResponseContentType": content_type,
            },
            ExpiresIn=ttl_seconds,
        )
