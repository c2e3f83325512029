"""What each step of the report workflow takes and returns (ARCHITECTURE.md §5), as frozen values.

Step Functions carries the workflow's state as JSON; each message here is read out of it
(`from_json`) or written into it (`to_json`) in exactly one place, and only the workflow's edge
(runtime/workflow_edge.py: the Lambda handlers and the local runner) calls them. The steps
(services/generation.py) see nothing but these values. The JSON is the wire format of every
execution ever started: its keys, their order and the ASL paths that read them
(runtime/workflow.py: ``$.job``, ``$.dayVersions``, ``$.shards``, ``$.parts``, ``$.file``,
``$.error``) do not change; readers accept what older versions wrote (no ``dayRows``, a part
without ``bytes``, a file without ``size``, a shard without ``directoryVersion``).

    Plan:       PlanInput            → PlanReady | PlanWaiting | PlanGone   (the state at $)
    Aggregate:  AggregateInput       → PartWritten        (each shard; the Map collects $.parts)
    Assemble:   AssembleInput        → AssembledFile      ($.file)
    Finalize:   FinalizeInput        → FinalizeResult     ($.result)
    MarkFailed: MarkFailedInput      → MarkFailedResult   ($.result)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from chalicelib.domain.commands import GenerationJob, StepFailure
from chalicelib.domain.reports import by_day_from_json, by_day_json
from chalicelib.domain.sharding import Shard

# ---- Plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanInput:
    """An execution's input: ``{"job": …}`` (what `Workflow.start` starts a run with)."""

    job: GenerationJob

    def to_json(self) -> dict[str, Any]:
        return {"job": self.job.to_json()}

    @classmethod
    def from_json(cls, state: Mapping[str, Any]) -> PlanInput:
        return cls(GenerationJob.from_json(state["job"]))


@dataclass(frozen=True)
class ShardItem:
    """One item of the shard list (the Maps' ``$$.Map.Item.Value``): a `Shard`, the directory
    snapshot version Plan pinned for it (None: the steps read the directory itself, or an older
    Plan), and, when this one shard writes the whole file, the report's key (``fileKey``)."""

    shard: Shard
    directory_version: int | None = None
    file_key: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(self.shard.to_json())
        if self.directory_version is not None:
            data["directoryVersion"] = self.directory_version
        if self.file_key is not None:
            data["fileKey"] = self.file_key
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ShardItem:
        version = data.get("directoryVersion")
        return cls(Shard.from_json(data), None if version is None else int(version), data.get("fileKey") or None)


def shard_list_json(items: Iterable[ShardItem]) -> list[dict[str, Any]]:
    """The shard list as JSON: an inline Map's ``$.shards``, or the array in S3 a Distributed
    Map's ItemReader reads (Plan writes it compact)."""
    return [item.to_json() for item in items]


@dataclass(frozen=True)
class ShardList:
    """Where a distributed run's shard list is (a JSON array of `ShardItem`s in S3, read by the
    Distributed Map's ItemReader), and how many shards it holds."""

    bucket: str
    key: str
    count: int


@dataclass(frozen=True)
class PlanReady:
    """The run goes on: the day versions (and each day's rows) it pinned, and its shards, in the
    state for an inline Map or (`ShardList`) in S3 for a Distributed Map."""

    job: GenerationJob
    day_versions: Mapping[date, int]
    day_rows: Mapping[date, int]
    shards: tuple[ShardItem, ...] | ShardList

    def carried_json(self) -> dict[str, Any]:
        """What the state carries from Plan to Finalize beside the shard list (`StateBudget`)."""
        return {
            "job": self.job.to_json(),
            "gone": False,
            "ready": True,
            "dayVersions": by_day_json(self.day_versions),
            "dayRows": by_day_json(self.day_rows),
        }

    def to_json(self) -> dict[str, Any]:
        if isinstance(self.shards, ShardList):
            located = {"bucket": self.shards.bucket, "key": self.shards.key}
            return {**self.carried_json(), "shardList": located, "shardCount": self.shards.count}
        return {**self.carried_json(), "shards": shard_list_json(self.shards)}


@dataclass(frozen=True)
class PlanWaiting:
    """The report is parked until `waiting_for` is published (its publication starts a new run)."""

    job: GenerationJob
    waiting_for: date

    def to_json(self) -> dict[str, Any]:
        return {"job": self.job.to_json(), "gone": False, "ready": False, "waitingFor": self.waiting_for.isoformat()}


@dataclass(frozen=True)
class PlanGone:
    """The run is no longer wanted (the report was deleted, or another run owns it)."""

    job: GenerationJob

    def to_json(self) -> dict[str, Any]:
        return {"job": self.job.to_json(), "gone": True, "ready": False}


PlanResult = PlanReady | PlanWaiting | PlanGone


