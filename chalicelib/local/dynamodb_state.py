"""The local DynamoDB's state on disk (ARCHITECTURE.md §8; the format: local/persistence.py).

Its server answers one request at a time, so its order is the order of the writes: a journal of
every request that may write, appended before the answer goes out (`dynamodb.<generation>.journal`),
and a snapshot of the tables, their items and their streams (`dynamodb.snapshot`, a pickle of
moto's tables) that replaces the journal when the server stops, after 20 000 journalled writes,
and after a start that replayed one. A start loads the snapshot and replays the journal with
moto's clock at each write's time, so tables, items, stream records and their sequence numbers
are the same as before: the stream readers (local/streams.py) go on from their kept positions.
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from chalicelib.local.persistence import (
    DamagedState,
    Journal,
    WsgiApp,
    buffered_body,
    call_to_the_end,
    load_pickle,
    moto_version,
    warn,
    write_sealed,
)

SNAPSHOT_EVERY = 20_000  # journalled DynamoDB writes
# DynamoDB operations that never write (not journalled); any other one is.
_READ_ONLY = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "DescribeTable",
        "ListTables",
        "DescribeTimeToLive",
        "TransactGetItems",
        "DescribeContinuousBackups",
        "ListTagsOfResource",
        "DescribeEndpoints",
        "DescribeLimits",
        "ListBackups",
        "DescribeBackup",
        "ListGlobalTables",
        "DescribeGlobalTable",
        "DescribeKinesisStreamingDestination",
        "DescribeTableReplicaAutoScaling",
        "DescribeContributorInsights",
        "ListContributorInsights",
        "ListExports",
        "ListImports",
        "DescribeExport",
        "DescribeImport",
        "GetResourcePolicy",
    }
)


@contextmanager
def _moto_clock(at: float) -> Iterator[None]:
    """moto's DynamoDB reads the time for tables' and streams' creation and stream records:
    a replayed write gets the time it was first made (the same stream label, so the same ARN)."""
    from moto.dynamodb.models import table as table_module

    original = table_module.utcnow
    table_module.utcnow = lambda: datetime.fromtimestamp(at, timezone.utc).replace(tzinfo=None)
    try:
        yield
    finally:
        table_module.utcnow = original


class DynamoDBState:
    """The DynamoDB server's state folder: `load` it before serving, then serve `app(moto_app)`."""

    def __init__(self, folder: Path, snapshot_every: int = SNAPSHOT_EVERY) -> None:
        self.folder = folder
        self.snapshot_path = folder / "dynamodb.snapshot"
        self.generation = 0
        self.snapshot_every = snapshot_every
        self._journal: Journal | None = None

    def _journal_path(self, generation: int) -> Path:
        return self.folder / f"dynamodb.{generation}.journal"

    def load(self, moto_app: WsgiApp) -> dict[str, int]:
        """Snapshot, then journal; what was loaded. Raises DamagedState."""
        from moto.dynamodb.models import dynamodb_backends

        self.folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.folder.glob(".*.tmp"):
            leftover.unlink()
        tables = 0
        if self.snapshot_path.exists():
            snapshot = load_pickle(self.snapshot_path)
            if snapshot.get("moto") != moto_version():
                raise DamagedState(
                    self.snapshot_path,
                    f"it was written with moto {snapshot.get('moto')}, and moto {moto_version()} is installed",
                    f"reinstall moto {snapshot.get('moto')} (make install on the commit that wrote it)",
                )
            self.generation = int(snapshot["generation"])
            for account_id, regions in snapshot["tables"].items():
                for region, by_name in regions.items():
                    dynamodb_backends[account_id][region].tables = by_name
                    tables += len(by_name)
        journals = sorted(self.folder.glob("dynamodb.*.journal"))
        current = self._journal_path(self.generation)
        for journal in journals:
            if journal != current:
                generation = int(journal.name.split(".")[1])
                if generation > self.generation:
                    raise DamagedState(journal, f"it follows a snapshot ({generation}) that is missing")
                journal.unlink()  # replaced by the snapshot
        replayed = 0
        if current.exists():
            records, end = Journal.read(current)
            if end < current.stat().st_size:
                warn(
                    f"{current}: its last record was cut short by a crash (a write that was never "
                    f"acknowledged); dropped it, kept the {len(records)} before it"
                )
                with open(current, "r+b") as file:
                    file.truncate(end)
            for payload in records:
                self._replay(moto_app, payload, current, replayed + 1)
                replayed += 1
        self._journal = Journal(current)
        if replayed:
            self.snapshot()
        return {"tables": tables, "replayed": replayed}

    def _replay(self, moto_app: WsgiApp, payload: bytes, path: Path, number: int) -> None:
        from werkzeug.test import EnvironBuilder, run_wsgi_app

        try:
            record = json.loads(payload)
            headers: dict[str, str] = {
                "X-Amz-Target": record["target"],
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": (
                    f"AWS4-HMAC-SHA256 Credential={record['key']}/20000101/{record['region']}/dynamodb/aws4_request, "
                    "SignedHeaders=host, Signature=0"
                ),
            }
            environ = EnvironBuilder(
                method="POST", path="/", headers=list(headers.items()), data=record["body"]
            ).get_environ()
            with _moto_clock(record["time"]):
                _, status, _ = run_wsgi_app(moto_app, environ, buffered=True)
        except (ValueError, KeyError, TypeError) as error:
            raise DamagedState(path, f"its record {number} cannot be read ({error!r})") from None
        if not status.startswith("200"):
            raise DamagedState(
                path,
                f"its record {number} ({record['target']}) was refused when replayed ({status}): the journal "
                "does not follow from the snapshot",
            )

    def snapshot(self) -> None:
        """Write the tables as they are now, and start an empty journal after them."""
        from moto.dynamodb.models import dynamodb_backends

        tables = {
            account_id: {region: backend.tables for region, backend in regions.items()}
            for account_id, regions in dynamodb_backends.items()
        }
        generation = self.generation + 1
        payload = pickle.dumps({"moto": moto_version(), "generation": generation, "tables": tables}, protocol=5)
        write_sealed(self.snapshot_path, payload, durable=True)
        old = self._journal_path(self.generation)
        if self._journal is not None:
            self._journal.close()
        self.generation = generation
        self._journal = Journal(self._journal_path(generation))
        old.unlink(missing_ok=True)

    def close(self) -> None:
        """On a clean stop: a snapshot, so the next start replays nothing."""
        if self._journal is not None and self._journal.records:
            self.snapshot()

    def app(self, moto_app: WsgiApp) -> WsgiApp:
        def journalled(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            service, _, operation = target.partition(".")
            if service != "DynamoDB_20120810" or operation in _READ_ONLY:
                return moto_app(environ, start_response)
            body = buffered_body(environ)
            now = time.time()
            with _moto_clock(now):  # the time its replay will see
                status, answer = call_to_the_end(moto_app, environ, start_response)
            if status.startswith("200"):
                assert self._journal is not None
                key, region = _credential_scope(environ.get("HTTP_AUTHORIZATION", ""))
                record = {"time": now, "target": target, "key": key, "region": region, "body": body.decode()}
                self._journal.append(json.dumps(record).encode())
                if self._journal.records >= self.snapshot_every:
                    self.snapshot()
            return answer

        return journalled


def _credential_scope(authorization: str) -> tuple[str, str]:
    """The access key and region a request was signed for (moto picks account and region by them)."""
    _, _, rest = authorization.partition("Credential=")
    parts = rest.split(",", 1)[0].split("/")
    return (parts[0] or "local", parts[2]) if len(parts) >= 3 else ("local", "us-east-1")
