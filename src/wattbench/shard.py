"""Shards: one study split across hosts by the cluster scheduler the user already has.

A shard is "K of N" (1 <= K <= N). It comes from ``--wb-shard K/N``, or, when that is not
given, from the scheduler's environment:

- Slurm job arrays: ``SLURM_ARRAY_TASK_ID`` with ``SLURM_ARRAY_TASK_COUNT``; the ids may start
  anywhere (``--array=0-3`` or ``--array=1-4``) and step (``--array=0-6:2``), so the shard is
  ``(id - SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP + 1``. An array that is not one evenly
  stepped range (``--array=1,2,5``) cannot be mapped and is refused.
- Kubernetes Indexed Jobs: ``JOB_COMPLETION_INDEX`` (from 0) with ``WB_SHARD_COUNT`` set to
  the Job's ``spec.completions`` (Kubernetes does not expose that count to the pod itself).

Each model's cases are one group: a model loads on one shard only. Groups are spread over the
shards by case count with the longest-processing-time-first heuristic of the ``binpacking``
package, which is deterministic, so every shard computes the same split on its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from binpacking.to_constant_bin_number import to_constant_bin_number

FORMS = "K/N with 1 <= K <= N (e.g. 2/4), or 'off'"
OFF = ("off", "none", "")
SHARD_COUNT_ENV = "WB_SHARD_COUNT"  # the Indexed Job's completions, set in its manifest


@dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` of ``count``, both from 1; ``source`` names where it came from."""

    index: int
    count: int
    source: str = "--wb-shard"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, source: str = "--wb-shard") -> ShardSpec | None:
    """``"K/N"`` as a ShardSpec; None for 'off' (not sharded, even inside an array job).

    Raises ValueError naming the value and the accepted forms.
    """
    value = text.strip()
    if value.lower() in OFF:
        return None
    k, sep, n = value.partition("/")
    try:
        if not sep:
            raise ValueError
        index, count = int(k), int(n)
    except ValueError:
        raise ValueError(f"{source} {text!r}: not a shard; give {FORMS}") from None
    if count < 1 or not 1 <= index <= count:
        raise ValueError(f"{source} {text!r}: K must be between 1 and N; give {FORMS}")
    return ShardSpec(index, count, source)


def _int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: not an integer; the scheduler sets it to one") from None


def shard_from_env(env: Mapping[str, str] | None = None) -> ShardSpec | None:
    """The shard a Slurm array task or a Kubernetes Indexed Job pod is; None outside both.

    Raises ValueError naming the variable and value when they cannot be mapped to K/N.
    """
    env = os.environ if env is None else env
    task_id = _int(env, "SLURM_ARRAY_TASK_ID")
    if task_id is not None:
        count = _int(env, "SLURM_ARRAY_TASK_COUNT")
        first = _int(env, "SLURM_ARRAY_TASK_MIN")
        last = _int(env, "SLURM_ARRAY_TASK_MAX")
        step = _int(env, "SLURM_ARRAY_TASK_STEP") or 1
        if count is None or first is None:
            raise ValueError(
                f"SLURM_ARRAY_TASK_ID={task_id} without SLURM_ARRAY_TASK_COUNT and "
                f"SLURM_ARRAY_TASK_MIN: cannot tell the shard; give --wb-shard {FORMS}"
            )
        offset, rest = divmod(task_id - first, step)
        contiguous = last is None or (last - first) // step + 1 == count
        if rest or not contiguous or not 0 <= offset < count:
            raise ValueError(
                f"Slurm array task {task_id} (min {first}, max {last}, step {step}, count {count}) "
                "is not one evenly stepped range such as --array=0-3 or --array=1-4; submit the "
                f"array that way, or give --wb-shard {FORMS}"
            )
        return ShardSpec(offset + 1, count, "SLURM_ARRAY_TASK_ID")
    index = _int(env, "JOB_COMPLETION_INDEX")
    if index is not None:
        count = _int(env, SHARD_COUNT_ENV)
        if count is None:
            raise ValueError(
                f"JOB_COMPLETION_INDEX={index} without {SHARD_COUNT_ENV}: set {SHARD_COUNT_ENV} "
                f"to the Indexed Job's spec.completions in its manifest, or give --wb-shard {FORMS}"
            )
        if count < 1 or not 0 <= index < count:
            raise ValueError(
                f"JOB_COMPLETION_INDEX={index} with {SHARD_COUNT_ENV}={count}: the index must be "
                f"0 to {SHARD_COUNT_ENV} - 1; set {SHARD_COUNT_ENV} to the Job's spec.completions"
            )
        return ShardSpec(index + 1, count, "JOB_COMPLETION_INDEX")
    return None


def resolve_shard(option: str | None, env: Mapping[str, str] | None = None) -> ShardSpec | None:
    """The run's shard: ``--wb-shard`` when given (``off`` turns sharding off), else the
    scheduler's environment, else None (not sharded). Raises ValueError for a bad value."""
    if option is not None:
        return parse_shard(option)
    return shard_from_env(env)


def split(groups: Sequence[tuple[str, int]], count: int) -> list[list[str]]:
    """The model names of each of ``count`` shards, from (model, case count) pairs in run order.

    Balanced by case count (binpacking's LPT: heaviest model first onto the lightest shard,
    ties to the lower shard); each shard lists its models in run order. A shard may be empty
    when there are fewer models than shards. Raises ValueError for a repeated model name, a
    negative case count or ``count`` < 1.
    """
    if count < 1:
        raise ValueError(f"shard count {count}: must be at least 1")
    names = [name for name, _ in groups]
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"model names repeat in the shard plan: {', '.join(repeated)}")
    bad = [f"{name}={cases}" for name, cases in groups if cases < 0]
    if bad:
        raise ValueError(f"negative case counts in the shard plan: {', '.join(bad)}")
    bins = to_constant_bin_number(dict(groups), count)
    order = {name: i for i, name in enumerate(names)}
    return [sorted(b, key=order.__getitem__) for b in bins]


def shard_models(groups: Sequence[tuple[str, int]], spec: ShardSpec) -> list[str]:
    """The models shard ``spec`` runs: its part of :func:`split`, in run order."""
    return split(groups, spec.count)[spec.index - 1]
