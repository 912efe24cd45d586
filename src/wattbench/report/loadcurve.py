"""The load curve: a configuration's figures against its load points (--wb-concurrency).

Per (model, task, load, configuration other than N) with two or more load points, the points in
order of N, each with system tokens/s, tokens/s per stream, J/token and quality (with their 95%
CIs over the point's requests), the error rate and TTFT p90. Three readings of it:

- the knee: the first point from which one more step gains less system throughput than it loses
  per-stream speed (both as fractions of the point before), as vLLM's ``bench sweep`` plots the
  two against each other; points measured under contention are left out of it;
- quality changes: a point whose quality interval does not overlap the first point's, each from
  MIN_ANSWERS or more answers (greedy output changes with what else is in the batch:
  llama.cpp#7052, vllm#4112; request i has the same seed at every point, so the points are
  paired);
- the most efficient point that meets the SLOs (--wb-slo): the least J/token among points whose
  every request met them and none failed.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from wattbench import axes


@dataclass(frozen=True)
class Curve:
    """One configuration's load points, in order of N, and what they show."""

    system: str
    task: str
    load: str
    config: str  # the configuration label without the load point
    points: list[dict[str, Any]]  # group rows (stats.csv), by N
    knee: int | None  # N of the knee, None when throughput never stops paying
    quality_changes: list[int]  # N of points whose quality interval misses the first point's
    best_under_slo: int | None  # N of the least J/token among points that met every SLO
    slo_given: bool  # whether the records carry SLOs (--wb-slo)
    front: list[int]  # N of the Pareto front: per-stream and system tokens/s up, J/token down

    @property
    def concurrencies(self) -> list[int]:
        return [int(p["concurrency"]) for p in self.points]


def curves(groups: Sequence[dict[str, Any]]) -> list[Curve]:
    """Every configuration measured at two or more load points."""
    by_config: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in groups:
        if not str(row.get("concurrency", "none")).isdigit():
            continue  # a plain generation, not a load point
        config = axes.configuration({**row, "concurrency": "none"})
        by_config[(row["system"], row["task"], row["load"], config)].append(row)
    out = []
    for (system, task, load, config), rows in sorted(by_config.items()):
        points = sorted(rows, key=lambda r: int(r.get("concurrency") or 1))
        if len(points) < 2:
            continue
        slo_given = any(p.get("slo_met_pct_mean") is not None for p in points)
        out.append(Curve(system, task, load, config, points, knee(points), _quality_changes(points),
                         _best_under_slo(points), slo_given, pareto_front(points)))
    return out


def knee(points: Sequence[dict[str, Any]]) -> int | None:
    """N past which system throughput gains less than per-stream speed loses (module doc)."""
    clean = [p for p in points if not p.get("contended_only")]
    for before, after in itertools.pairwise(clean):
        t0, t1 = before.get("serving_system_tokens_per_s_mean"), after.get("serving_system_tokens_per_s_mean")
        s0, s1 = before.get("serving_stream_tokens_per_s_mean"), after.get("serving_stream_tokens_per_s_mean")
        if not (t0 and t1 and s0 and s1):
            continue
        if t1 / t0 - 1.0 < 1.0 - s1 / s0:
            return int(before["concurrency"])
    return None


def pareto_front(points: Sequence[dict[str, Any]]) -> list[int]:
    """N of the points no other point beats on all three of tokens/s per stream (up), system
    tokens/s (up) and J/token (down) while being better on one; points missing a figure are
    left out."""
    stream, system, joules = (
        "serving_stream_tokens_per_s_mean", "serving_system_tokens_per_s_mean", "energy_per_token_j_mean"
    )
    scored = [
        (p, (p[stream], p[system], -p[joules]))
        for p in points if all(p.get(k) is not None for k in (stream, system, joules))
    ]

    def beats(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return all(x >= y for x, y in zip(a, b)) and a != b

    return [int(p["concurrency"]) for p, v in scored if not any(beats(w, v) for _q, w in scored)]


MIN_ANSWERS = 10  # a quality interval from fewer answers is too loose to say the load changed it


def _quality_changes(points: Sequence[dict[str, Any]]) -> list[int]:
    first = points[0]
    low, high = first.get("quality_ci_low"), first.get("quality_ci_high")
    if low is None or high is None or first.get("requests", first.get("runs", 0)) < MIN_ANSWERS:
        return []
    changed = []
    for point in points[1:]:
        lo, hi = point.get("quality_ci_low"), point.get("quality_ci_high")
        enough = point.get("requests", point.get("runs", 0)) >= MIN_ANSWERS
        if enough and lo is not None and hi is not None and (hi < low or lo > high):
            changed.append(int(point["concurrency"]))
    return changed


def _best_under_slo(points: Sequence[dict[str, Any]]) -> int | None:
    met = [
        p for p in points
        if p.get("slo_met_pct_mean") == 100.0 and not p.get("serving_error_pct_mean")
        and p.get("energy_per_token_j_mean") is not None
    ]
    if not met:
        return None
    return int(min(met, key=lambda p: p["energy_per_token_j_mean"])["concurrency"])
