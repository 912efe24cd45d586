"""The study a report describes: its groups' statistics, quality normalised per task, the
efficiency-quality ratio, star ratings and Pareto fronts.

Words used throughout:
- a *group* is one (fingerprint, model, task, load, level, system prompt, energy boundary): the
  runs of one case on one machine, their energy counted within one boundary; stats.csv has a row
  per group;
- a *system* is a model on a machine: the model's name, with ``@`` and its fingerprint when the
  report merges one model measured on several machines, and ``[boundary]`` when its energy was
  counted within several boundaries (monitors/boundary.py);
- a *configuration* is what a user chooses: a system at a prompt level (and system prompt). It
  is rated per task (averaged over the task's loads) and overall (averaged over tasks).

Quality is normalised per task (divided by the best group mean of that task), so tasks combine.
A task where no group scored above 0 has no normalised quality and takes no part in ratings.
The ratio is normalised quality per joule of one generation (energy_j), and per second.

Energy is ranked only within one boundary: stars, ratio shares and the energy Pareto front are
computed among the rows of one ``energy_boundary``, never across two (page.warnings says so),
as a GPU-only figure and a GPU+CPU figure cannot be set side by side.

A configuration's figure is a mean of group means (over loads, then over tasks). Its 95% CI
combines the groups' CIs (stats.interval_method) in quadrature, each side apart: for a mean of k
independent means, ``mean - sqrt(sum((mean_i - low_i)**2)) / k`` to
``mean + sqrt(sum((high_i - mean_i)**2)) / k``
(a normal approximation; the groups' own CIs are in stats.csv). ``runs_min`` is the fewest runs
behind any of its groups: stars resting on fewer than rating.PROVISIONAL_RUNS are provisional.
"""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wattbench import axes
from wattbench.cases.levels import LEVELS
from wattbench.monitors.boundary import of_record
from wattbench.records.machine import FIELDS as FINGERPRINT_FIELDS
from wattbench.records.machine import HARDWARE
from wattbench.report.pareto import pareto_front
from wattbench.report.quality import number, primary_key, quality
from wattbench.report.rating import PROVISIONAL_RUNS, stars
from wattbench.report.stats import NO_INTERVAL, interval_method, summary_table
from wattbench.report.tables import SCORES


def group_keys() -> tuple[str, ...]:
    """What one group of runs shares: the model's file, every axis of the case matrix, and the
    boundary its energy was counted within ("" without energy)."""
    return ("fingerprint", *axes.record_keys(), "energy_boundary")

FIGURES = (
    "latency_s",
    "ttft_s",
    "decode_tokens_per_s",
    "prompt_tokens",
    "completion_tokens",
    "energy_j",
    "energy_net_j",
    "energy_per_token_j",
    "tokens_per_j",
    "quality",
    "quality_per_j",
    "quality_per_s",
    "judge_score",
    "rss_peak_mb",
    "gpu_mem_peak_mb",
    # Load points (--wb-concurrency): the point's figures, on each of its records.
    "serving_system_tokens_per_s",
    "serving_stream_tokens_per_s",
    "serving_error_pct",
    "serving_ttft_p50_s",
    "serving_ttft_p90_s",
    "serving_ttft_p99_s",
    "serving_tpot_p50_s",
    "serving_tpot_p90_s",
    "serving_tpot_p99_s",
    "serving_goodput_tokens_per_j",
    "slo_met_pct",
    "thinking_tokens",
    # --wb-grid-intensity, --wb-embodied-carbon (wattbench.monitors.carbon): sci.csv is made of these.
    "carbon_gco2e",
    "carbon_per_token_gco2e",
    "carbon_embodied_gco2e",
    # GPU knob points (--wb-gpu-power-limit, --wb-gpu-clocks): what the GPUs did (report/knobs.py).
    "gpu_power_limit_w",
    "gpu_sm_clock_avg_mhz",
    "gpu_power_cap_active_count",
    "gpu_clock_event_samples_count",
)
_SCORE_SET = frozenset(SCORES)
MACHINE = (
    *HARDWARE,
    *FINGERPRINT_FIELDS,
    "model_sha256",
    "model_id",
    "energy_source",
    "energy_method",
)


