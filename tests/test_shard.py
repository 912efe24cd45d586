"""Shards: parsing K/N, reading the scheduler's environment, splitting models over shards."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbench.shard import ShardSpec, parse_shard, resolve_shard, shard_from_env, shard_models, split


def test_parse_k_of_n() -> None:
    assert parse_shard("2/4") == ShardSpec(2, 4)
    assert parse_shard(" 1/1 ") == ShardSpec(1, 1)
    assert str(parse_shard("3/8")) == "3/8"


@pytest.mark.parametrize("off", ["off", "OFF", "none", ""])
def test_off_means_not_sharded(off: str) -> None:
    assert parse_shard(off) is None


@pytest.mark.parametrize("bad", ["0/4", "5/4", "4", "a/b", "1/0", "-1/2", "1/2/3", "1 of 2"])
def test_bad_shard_names_value_and_forms(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_shard(bad)
    message = str(info.value)
    assert repr(bad) in message and "K/N" in message and "--wb-shard" in message


@pytest.mark.parametrize(
    ("array", "ids"),
    [
        ({"SLURM_ARRAY_TASK_MIN": "0", "SLURM_ARRAY_TASK_MAX": "3"}, [0, 1, 2, 3]),  # --array=0-3
        ({"SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "4"}, [1, 2, 3, 4]),  # --array=1-4
        ({"SLURM_ARRAY_TASK_MIN": "1", "SLURM_ARRAY_TASK_MAX": "7", "SLURM_ARRAY_TASK_STEP": "2"},
         [1, 3, 5, 7]),  # --array=1-7:2
    ],
)
def test_slurm_array_ids_map_to_1_to_n(array: dict[str, str], ids: list[int]) -> None:
    shards = [
        shard_from_env({**array, "SLURM_ARRAY_TASK_ID": str(i), "SLURM_ARRAY_TASK_COUNT": "4"}) for i in ids
    ]
    assert shards == [ShardSpec(k, 4, "SLURM_ARRAY_TASK_ID") for k in (1, 2, 3, 4)]


def test_slurm_list_array_is_refused() -> None:
    # --array=1,2,5: three tasks, min 1, max 5 -- task 2 would silently read as shard 2 of 3.
    env = {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "3", "SLURM_ARRAY_TASK_MIN": "1",
           "SLURM_ARRAY_TASK_MAX": "5"}
    with pytest.raises(ValueError, match=r"--array=0-3 .*--wb-shard"):
        shard_from_env(env)


def test_slurm_without_count_is_refused() -> None:
    with pytest.raises(ValueError, match="SLURM_ARRAY_TASK_COUNT"):
        shard_from_env({"SLURM_ARRAY_TASK_ID": "3"})


def test_slurm_garbage_names_variable() -> None:
    with pytest.raises(ValueError, match=r"SLURM_ARRAY_TASK_COUNT='x'"):
        shard_from_env(
            {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "x", "SLURM_ARRAY_TASK_MIN": "0"}
        )


def test_indexed_job_index_from_zero() -> None:
    assert shard_from_env({"JOB_COMPLETION_INDEX": "0", "WB_SHARD_COUNT": "3"}) == ShardSpec(
        1, 3, "JOB_COMPLETION_INDEX")
    assert shard_from_env({"JOB_COMPLETION_INDEX": "2", "WB_SHARD_COUNT": "3"}) == ShardSpec(
        3, 3, "JOB_COMPLETION_INDEX")


def test_indexed_job_needs_count() -> None:
    with pytest.raises(ValueError, match=r"WB_SHARD_COUNT to the Indexed Job's spec\.completions"):
        shard_from_env({"JOB_COMPLETION_INDEX": "1"})
    with pytest.raises(ValueError, match="must be 0 to WB_SHARD_COUNT - 1"):
        shard_from_env({"JOB_COMPLETION_INDEX": "3", "WB_SHARD_COUNT": "3"})


def test_no_scheduler_no_shard() -> None:
    assert shard_from_env({"PATH": "/bin"}) is None


def test_option_wins_over_environment() -> None:
    env = {"SLURM_ARRAY_TASK_ID": "0", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "0"}
    assert resolve_shard("2/2", env) == ShardSpec(2, 2)
    assert resolve_shard("off", env) is None  # an array job used for something else
    assert resolve_shard(None, env) == ShardSpec(1, 4, "SLURM_ARRAY_TASK_ID")


def test_split_balances_case_counts_and_keeps_run_order() -> None:
    groups = [("a", 30), ("b", 10), ("c", 10), ("d", 10), ("e", 30)]
    assert split(groups, 2) == [["a", "b", "d"], ["c", "e"]]
    # LPT: a(30)->1, e(30)->2, b(10)->1, c(10)->2, d(10)->1: totals 50 and 40.
    assert shard_models(groups, ShardSpec(2, 2)) == ["c", "e"]


def test_more_shards_than_models_leaves_some_empty() -> None:
    assert split([("a", 5), ("b", 3)], 3) == [["a"], ["b"], []]


def test_split_refuses_repeated_models() -> None:
    with pytest.raises(ValueError, match=r"repeat.*: a$"):
        split([("a", 1), ("a", 2)], 2)


@given(
    st.lists(st.integers(min_value=0, max_value=500), min_size=0, max_size=30),
    st.integers(min_value=1, max_value=8),
)
def test_split_is_a_partition(counts: list[int], shards: int) -> None:
    groups = [(f"m{i}", n) for i, n in enumerate(counts)]
    parts = split(groups, shards)
    assert len(parts) == shards
    flat = [m for part in parts for m in part]
    assert sorted(flat) == sorted(name for name, _ in groups)  # every model on exactly one shard
    assert split(groups, shards) == parts  # deterministic: every shard computes the same split
    # LPT's guarantee: no shard exceeds the mean load by more than the heaviest model.
    load = {name: n for name, n in groups}
    totals = [sum(load[m] for m in part) for part in parts]
    if counts:
        assert max(totals) <= sum(counts) / shards + max(counts)
