"""Shards: one study split across hosts by the cluster scheduler the user already has.

A shard is "K of N" (1 <= K <= N). It comes from ``--wb-shard K/N``, or, when that is not
given, from the scheduler's environment:

- Slurm job arrays: ``SLURM_ARRAY_TASK_ID`` with ``SLURM_ARRAY_TASK_COUNT``; the ids may start
  anywhere (``--array=0-3`` or ``--array=1-4``) and step (``--array=0-6:2``), so the shard is
  ``(id - SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP + 1``. An array that is not one evenly
  stepped range (``--array=1,2,5``) cannot be mapped and is refused. A failed task resubmitted
  alone (``sbatch --array=3``) is an array of one task: it keeps the shard its run folder's
  manifest names (wattbench.scale.manifest.resumed_shard).
- Kubernetes Indexed Jobs: ``JOB_COMPLETION_INDEX`` (from 0) with ``WB_SHARD_COUNT`` set to
  the Job's ``spec.completions`` (Kubernetes does not expose that count to the pod itself).

How a study is split (:func:`parts`), the same for every source of K/N; deterministic, so every
shard computes the same split on its own and no coordinator is needed:

- At least as many models (with cases) as shards: each model's cases are one group, and a model
  loads on one shard only. Groups are spread over the shards by case count with the
  longest-processing-time-first heuristic of the ``binpacking`` package.
- Fewer models than shards (one 70B model over four nodes): each model gets a number of shards
  in proportion to its cases (each spare shard goes to the model with the most cases per shard),
  and its cases are dealt over them as cards are, back and forth (shards 1 2 3 3 2 1 1 2 ...).
  A shard still loads each of its models once. A model's items that are not cases (the
  prompt-growth checks, a user's own tests) run on its first shard only.

Example: one model of 30 cases over ``--wb-shard K/4`` gives shards of 7, 7, 8 and 8 cases; models
of 30 and 2 cases over 4 shards give the first model three shards of 10 and the second one of 2.
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


@dataclass(frozen=True)
class Share:
    """A shard's share of one model's cases: part ``part`` (from 0) of ``parts``, its cases dealt
    back and forth (:func:`dealt`); ``Share(model)`` is all of them."""

    model: str
    part: int = 0
    parts: int = 1

    def of(self, case_ids: Sequence[str]) -> list[str]:
        """This share's case ids among the model's ``case_ids`` (in run order)."""
        return [case for i, case in enumerate(case_ids) if dealt(i, self.parts) == self.part]

    def size(self, cases: int) -> int:
        """How many of a model's ``cases`` cases this share holds."""
        return sum(dealt(i, self.parts) == self.part for i in range(cases))


def dealt(position: int, parts: int) -> int:
    """The part (from 0) that the case at ``position`` (from 0, in run order) goes to.

    Back and forth, 0 1 2 2 1 0 0 1 ..., not in blocks and not round robin: a model's cases come
    task by task and level by level, so a block would give one shard all of a task and round
    robin can give one shard every L0 (two levels over two shards); back and forth mixes both.
    """
    lap, seat = divmod(position, parts)
    return seat if lap % 2 == 0 else parts - 1 - seat


@dataclass(frozen=True)
class Part:
    """What one shard runs, each in run order: the models it loads (once each), the case ids it
    owns, and ``home``: the models whose other items (growth checks, a user's tests) it runs."""

    models: tuple[str, ...]
    cases: tuple[str, ...]
    home: tuple[str, ...]


def _check(groups: Sequence[tuple[str, int]], count: int) -> None:
    if count < 1:
        raise ValueError(f"shard count {count}: must be at least 1")
    names = [name for name, _ in groups]
    if len(set(names)) != len(names):
        repeated = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"model names repeat in the shard plan: {', '.join(repeated)}")
    bad = [f"{name}={cases}" for name, cases in groups if cases < 0]
    if bad:
        raise ValueError(f"negative case counts in the shard plan: {', '.join(bad)}")


def shares(groups: Sequence[tuple[str, int]], count: int) -> list[list[Share]]:
    """Each of ``count`` shards' shares of the models, from (model, case count) pairs in run order.

    See the module docstring for the rule. Each shard lists its shares in run order; a shard may
    be empty when there are fewer cases than shards. Raises ValueError for a repeated model
    name, a negative case count or ``count`` < 1.
    """
    _check(groups, count)
    order = {name: i for i, (name, _) in enumerate(groups)}
    cases = dict(groups)
    loaded = [name for name, n in groups if n > 0]
    if len(loaded) >= count:
        bins = to_constant_bin_number(cases, count)
        return [[Share(name) for name in sorted(b, key=order.__getitem__)] for b in bins]
    spread = dict.fromkeys(loaded, 1)  # model -> how many shards it spreads over
    for _ in range(count - len(loaded) if loaded else 0):
        # max() keeps the first of equals: ties go to the model that runs first.
        name = max(spread, key=lambda m: cases[m] / spread[m])
        if cases[name] <= spread[name]:
            break  # one case per shard already: another shard of it would be empty
        spread[name] += 1
    out = [[Share(name, k, spread[name])] for name in loaded for k in range(spread[name])]
    out += [[] for _ in range(count - len(out))]
    sizes = [sum(s.size(cases[s.model]) for s in shard) for shard in out]
    for name, n in groups:  # a model without cases loads only for a user's tests: the lightest shard
        if n == 0:
            out[sizes.index(min(sizes))].append(Share(name))
    return [sorted(shard, key=lambda s: order[s.model]) for shard in out]


def split(groups: Sequence[tuple[str, int]], count: int) -> list[list[str]]:
    """The model names each of ``count`` shards loads, from (model, case count) pairs in run
    order (see :func:`shares`); a model split over several shards is named in each."""
    return [[share.model for share in shard] for shard in shares(groups, count)]


def shard_models(groups: Sequence[tuple[str, int]], spec: ShardSpec) -> list[str]:
    """The models shard ``spec`` loads: its part of :func:`split`, in run order."""
    return split(groups, spec.count)[spec.index - 1]


def parts(plan: Sequence[tuple[str, Sequence[str]]], count: int) -> list[Part]:
    """What each of ``count`` shards runs, from the plan: (model, its case ids) in run order.

    Raises ValueError as :func:`shares` does.
    """
    ids = dict(plan)
    out = []
    for shard in shares([(model, len(cases)) for model, cases in plan], count):
        out.append(Part(
            models=tuple(s.model for s in shard),
            cases=tuple(case for s in shard for case in s.of(ids[s.model])),
            home=tuple(s.model for s in shard if s.part == 0),
        ))
    return out


def shard_part(plan: Sequence[tuple[str, Sequence[str]]], spec: ShardSpec) -> Part:
    """What shard ``spec`` runs: its :class:`Part` of the plan."""
    return parts(plan, spec.count)[spec.index - 1]