def derived(record: Mapping[str, Any]) -> dict[str, float | None]:
    """A record's quality and its per-run ratios: quality per joule and per second, tokens per joule."""
    q = quality(record)
    energy, latency = number(record.get("energy_j")), number(record.get("latency_s"))
    tokens = number(record.get("completion_tokens"))
    # An attributed energy is the point's J/token x the tokens: its tokens per joule is the
    # point's own figure again, not one of this request.
    per_j = tokens / energy if tokens is not None and energy and not record.get("energy_attributed") else None
    return {
        "quality": q,
        "quality_per_j": q / energy if q is not None and energy else None,
        "quality_per_s": q / latency if q is not None and latency else None,
        "tokens_per_j": per_j,
        "slo_met_pct": None if (met := record.get("serving_slo_met")) is None else 100.0 * bool(met),
    }


@dataclass
class Contention:
    """How much of a study was measured while other processes competed for the machine
    (records marked ``contended``), as the page's warnings state it."""

    records: int = 0
    latency_s: float = 0.0
    energy_j: float = 0.0
    total_latency_s: float = 0.0
    total_energy_j: float = 0.0
    excluded: int = 0  # contended records left out because their group has clean ones
    only: int = 0  # groups that have only contended records (marked wherever they appear)

    def add(self, record: Mapping[str, Any]) -> None:
        """Count one record's time and joules, and whether it was contended."""
        latency, energy = number(record.get("latency_s")) or 0.0, number(record.get("energy_j")) or 0.0
        self.total_latency_s += latency
        self.total_energy_j += energy
        if record.get("contended"):
            self.records += 1
            self.latency_s += latency
            self.energy_j += energy


@dataclass
class Accumulator:
    """Collects the figures of streamed records per group: memory grows with groups, not records.

    Contended records (other processes competed during their window) are kept apart: a group
    with clean records is summarised from those alone, and a group with only contended ones
    from them, marked ``contended_only`` (see resolve_contention). A shared machine can invert
    a comparison; the conclusions follow the clean records."""

    # array("d") holds a float in 8 bytes where a list of floats takes 32: 100,000 records fit.
    values: dict[tuple[Any, ...], dict[str, array[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: array("d")))
    )
    contended_values: dict[tuple[Any, ...], dict[str, array[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: array("d")))
    )
    machines: dict[str, dict[str, Any]] = field(default_factory=dict)
    scores: set[str] = field(default_factory=set)  # score keys some record carries
    records: int = 0
    contention: Contention = field(default_factory=Contention)
    contended_only: set[tuple[Any, ...]] = field(default_factory=set)
    metrics: dict[str, str] = field(default_factory=dict)  # task -> its quality metric (the first seen)
    keys: tuple[str, ...] = field(default_factory=group_keys)  # what a group's runs share
    # Group -> the runs its records come from: a load point records each request, so its runs
    # are not its records, and "runs" must count the runs (provisional stars, "n = 1").
    request_runs: dict[tuple[Any, ...], set[int]] = field(default_factory=lambda: defaultdict(set))

    def __post_init__(self) -> None:
        # The keys read as they are, and whether the last is the boundary (monitors/boundary.py
        # reads it, so a record older than the key has the one its channels imply).
        self._bounded = self.keys[-1:] == ("energy_boundary",)
        self._plain = self.keys[:-1] if self._bounded else self.keys

    def add(self, record: Mapping[str, Any], ratios: Mapping[str, float | None]) -> None:
        """Count one run record, with its derived() figures."""
        self.records += 1
        get = record.get
        self.contention.add(record)
        task = str(get("task"))
        if task not in self.metrics:
            self.metrics[task] = primary_key(record)
        into = self.contended_values if get("contended") else self.values
        key = tuple([str(get(k)) for k in self._plain])
        if self._bounded:
            key += (of_record(record) or "",)
        figures = into[key]
        run = get("run")
        if get("serving_request") is not None and isinstance(run, int):
            self.request_runs[key].add(run)
        for name in FIGURES:  # in this order: it is stats.csv's column order
            value = ratios[name] if name in ratios else get(name)
            if value is None:
                continue
            if value.__class__ is not float:  # the common case, a float, skips number()
                value = number(value)
                if value is None:
                    continue
            elif not math.isfinite(value):  # NaN or an infinity: no figure (see number())
                continue
            figures[name].append(value)
        self.scores.update([k for k in _SCORE_SET.intersection(record) if record[k] is not None])
        fp = str(get("fingerprint"))
        if fp not in self.machines:
            self.machines[fp] = {k: record.get(k) for k in MACHINE if record.get(k) not in (None, "")}

    def resolve_contention(self) -> None:
        """Keep each group's clean figures; a group with none takes its contended ones and is
        marked. Called once, before the groups are summarised."""
        for key, figures in self.contended_values.items():
            if key in self.values:
                self.contention.excluded += max((len(v) for v in figures.values()), default=0)
            else:
                self.values[key] = figures
                self.contended_only.add(key)
        self.contention.only = len(self.contended_only)
        self.contended_values.clear()


