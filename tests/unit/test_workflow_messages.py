"""The workflow's JSON is a wire format: an execution started by one version is still running when
the next deploys, and its Tasks call the new Lambdas with the state the old ones wrote.

`workflow_states_v1.json` holds one state of each shape every step took and returned (a first
generation and a regeneration, inline and distributed shards, parked, failed), captured from
local runs before the steps took typed messages (domain/workflow_messages.py). Read through the
new decoders, each input is what the step needs; each result, read back and written through the
edge (`run_step`), is byte for byte what the older step returned, so the next state, a Choice
and an ASL path, find what they always found."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from chalicelib.domain.commands import GenerationJob, StepFailure
from chalicelib.domain.reports import by_day_json
from chalicelib.domain.sharding import Shard
from chalicelib.domain.workflow_messages import (
    AggregateInput,
    AssembledFile,
    AssembleInput,
    FinalizeInput,
    FinalizeResult,
    MarkFailedInput,
    MarkFailedResult,
    PartWritten,
    PlanInput,
    PlanReady,
    ShardItem,
    ShardList,
    plan_result_from_json,
)
from chalicelib.runtime.workflow import SHARD_INPUT
from chalicelib.runtime.workflow_edge import run_step, task_input

SAMPLES: list[dict[str, Any]] = json.loads(Path(__file__).with_name("workflow_states_v1.json").read_text())
RESULTS = {
    "plan": plan_result_from_json,
    "aggregate_shard": PartWritten.from_json,
    "assemble": AssembledFile.from_json,
    "finalize": FinalizeResult.from_json,
    "mark_failed": MarkFailedResult.from_json,
}
IDS = [f"{index}-{sample['step']}" for index, sample in enumerate(SAMPLES)]


def test_the_samples_cover_every_step_and_shape():
    steps = {sample["step"] for sample in SAMPLES}
    assert steps == set(RESULTS)
    plans = [sample["result"] for sample in SAMPLES if sample["step"] == "plan"]
    assert {("shards" in plan, "shardList" in plan, "waitingFor" in plan) for plan in plans} == {
        (True, False, False),
        (False, True, False),
        (False, False, True),
    }
    assert any("baseRevision" in sample["state"]["job"] for sample in SAMPLES)  # a regeneration


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_an_older_versions_state_reads_as_the_step_needs_it(sample):
    step, state = sample["step"], sample["state"]
    message = task_input(step, state)
    assert message.job == GenerationJob.from_json(state["job"])
    if isinstance(message, PlanInput):
        assert message == PlanInput(GenerationJob.from_json(state["job"]))
    elif isinstance(message, AggregateInput):
        assert message.shard.to_json() == state["shard"]
        assert message.day_rows is not None
        assert (by_day_json(message.day_versions), by_day_json(message.day_rows)) == (
            state["dayVersions"],
            state["dayRows"],
        )
    elif isinstance(message, AssembleInput):
        assert [part.to_json() for part in message.parts] == state["parts"]
    elif isinstance(message, FinalizeInput):
        assert message.file.to_json() == state["file"]
        assert by_day_json(message.day_versions) == state["dayVersions"]
    else:
        assert isinstance(message, MarkFailedInput)
        cause = json.loads(state["error"]["Cause"])["errorMessage"]
        assert message.failure == StepFailure(state["error"]["Error"], cause)


@pytest.mark.parametrize("sample", SAMPLES, ids=IDS)
def test_a_result_is_carried_on_byte_for_byte_as_the_older_step_wrote_it(sample):
    step, state, result = sample["step"], sample["state"], sample["result"]
    carried = run_step(step, lambda message: RESULTS[step](result), state)
    assert json.dumps(carried) == json.dumps(result)


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s["step"] == "plan"], ids=lambda s: s["result"].get("ready"))
def test_an_older_plans_shards_reach_aggregate_as_its_map_hands_them(sample):
    """Each shard as the Map's ItemSelector (`SHARD_INPUT`) builds its input from the state an
    older Plan left: the new Aggregate reads the very shard and pins Plan wrote."""
    planned = sample["result"]
    decoded = plan_result_from_json(planned)
    if not planned["ready"]:
        assert not isinstance(decoded, PlanReady)
        return
    assert isinstance(decoded, PlanReady)
    if isinstance(decoded.shards, ShardList):
        assert (decoded.shards.bucket, decoded.shards.key) == (
            planned["shardList"]["bucket"],
            planned["shardList"]["key"],
        )
        return  # its items are read from S3: the same ShardItem JSON as an inline list's
    for item in planned["shards"]:
        selected = {
            key: item if path == "$$.Map.Item.Value" else planned[path[2:]] for key, path in SHARD_INPUT.items()
        }
        message = task_input("aggregate_shard", selected)
        assert isinstance(message, AggregateInput) and message.shard.to_json() == item
        assert (message.day_versions, message.day_rows) == (decoded.day_versions, decoded.day_rows)


def test_states_written_before_fields_existed_still_read():
    job = {"partnerOrgId": "p", "reportId": "r", "revision": 2, "trackingId": "t"}  # no trigger yet
    shard = {"index": 1, "customersFrom": "c", "customersBefore": None, "rows": 4}  # no directoryVersion, fileKey
    aggregate = task_input("aggregate_shard", {"job": job, "dayVersions": {"2026-10-01": 3}, "shard": shard})
    assert aggregate == AggregateInput(
        GenerationJob("p", "r", 2, "t"), {date(2026, 10, 1): 3}, None, ShardItem(Shard(1, "c", None, 4))
    )
    assemble = task_input("assemble", {"job": job, "parts": [{"partKey": "k", "rows": 1, "sha256": "h"}]})
    assert assemble == AssembleInput(GenerationJob("p", "r", 2, "t"), (PartWritten("k", 1, "h", None),))
    file = {"s3Key": "f", "rowCount": 1, "sha256": "h"}  # no size
    finalize = task_input("finalize", {"job": job, "file": file, "dayVersions": {}})
    assert finalize == FinalizeInput(GenerationJob("p", "r", 2, "t"), AssembledFile("f", 1, "h", None), {})
