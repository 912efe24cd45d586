"""Shards: parsing K/N, reading the scheduler's environment, splitting a study over shards."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbench.scale.shard import (
    ShardSpec,
    parse_shard,
    parts,
    resolve_shard,
    shard_from_env,
    shard_models,
    shard_part,
    split,
)


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


def test_fewer_models_than_shards_spread_a_model_over_several() -> None:
    # a(5) takes the spare shard (5/1 > 3/1): shards of 3, 2 and 3 cases, each loading one model.
    assert split([("a", 5), ("b", 3)], 3) == [["a"], ["a"], ["b"]]
    # 30 and 2 cases over 4 shards: the spare shards go where the cases per shard are highest.
    assert [len(p.cases) for p in parts([("a", ids("a", 30)), ("b", ids("b", 2))], 4)] == [10, 10, 10, 2]


def test_one_model_deals_its_cases_over_every_shard() -> None:
    cases = ids("m", 30)
    shards = parts([("m", cases)], 4)
    assert [len(p.cases) for p in shards] == [7, 7, 8, 8]
    # Dealt back and forth (0 1 2 3 3 2 1 0 ...), so each shard gets every task and every level.
    assert shards[1].cases[:4] == ("m-1", "m-6", "m-9", "m-14")
    assert sorted(c for p in shards for c in p.cases) == sorted(cases)
    assert [p.models for p in shards] == [("m",)] * 4  # each shard loads the model once
    # The model's growth checks and a user's tests of it run once, on its first shard.
    assert [p.home for p in shards] == [("m",), (), (), ()]
    assert shard_part([("m", cases)], ShardSpec(2, 4, "JOB_COMPLETION_INDEX")) == shards[1]


def test_two_levels_over_two_shards_are_not_one_level_each() -> None:
    cases = ("qa-L0", "qa-L1", "summary-L0", "summary-L1")
    assert [p.cases for p in parts([("m", cases)], 2)] == [("qa-L0", "summary-L1"), ("qa-L1", "summary-L0")]


def test_more_shards_than_cases_leaves_some_empty() -> None:
    shards = parts([("m", ("m-0", "m-1"))], 4)
    assert [p.cases for p in shards] == [("m-0",), ("m-1",), (), ()]
    assert [p.models for p in shards] == [("m",), ("m",), (), ()]


def test_a_model_without_cases_goes_whole_to_the_lightest_shard() -> None:
    # -k left model z no case; it still loads for a user's tests, on one shard only.
    shards = parts([("a", ids("a", 3)), ("z", ())], 2)
    assert [len(p.cases) for p in shards] == [1, 2]
    assert [p.models for p in shards] == [("a", "z"), ("a",)] and shards[0].home == ("a", "z")


def test_split_refuses_repeated_models() -> None:
    with pytest.raises(ValueError, match=r"repeat.*: a$"):
        split([("a", 1), ("a", 2)], 2)


def ids(model: str, count: int) -> tuple[str, ...]:
    return tuple(f"{model}-{i}" for i in range(count))


def best_max_load(counts: list[int], shards: int) -> int:
    """By brute force: the least largest shard when each shard holds cases of one model only."""
    positive = [n for n in counts if n]
    best = max(positive)
    for spread in itertools.product(range(1, shards + 1), repeat=len(positive)):
        if sum(spread) <= shards:
            best = min(best, max(-(-n // k) for n, k in zip(positive, spread)))
    return best


@given(
    st.lists(st.integers(min_value=0, max_value=60), min_size=0, max_size=12),
    st.integers(min_value=1, max_value=6),
)
def test_split_is_a_partition(counts: list[int], shards: int) -> None:
    plan = [(f"m{i}", ids(f"m{i}", n)) for i, n in enumerate(counts)]
    found = parts(plan, shards)
    assert len(found) == shards
    flat = [case for part in found for case in part.cases]
    assert sorted(flat) == sorted(c for _, cases in plan for c in cases)  # every case on exactly one shard
    assert parts(plan, shards) == found  # deterministic: every shard computes the same split
    for part in found:  # a shard loads the models of its cases, each once, and any it is home to
        assert len(set(part.models)) == len(part.models)
        assert {c.rsplit("-", 1)[0] for c in part.cases} <= set(part.models) <= {
            c.rsplit("-", 1)[0] for c in part.cases} | set(part.home)
    homes = [m for part in found for m in part.home]
    assert sorted(homes) == sorted(m for m, _ in plan)  # a model's other items run on one shard
    sizes = [len(part.cases) for part in found]
    loaded = [n for n in counts if n]
    if len(loaded) >= shards:  # whole models, LPT: no shard exceeds the mean by more than the heaviest
        assert max(sizes) <= sum(counts) / shards + max(counts)
        assert all(len(part.models) == len(set(part.models)) for part in found)
        assert sorted(m for part in found for m in part.models) == sorted(m for m, _ in plan)
    elif loaded:  # spread: the largest shard is as small as any one-model-per-shard split allows
        assert max(sizes) == best_max_load(counts, shards)
