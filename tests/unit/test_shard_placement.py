"""Where Plan's shard list travels (domain/sharding.py, ARCHITECTURE.md §5): in the state for an
inline Map while it is at most 40 shards and small; otherwise in S3 for a Distributed Map. And the
shard count is capped so that the shards' results (``$.parts``) always fit in a state."""

from __future__ import annotations

from chalicelib.config import Settings
from chalicelib.domain.report_ids import new_report_id
from chalicelib.domain.reports import report_parts_prefix
from chalicelib.domain.sharding import (
    INLINE_MAX_SHARDS,
    PART_RESULT_BYTES,
    STATE_LIMIT_BYTES,
    STATE_MARGIN_BYTES,
    Shard,
    StateBudget,
    carries_shards_inline,
    json_size,
    plan_shards,
    shard_list_key,
)

# Ids as long as Webex's (base64 of a URI with a UUID).
ORG = "Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi8xZWI2NWZkZi05NjQzLTQxN2YtOTk3NC1hZDcyY2FlMGUxMGY"
PREFIX = report_parts_prefix(ORG, new_report_id(), 1)
MONTH = {"job": {"partnerOrgId": ORG, "reportId": "r" * 88, "revision": 1, "trackingId": "t" * 40}} | {
    "gone": False,
    "ready": True,
    "dayVersions": {f"2026-10-{day:02d}": 3 for day in range(1, 32)},
    "dayRows": {f"2026-10-{day:02d}": 123_456_789 for day in range(1, 32)},
}


def _shards(count: int, id_length: int = 80) -> list[dict[str, object]]:
    bounds = [None, *(f"{index:0{id_length}d}" for index in range(1, count)), None]
    return [Shard(index, bounds[index], bounds[index + 1], 4_000_000).to_json() for index in range(count)]


def test_41_shards_go_to_s3():
    assert not carries_shards_inline(_shards(INLINE_MAX_SHARDS + 1), StateBudget.of(MONTH, PREFIX))


def test_40_small_shards_stay_inline():
    assert INLINE_MAX_SHARDS == 40
    assert carries_shards_inline(_shards(40), StateBudget.of(MONTH, PREFIX))
    assert carries_shards_inline(_shards(1), StateBudget.of(MONTH, PREFIX))
    assert carries_shards_inline([], StateBudget.of(MONTH, PREFIX))


def test_40_shards_whose_list_is_too_big_go_to_s3():
    big = _shards(40, id_length=5000)  # customer ids of 5000 characters: ~400 KB of bounds
    assert json_size(big) > STATE_LIMIT_BYTES
    assert not carries_shards_inline(big, StateBudget.of(MONTH, PREFIX))


def test_the_size_rule_counts_the_rest_of_the_state_with_a_margin():
    shards = _shards(10)
    budget = StateBudget.of(MONTH, PREFIX)
    # Just fits beside a state this large, and not beside one a byte larger.
    fitting = STATE_LIMIT_BYTES - STATE_MARGIN_BYTES - json_size(shards) - 10 * budget.part_bytes
    assert carries_shards_inline(shards, StateBudget(fitting, budget.part_bytes))
    assert not carries_shards_inline(shards, StateBudget(fitting + 1, budget.part_bytes))


def test_the_threshold_is_a_setting_with_the_domain_default():
    assert Settings().inline_max_shards == INLINE_MAX_SHARDS
    assert Settings.from_env({"WBR_INLINE_MAX_SHARDS": "2"}).inline_max_shards == 2
    assert not carries_shards_inline(_shards(3), StateBudget.of(MONTH, PREFIX), max_inline=2)


def test_a_part_result_fits_its_estimate():
    result = {"partKey": f"{PREFIX}part-00999.csv", "rows": 999_999_999_999_999, "sha256": "f" * 64}
    assert json_size(result) + 1 <= StateBudget.of(MONTH, PREFIX).part_bytes
    assert StateBudget.of(MONTH, PREFIX).part_bytes == len(PREFIX) + PART_RESULT_BYTES


def test_shards_are_capped_so_their_results_fit_in_a_state():
    budget = StateBudget.of(MONTH, PREFIX)
    cap = budget.max_shards()
    assert 100 < cap < 1000  # ~310 bytes a result with Webex-long ids: fewer than plan_shards' 1000
    results = [{"partKey": f"{PREFIX}part-{i:05d}.csv", "rows": 10**12, "sha256": "f" * 64} for i in range(cap)]
    assert json_size({**MONTH, "shardList": {"bucket": "b" * 63, "key": PREFIX}, "parts": results}) <= (
        STATE_LIMIT_BYTES - STATE_MARGIN_BYTES
    )
    planned = plan_shards(((f"cust-{i:05d}", 1) for i in range(5000)), target_rows=1, max_shards=cap)
    assert len(planned) <= cap and sum(shard.rows for shard in planned) == 5000
    # a state already near the limit still plans one shard
    assert StateBudget(STATE_LIMIT_BYTES, budget.part_bytes).max_shards() == 1


def test_the_shard_list_lives_with_the_parts():
    key = shard_list_key(PREFIX)
    assert key.startswith(PREFIX) and not key.endswith(".csv")