@dataclass(frozen=True)
class Study:
    """Everything a report shows, computed once from the accumulated groups."""

    groups: list[dict[str, Any]]  # stats.csv rows
    configs: list[dict[str, Any]]  # per (configuration, task)
    overall: list[dict[str, Any]]  # per configuration, across tasks
    machines: dict[str, dict[str, Any]]  # fingerprint -> what it hashes
    records: int
    scores: set[str]
    tasks: list[str]
    levels: list[str]
    contention: Contention = field(default_factory=Contention)
    metrics: dict[str, str] = field(default_factory=dict)  # task -> its quality metric


def level_order(level: str) -> int:
    """Position of a level in L0 < L1 < L2 < L3 < P; other levels after them."""
    return LEVELS.index(level) if level in LEVELS else len(LEVELS)


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return math.fsum(present) / len(present) if present else None  # statistics.fmean, 3x faster


CI_FIGURES = (  # figures whose CI a configuration carries: the charts' and efficiency table's
    "quality_norm",
    "quality",  # absolute, on the task's own scale: "the quality I need" (findings.cheapest_at)
    "energy_j",
    "latency_s",
    "decode_tokens_per_s",
    "ttft_s",
    "energy_per_token_j",
)


def combined_ci(parts: Iterable[tuple[float, float, float]]) -> tuple[float, float, float] | None:
    """(mean, low, high) of the mean of independent means given as (mean, low, high); None if none."""
    present = list(parts)
    if not present:
        return None
    k = len(present)
    mean = math.fsum([m for m, _lo, _hi in present]) / k  # as statistics.fmean computes it
    below = math.sqrt(sum([(m - lo) ** 2 for m, lo, _hi in present])) / k
    above = math.sqrt(sum([(hi - m) ** 2 for m, _lo, hi in present])) / k
    return mean, mean - below, mean + above


# Each CI figure's (mean, low, high) keys in a group row (stats.csv; quality_norm has no _mean)
# and in a configuration row.
_GROUP_CI_KEYS = {
    name: (name if name == "quality_norm" else f"{name}_mean", f"{name}_ci_low", f"{name}_ci_high")
    for name in CI_FIGURES
}
_CONFIG_CI_KEYS = {name: (name, f"{name}_ci_low", f"{name}_ci_high") for name in CI_FIGURES}


def _ci_parts(
    rows: Iterable[Mapping[str, Any]], keys: tuple[str, str, str]
) -> list[tuple[float, float, float]]:
    """(mean, low, high) under ``keys`` in each row that has them."""
    mean, low, high = keys
    return [(r[mean], r[low], r[high]) for r in rows if r.get(mean) is not None and r.get(low) is not None]


# Each CI figure's (n, method) keys in a group row (quality_norm's are quality's: it is quality
# divided by a constant) and in a configuration row.
_GROUP_N_KEYS = {
    name: (f"{base}_n", f"{base}_ci_method") for name in CI_FIGURES
    for base in ["quality" if name == "quality_norm" else name]
}
_CONFIG_N_KEYS = {name: (f"{name}_n", f"{name}_ci_method") for name in CI_FIGURES}
COMBINED = " combined in quadrature"  # a configuration's interval method: its groups', combined