def plan_result_from_json(data: Mapping[str, Any]) -> PlanResult:
    """Plan's result as the state carries it (what the DataReady? Choice reads)."""
    job = GenerationJob.from_json(data["job"])
    if data.get("gone"):
        return PlanGone(job)
    if not data.get("ready"):
        return PlanWaiting(job, date.fromisoformat(data["waitingFor"]))
    versions, rows = by_day_from_json(data["dayVersions"]), by_day_from_json(data.get("dayRows", {}))
    if "shardList" in data:
        located = data["shardList"]
        return PlanReady(job, versions, rows, ShardList(located["bucket"], located["key"], data["shardCount"]))
    return PlanReady(job, versions, rows, tuple(ShardItem.from_json(item) for item in data["shards"]))


# ---- Aggregate (one shard) -------------------------------------------------------------------


@dataclass(frozen=True)
class AggregateInput:
    """What each shard's Aggregate is given (the Maps' ItemSelector, `workflow.SHARD_INPUT`).
    `day_rows` is None in a state written before Plan pinned them."""

    job: GenerationJob
    day_versions: Mapping[date, int]
    day_rows: Mapping[date, int] | None
    shard: ShardItem

    @classmethod
    def from_json(cls, state: Mapping[str, Any]) -> AggregateInput:
        day_rows = state.get("dayRows")
        return cls(
            GenerationJob.from_json(state["job"]),
            by_day_from_json(state["dayVersions"]),
            None if day_rows is None else by_day_from_json(day_rows),
            ShardItem.from_json(state["shard"]),
        )


@dataclass(frozen=True)
class PartWritten:
    """A shard's CSV part in S3: its rows, hash and size (None: a part written before parts
    carried their size)."""

    part_key: str
    rows: int
    sha256: str
    bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"partKey": self.part_key, "rows": self.rows, "sha256": self.sha256}
        if self.bytes is not None:
            data["bytes"] = self.bytes
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PartWritten:
        return cls(data["partKey"], data["rows"], data["sha256"], data.get("bytes"))


# ---- Assemble ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssembleInput:
    """The job and the shards' parts (``$.parts``, the Map's results)."""

    job: GenerationJob
    parts: tuple[PartWritten, ...]

    @classmethod
    def from_json(cls, state: Mapping[str, Any]) -> AssembleInput:
        return cls(GenerationJob.from_json(state["job"]), tuple(PartWritten.from_json(part) for part in state["parts"]))


@dataclass(frozen=True)
class AssembledFile:
    """The report's file in S3 (``$.file``): rows, hash, size (None: assembled by an older version)."""

    s3_key: str
    row_count: int
    sha256: str
    size: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"s3Key": self.s3_key, "rowCount": self.row_count, "sha256": self.sha256, "size": self.size}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AssembledFile:
        return cls(data["s3Key"], data["rowCount"], data["sha256"], data.get("size"))


# ---- Finalize ---------------------------------------------------------------------------------

FinalizeOutcome = Literal["completed", "regenerated", "unchanged", "gone"]


@dataclass(frozen=True)
class FinalizeInput:
    """The job, its assembled file and the day versions Plan pinned (what the file was made of)."""

    job: GenerationJob
    file: AssembledFile
    day_versions: Mapping[date, int]

    @classmethod
    def from_json(cls, state: Mapping[str, Any]) -> FinalizeInput:
        return cls(
            GenerationJob.from_json(state["job"]),
            AssembledFile.from_json(state["file"]),
            by_day_from_json(state["dayVersions"]),
        )


@dataclass(frozen=True)
class FinalizeResult:
    """What became of the file; a first generation that completed also tells its rows and the
    seconds since the report was asked for (the worker's metrics)."""

    outcome: FinalizeOutcome
    rows: int | None = None
    seconds: float | None = None

    @property
    def completed(self) -> bool:
        return self.outcome in ("completed", "regenerated")

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"completed": self.completed, "outcome": self.outcome}
        if self.rows is not None:
            data.update(rows=self.rows, seconds=self.seconds)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FinalizeResult:
        return cls(data["outcome"], data.get("rows"), data.get("seconds"))


# ---- MarkFailed -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarkFailedInput:
    """The job and why a Task failed (``$.error``, which a Catch put there; none: unknown)."""

    job: GenerationJob
    failure: StepFailure = field(default_factory=lambda: StepFailure(""))

    @classmethod
    def from_json(cls, state: Mapping[str, Any]) -> MarkFailedInput:
        error = state.get("error")
        job = GenerationJob.from_json(state["job"])
        return cls(job, StepFailure.from_json(error)) if isinstance(error, Mapping) else cls(job)


@dataclass(frozen=True)
class MarkFailedResult:
    """Whether the report was marked FAILED (a regeneration's never is), with which error code."""

    failed: bool
    code: int

    def to_json(self) -> dict[str, Any]:
        return {"failed": self.failed, "code": self.code}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MarkFailedResult:
        return cls(data["failed"], data["code"])


StepInput = PlanInput | AggregateInput | AssembleInput | FinalizeInput | MarkFailedInput
StepOutput = PlanResult | PartWritten | AssembledFile | FinalizeResult | MarkFailedResult