def _with_cis(
    row: dict[str, Any], members: list[dict[str, Any]], keys: Mapping[str, tuple[str, str, str]],
    n_keys: Mapping[str, tuple[str, str]] = _CONFIG_N_KEYS,
) -> None:
    """Add ``NAME_ci_low`` / ``NAME_ci_high`` (and the mean where missing) for every CI_FIGURES name,
    combined over ``members`` whose figures are under ``keys`` (_GROUP_CI_KEYS or _CONFIG_CI_KEYS),
    with ``NAME_n`` (the fewest values behind any member) and ``NAME_ci_method`` (the members'
    methods, combined; "none: n = 1" where a member has one value), from ``n_keys``."""
    for name in CI_FIGURES:
        mean_key, low_key, _high = keys[name]
        n_key, method_key = n_keys[name]
        with_mean = [m for m in members if m.get(mean_key) is not None]
        combined = combined_ci(_ci_parts(members, keys[name]))
        low, high = (None, None) if combined is None else combined[1:]
        if any(m.get(low_key) is None for m in with_mean):
            # A member without an interval (one run): the combination has none either, never
            # one made of the other members' intervals around a mean that includes it.
            low = high = None
        # No member with an interval (one run each) still has a mean: the members' own means.
        mean = combined[0] if combined is not None else _mean(m[mean_key] for m in with_mean)
        row.setdefault(name, mean)
        row[_CONFIG_CI_KEYS[name][1]], row[_CONFIG_CI_KEYS[name][2]] = low, high
        counts = [m[n_key] for m in with_mean if m.get(n_key) is not None]
        row[f"{name}_n"] = min(counts) if counts else None
        methods = sorted({str(m[method_key]).removesuffix(COMBINED) for m in with_mean if m.get(method_key)})
        if low is None:
            row[f"{name}_ci_method"] = NO_INTERVAL if counts and min(counts) < 2 else None
        else:
            row[f"{name}_ci_method"] = "+".join(methods) + (COMBINED if len(with_mean) > 1 else "")


def build_study(acc: Accumulator) -> Study:
    """Statistics per group, then normalisation, ratios, stars and fronts (rated_groups, then
    study_of). Consumes ``acc``'s figures (see rated_groups)."""
    return study_of(rated_groups(acc), acc)


def rated_groups(acc: Accumulator) -> list[dict[str, Any]]:
    """The groups (stats.csv rows): statistics of every figure, system, config, normalised
    quality, the ratio, and stars and Pareto flags within each (task, load). study_of() adds the
    rest; a report hands these to the workbook's writer first (report/helper.py).

    Consumes ``acc``: its runs' figures are freed once summarised, before the group rows are
    made (at 100,000 records that lowers the report's peak memory by a quarter).
    """
    import numpy as np  # lazy, as stats.summary_table

    acc.resolve_contention()
    layout = [(key, tuple(figures)) for key, figures in acc.values.items()]  # the table's row order
    table = summary_table([values for figures in acc.values.values() for values in figures.values()])
    acc.values.clear()
    keys: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...]]] = {}
    groups: list[dict[str, Any]] = []
    at = 0
    for start in range(0, len(layout), _GROUPS_AT_ONCE):
        part = layout[start : start + _GROUPS_AT_ONCE]
        block = table[at : at + sum(len(figures) for _key, figures in part)]
        at += len(block)
        runs = block[:, 0].astype(int).tolist()
        # Per figure: n, its interval's method, mean, variance, ci_low, ci_high (as _statistic_keys).
        labelled = np.column_stack([block[:, :1], block[:, :1], block[:, 1:]]).astype(object)
        labelled[:, 0] = runs
        labelled[:, 1] = [_METHODS.get(n) or interval_method(n) for n in runs]
        values = labelled.ravel().tolist()
        values = [None if v != v else v for v in values]  # NaN: a one-run figure's absent interval
        i = 0
        for key, figures in part:
            first, rest = keys.get(figures) or keys.setdefault(figures, _statistic_keys(figures))
            row = dict(zip(acc.keys, key))
            # One update per group, not a store per value: a quarter of a second at 20,000 groups.
            row.update(zip(first, values[_PER * i : _PER * i + _PER]))
            row["runs"] = int(max(runs[i : i + len(figures)]))  # the most values any figure had
            if key in acc.request_runs:  # a load point: its records are requests, not runs
                row["requests"], row["runs"] = row["runs"], len(acc.request_runs[key])
            row.update(zip(rest, values[_PER * i + _PER : _PER * (i + len(figures))]))
            row["contended_only"] = key in acc.contended_only
            groups.append(row)
            i += len(figures)
    del layout, table
    fingerprints: dict[str, set[str]] = defaultdict(set)
    bounds: dict[str, set[str]] = defaultdict(set)
    for row in groups:
        fingerprints[row["model"]].add(row["fingerprint"])
        bounds[row["model"]].add(row.get("energy_boundary", ""))
    best: dict[str, float] = defaultdict(float)
    for row in groups:
        row["system"] = (
            row["model"]
            if len(fingerprints[row["model"]]) == 1
            else (f"{row['model']}@{row['fingerprint'][:6]}")
        ) + (f"[{row.get('energy_boundary') or 'no energy'}]" if len(bounds[row["model"]]) > 1 else "")
        row["config"] = axes.configuration(row)
        best[row["task"]] = max(best[row["task"]], row.get("quality_mean", 0.0))
    for row in groups:
        top, q, energy = best[row["task"]], row.get("quality_mean"), row.get("energy_j_mean")
        row["quality_norm"] = q / top if q is not None and top > 0 else None
        if row["quality_norm"] is not None:  # the same scale as the mean: divided by the task's best
            low, high = row.get("quality_ci_low"), row.get("quality_ci_high")
            row["quality_norm_ci_low"] = None if low is None else low / top
            row["quality_norm_ci_high"] = None if high is None else high / top
        row["ratio_per_j"] = (
            row["quality_norm"] / energy if row["quality_norm"] is not None and energy else None
        )
    _rate_groups(groups)
    return groups


def study_of(groups: list[dict[str, Any]], acc: Accumulator) -> Study:
    """The study of rated_groups(): configurations per task and overall, provisional stars."""
    configs = _configs(groups)
    overall = _overall(configs)
    for row in (*groups, *configs, *overall):
        runs = row["runs"] if "runs" in row else row["runs_min"]
        row["stars_provisional"] = row.get("stars") is not None and runs < PROVISIONAL_RUNS
    tasks = sorted({row["task"] for row in groups})
    levels = sorted({row["level"] for row in groups}, key=level_order)
    return Study(
        groups, configs, overall, acc.machines, acc.records, acc.scores, tasks, levels, acc.contention,
        acc.metrics,
    )


_GROUPS_AT_ONCE = 2048  # groups whose statistics become Python floats together (bounds memory)
# One key string per statistic, shared by every row: 20,000 rows of 60 f-strings each cost 70 MB.
_STATISTICS = {
    name: tuple(f"{name}_{statistic}" for statistic in ("n", "ci_method", "mean", "var", "ci_low", "ci_high"))
    for name in FIGURES
}
_PER = 6  # statistics per figure
_METHODS = {n: interval_method(n) for n in range(1, 64)}  # the common sample sizes, looked up once


def _statistic_keys(figures: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The stats.csv keys of a group's figures: per figure its n, its interval's method
    (stats.interval_method(); "none: n = 1" where variance and bounds are empty), mean, variance,
    ci_low, ci_high; the first figure's, then the others' ("runs" goes between)."""
    first, *rest = figures
    return _STATISTICS[first], tuple(k for name in rest for k in _STATISTICS[name])


def _rate_groups(groups: list[dict[str, Any]]) -> None:
    """Per (task, load): stars on the ratio, and the Pareto fronts against energy and latency."""
    by_workload: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in groups:
        by_workload[row["task"], row["load"]].append(row)
    for members in by_workload.values():
        _rate(members, "ratio_per_j", "quality_norm", "energy_j_mean", "latency_s_mean")


def by_boundary(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows by their energy_boundary: what may be ranked on energy together."""
    parts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        parts[row.get("energy_boundary") or ""].append(row)
    return parts


def _rate(rows: list[dict[str, Any]], ratio: str, q: str, energy: str, latency: str) -> None:
    """stars from ``ratio`` and the pareto_energy flag from ``q`` against ``energy``, each within
    one energy boundary; the pareto_latency flag from ``q`` against ``latency``, over all rows."""
    for part in by_boundary(rows).values():
        rated = {i: r[ratio] for i, r in enumerate(part) if r.get(ratio) is not None}
        given = stars(rated)
        for i, row in enumerate(part):
            row["stars"] = given.get(i)
        _front(part, q, energy, "pareto_energy")
    _front(rows, q, latency, "pareto_latency")


def _front(rows: list[dict[str, Any]], q: str, cost: str, flag: str) -> None:
    """Set ``flag`` on the rows on the Pareto front of ``q`` against ``cost``."""
    points = [
        (r[q], r[cost], i) for i, r in enumerate(rows) if r.get(q) is not None and r.get(cost) is not None
    ]
    front = set(pareto_front(points))
    for i, row in enumerate(rows):
        row[flag] = i in front


def _configs(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (system, config, task): means over the task's loads, rated within the task."""
    members: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in groups:
        members[row["system"], row["config"], row["task"]].append(row)
    rows: list[dict[str, Any]] = []
    for (system, config, task), group_rows in members.items():
        q = _mean(r.get("quality_norm") for r in group_rows)
        energy = _mean(r.get("energy_j_mean") for r in group_rows)
        latency = _mean(r.get("latency_s_mean") for r in group_rows)
        rows.append(
            {
                "system": system,
                "config": config,
                "level": group_rows[0]["level"],
                "task": task,
                "quality_norm": q,
                "quality": _mean(r.get("quality_mean") for r in group_rows),
                "energy_j": energy,
                "latency_s": latency,
                "prompt_tokens": _mean(r.get("prompt_tokens_mean") for r in group_rows),
                "completion_tokens": _mean(r.get("completion_tokens_mean") for r in group_rows),
                "tokens_per_j": _mean(r.get("tokens_per_j_mean") for r in group_rows),
                "ratio_per_j": q / energy if q is not None and energy else None,
                "ratio_per_s": q / latency if q is not None and latency else None,
                "runs_min": min(r["runs"] for r in group_rows),
                **_contention(group_rows),
                "energy_boundary": group_rows[0].get("energy_boundary", ""),
            }
        )
        _with_cis(rows[-1], group_rows, _GROUP_CI_KEYS, _GROUP_N_KEYS)
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_task[row["task"]].append(row)
    for task_rows in by_task.values():
        _rate(task_rows, "ratio_per_j", "quality_norm", "energy_j", "latency_s")
        for part in by_boundary(task_rows).values():  # a share of the best within its boundary
            top = max((r["ratio_per_j"] for r in part if r["ratio_per_j"] is not None), default=0.0)
            for row in part:
                ratio = row["ratio_per_j"]
                row["ratio_share"] = ratio / top if ratio is not None and top else None
    return sorted(rows, key=lambda r: (r["task"], r["system"], level_order(r["level"]), r["config"]))


def _contention(members: list[dict[str, Any]]) -> dict[str, bool]:
    """A row made of ``members``: contended only when every member is; partly when some are (a
    configuration whose one task ran beside another job is not a contended configuration)."""
    flags = [bool(r.get("contended_only")) for r in members]
    return {"contended_only": all(flags), "contended_part": any(flags) and not all(flags)}


def _overall(configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (system, config) across tasks; the rating is the mean share of each task's best ratio."""
    members: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in configs:
        members[row["system"], row["config"]].append(row)
    rows = [
        {
            "system": system,
            "config": config,
            "level": task_rows[0]["level"],
            "quality_norm": _mean(r["quality_norm"] for r in task_rows),
            "energy_j": _mean(r["energy_j"] for r in task_rows),
            "latency_s": _mean(r["latency_s"] for r in task_rows),
            "prompt_tokens": _mean(r["prompt_tokens"] for r in task_rows),
            "ratio_share": _mean(r["ratio_share"] for r in task_rows),
            "tasks_rated": sum(r["ratio_share"] is not None for r in task_rows),
            "runs_min": min(r["runs_min"] for r in task_rows),
            **_contention(task_rows),
            "energy_boundary": task_rows[0].get("energy_boundary", ""),
        }
        for (system, config), task_rows in members.items()
    ]
    for row in rows:
        _with_cis(row, members[row["system"], row["config"]], _CONFIG_CI_KEYS)
    _rate(rows, "ratio_share", "quality_norm", "energy_j", "latency_s")
    return sorted(rows, key=lambda r: (r["system"], level_order(r["level"]), r["config"]))
